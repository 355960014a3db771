"""What makes label-free training learn: one change at a time, judged on validation subjects.

Each :class:`Experiment` is the ``study`` recipe shortened to :data:`EXPERIMENT_STEPS` optimiser
steps by default (the first study runs did most of their learning in the first 10-20 steps), validated every
:data:`EXPERIMENT_VAL_EVERY` steps, with one change. Experiments read only the training subjects:
the network trains on the fit subjects and is scored on the validation fold carved from them; the
test subjects stay unread, for the runs that use the chosen recipe.

``python -m sspd experiments`` trains every experiment not yet published (resuming an interrupted
one) and publishes its logs, without weights, into ``data/results/training/experiments/<name>``;
the training chapter reads them with :func:`sspd.train.report.experiments_table`.

Examples::

    python -m sspd experiments --status
    python -m sspd experiments easy-batch2 easy-batch6
    python -m sspd experiments            # every pending experiment, in the order listed
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from sspd.train.config import TrainConfig

__all__ = ["Experiment", "EXPERIMENTS", "EXPERIMENT_STEPS", "EXPERIMENT_VAL_EVERY", "experiment_config",
           "run_experiment"]

EXPERIMENT_STEPS = 20
EXPERIMENT_VAL_EVERY = 5
RESULTS_DIR = Path("data/results/training/experiments")
RUNS_DIR = Path("runs/experiments")
EASY_TEACHER = "data/results/training/study-easy-full/model_target_s3m.pt"


@dataclass(frozen=True)
class Experiment:
    """One change to the study recipe and the question it answers."""

    name: str
    question: str
    data: str = "easy-full"
    overrides: tuple[str, ...] = ()
    variant: tuple[str, str] | None = None   # (factor, level): `data` re-rendered with it

    @property
    def train_data(self) -> str:
        """What the run trains on: the preset, or its variant's clip cache (sspd.evaluate.variants)."""
        if self.variant is None:
            return self.data
        from sspd.evaluate.variants import VARIANTS_DIR, variant_name

        return str(VARIANTS_DIR / variant_name(*self.variant) / self.data)


# In the order they run (the still-full questions first: that is where the criteria fail); each
# easy-full experiment compares with "easy-base", each still-full one with "still-base".
EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment("still-base", "the study recipe on still-full", data="still-full"),
    Experiment("still-curriculum", "curriculum: start still-full training from the easy-full teacher",
               data="still-full", overrides=(f"init_from={EASY_TEACHER}",)),
    Experiment("still-screen-off", "is the in-band screen light what still-full's network locks on to? "
               "the same subjects re-rendered with the screen light's fluctuation off", data="still-full",
               variant=("screen_light", "0")),
    Experiment("still-strong-pulse", "is the weak pulse the wall? the same subjects re-rendered with every "
               "pulse at 1 % peak-to-peak green (still: 0.12-0.45 %, easy: 0.5-1.5 %)", data="still-full",
               variant=("pulse_amplitude", "1.0")),
    Experiment("easy-base", "the study recipe: effective batch 12, lr 1e-3, T = 160"),
    Experiment("easy-batch2", "does a small batch learn? effective batch 2 (no accumulation)",
               overrides=("accum_steps=1",)),
    Experiment("easy-batch6", "effective batch 6 (3 micro-batches of 2)", overrides=("accum_steps=3",)),
    Experiment("easy-wfreq0.05", "does a weaker frequency prior let low heart rates win? w_freq 0.2 -> 0.05",
               overrides=("loss.w_freq=0.05",)),
    Experiment("easy-lr3e-4", "a lower learning rate: 3e-4", overrides=("lr=0.0003",)),
    Experiment("still-batch2-long", "batch 2 at still-base's compute: 120 steps of 2 clips = 20 steps of 12",
               data="still-full", overrides=("accum_steps=1", "max_steps=120", "val_every=20")),
    Experiment("easy-batch2-long", "the same budget-matched small-batch recipe on easy-full",
               overrides=("accum_steps=1", "max_steps=120", "val_every=20")),
    Experiment("easy-wreg300", "L_reg weighted as at T = 300 (reg_reference_n = 300)",
               overrides=("loss.reg_reference_n=300",)),
    Experiment("easy-topleft", "the released code's top-left crop instead of a random crop",
               overrides=("augment.crop=topleft",)),
    Experiment("easy-lr3e-3", "a higher learning rate: 3e-3", overrides=("lr=0.003",)),
    Experiment("easy-T300", "the paper's clip length: T = 300 (finer band bins, more beats per clip)",
               overrides=("T=300",)),
    Experiment("still-noise-off", "is sensor noise the wall? frame differences amplify white noise against the "
               "pulse; the same subjects re-rendered with shot, read and PRNU noise off (the realism chapter "
               "switches the same noise off for the classic methods and the peers)",
               data="still-full", variant=("sensor_noise", "0")),
)


def experiment_config(experiment: Experiment) -> TrainConfig:
    """The study recipe at the experiments' budget, with the experiment's change."""
    config = TrainConfig.from_recipe("study", data=experiment.train_data, max_steps=EXPERIMENT_STEPS,
                                     val_every=EXPERIMENT_VAL_EVERY)
    return config.with_overrides(list(experiment.overrides)) if experiment.overrides else config


def run_experiment(experiment: Experiment, runs_dir: Path = RUNS_DIR, results_dir: Path = RESULTS_DIR,
                   progress: bool = False) -> Path:
    """Train (or resume) one experiment and publish its logs; returns the published folder."""
    from sspd.train.loop import train
    from sspd.train.report import publish_run

    run_dir = Path(runs_dir) / experiment.name
    if experiment.variant is not None:
        from sspd.evaluate.variants import variant_dataset

        variant_dataset(experiment.data, *experiment.variant, progress=progress)
    train(experiment_config(experiment), run_dir, resume=True, progress=progress)
    return publish_run(run_dir, Path(results_dir) / experiment.name, weights=False)


def _status(experiment: Experiment, runs_dir: Path, results_dir: Path) -> str:
    if (Path(results_dir) / experiment.name).is_dir():
        return "done"
    log = Path(runs_dir) / experiment.name / "train_log.csv"
    if log.is_file() and log.stat().st_size:
        return f"started ({len(log.read_text().splitlines()) - 1}/{experiment_config(experiment).max_steps} steps)"
    return "pending"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    names = [e.name for e in EXPERIMENTS]
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"experiments to run (default: every pending one): {', '.join(names)}")
    parser.add_argument("--status", action="store_true", help="one line per experiment, then exit")
    parser.add_argument("--runs-dir", type=Path, default=RUNS_DIR, help="working run folders (checkpoints)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="published logs")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    unknown = sorted(set(args.names) - {e.name for e in EXPERIMENTS})
    if unknown:
        raise SystemExit(f"unknown experiments {unknown}; choose from {[e.name for e in EXPERIMENTS]}")
    chosen = [e for e in EXPERIMENTS if not args.names or e.name in args.names]
    for e in chosen:
        state = _status(e, args.runs_dir, args.results_dir)
        if args.status:
            change = ", ".join([*e.overrides, *([f"data variant {'='.join(e.variant)}"] if e.variant else [])])
            change = change or "(none)"
            print(f"{e.name:18s} {state:22s} {e.data:11s} {change}")
        elif state != "done":
            print(f"{e.name}: {e.question}", flush=True)
            print(f"  published: {run_experiment(e, args.runs_dir, args.results_dir, not args.quiet)}", flush=True)
    return 0
