"""The study grid: every run of the ablation and cross-dataset tables, declared in this one file.

A *run* is one network trained with one configuration and seed, then scored on its test sets; a
*reference* is a method that needs no training (POS, CHROM, GREEN, the authors' released
weights) scored on one test set. Both are :class:`RunSpec` items of a :class:`Grid`, each named
by :func:`run_id`, a hash of what defines it, so a result folder can never be mistaken for
another configuration's.

The grid (``build_grid()`` with its defaults):

- **ablations**: every :data:`VARIANTS` entry trained on :data:`ABLATION_DATA` (its validation
  fold carved from the training subjects) and tested on that dataset's test split; the full
  model with 3 seeds, every other variant with 2;
- **cross-dataset**: the full model trained on each of :data:`CROSS_SETS` (2 seeds each) and
  tested on every one of them (intra-dataset on the diagonal);
- **references**: :data:`REFERENCE_METHODS` on every test set, and the authors' released
  weights (:data:`OFFICIAL_WEIGHTS`) when that file exists.

Each variant is a list of ``key=value`` overrides of the training recipe (``study`` by default;
``paper`` on a GPU), applied with :meth:`TrainConfig.with_overrides`; ``s3m_kernels=[9, 7, 5]``
(depth 3) *is* the full model and is not trained twice.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["Variant", "VARIANTS", "ABLATION_DATA", "CROSS_SETS", "CROSS_SEEDS", "REFERENCE_METHODS", "PEER_METHODS",
           "OFFICIAL_WEIGHTS", "RECIPE", "PROTOCOLS", "COMMON_OVERRIDES", "RunSpec", "Grid",
           "build_grid", "run_id", "dataset_key", "split_digest"]

RECIPE = "study"                      # the 2-core CPU recipe; "paper" on a GPU
ABLATION_DATA = "easy-full"           # training and test data of the ablations
CROSS_SETS = ("still-full", "motion-full", "hard-full")   # trained on each, tested on all
CROSS_SEEDS = (0, 1)
REFERENCE_METHODS = ("pos", "chrom", "green")            # classic rows: no training
# Pretrained peers (open-rppg, supervised on real PURE or RLAP videos): reference rows too. Each
# architecture the package ships is here except the three slowest on the CPU (PhysFormer,
# RhythmMamba, PhysMamba: 16-207 ms per frame against 2-11 ms, data/results/efficiency), which
# ``build_grid(peers=...)`` can add.
PEER_METHODS = ("orppg:PhysNet.pure", "orppg:PhysNet.rlap", "orppg:TSCAN.pure", "orppg:TSCAN.rlap",
                "orppg:EfficientPhys.pure", "orppg:ME-chunk.pure", "orppg:FacePhys.rlap")
OFFICIAL_WEIGHTS = "../shared/reference/official_ubfc.pth"   # relative to the project root; never copied
PROTOCOLS = ("windowed",)             # how every network and reference is scored
COMMON_OVERRIDES: tuple[str, ...] = ()   # applied to every training run (part of its id)


@dataclass(frozen=True)
class Variant:
    """One ablation: a name, a label for tables, what it changes, and its seeds."""

    name: str
    label: str
    description: str
    overrides: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0, 1)


VARIANTS: tuple[Variant, ...] = (
    Variant("full", "full model", "every component on; S3M depth 3 (kernels 9, 7, 5)", (), (0, 1, 2)),
    Variant("no-lga", "without LGA", "the student sees the teacher's global view (whole frame "
            "resized), with its own flips and mask, instead of a native-scale crop",
            ("augment.student_view=global",)),
    Variant("no-mdm", "without MDM", "no mask on the student's differences (keep = 1)",
            ("augment.mask_keep=1.0",)),
    Variant("no-tspd", "without TSPD", "no map/wave distillation term", ("loss.use_tspd=false",)),
    Variant("tspd-maps", "TSPD on maps only", "TSPD distils the self-similarity maps, not the waves",
            ("loss.tspd_wave=false",)),
    Variant("tspd-waves", "TSPD on waves only", "TSPD distils the self-similarity waves, not the maps",
            ("loss.tspd_map=false",)),
    Variant("no-reg", "without L_reg", "no diagonal (Toeplitz) regulariser", ("loss.use_reg=false",)),
    Variant("no-freq", "without L_freq", "no frequency prior on the waves", ("loss.use_freq=false",)),
    Variant("s3m-depth1", "S3M depth 1", "one TS block (kernel 9)", ("s3m_kernels=[9]",)),
    Variant("s3m-depth2", "S3M depth 2", "two TS blocks (kernels 9, 7)", ("s3m_kernels=[9,7]",)),
    Variant("topleft-crop", "top-left crop", "the released code's crop, always [0:128, 0:128]",
            ("augment.crop=topleft",)),
)


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def run_id(identity: dict) -> str:
    """12 hex digits of the sha256 of ``identity`` as canonical JSON (the same in every session)."""
    return hashlib.sha256(_canonical(identity).encode()).hexdigest()[:12]


def dataset_key(dataset: str | Path) -> str:
    """How a dataset is named in configs and ids: a preset name, or a cache folder's name when it
    lies in ``data/cache`` (found from any working directory), else its absolute path."""
    from sspd.data.synthetic.presets import PRESETS
    from sspd.paths import cache_dir

    key = str(dataset)
    if key in PRESETS:
        return key
    path = Path(dataset).expanduser()
    if path.is_dir():
        path = path.resolve()
        return path.name if path.parent == cache_dir().resolve() else str(path)
    return key


def split_digest(split_file: str | Path | None) -> str | None:
    """sha256 of a split file's subject lists (train, test, val), or None without a file."""
    if split_file is None:
        return None
    from sspd.data.splits import load_split

    path = Path(split_file)
    split = load_split(path.stem, path.parent)
    lists = {k: split[k] for k in ("train", "test", "val") if k in split}
    return hashlib.sha256(_canonical(lists).encode()).hexdigest()


@dataclass(frozen=True, eq=False)
class RunSpec:
    """One item of the grid.

    kind:       "train" (a network trained then tested) or "reference" (scored only).
    group:      "ablation", "cross" or "reference".
    variant:    the :class:`Variant` name, or the reference method's name.
    seed:       training seed (None for references).
    train_set:  the training dataset ("-" for classic methods, "ubfc (authors)" for the released
                weights).
    test_sets:  datasets whose test split it is scored on.
    config:     ``TrainConfig.to_dict()`` of a training run; the method's settings of a reference.
    split_files: explicit split files, as (dataset, path) pairs, for datasets that are not read
                through data/splits/<name>.json.
    weights:    path of the reference weights (not part of the id).
    """

    kind: str
    group: str
    variant: str
    seed: int | None
    train_set: str
    test_sets: tuple[str, ...]
    config: dict
    split_files: tuple[tuple[str, str], ...] = ()
    weights: str | None = None
    label: str = ""

    def split_file_of(self, dataset: str) -> str | None:
        """The explicit split file to read ``dataset`` with (None: its own split file)."""
        return dict(self.split_files).get(dataset)

    @property
    def identity(self) -> dict:
        """What defines the item (hashed into its id): the resolved config, the test sets and
        the subject lists of an explicit split file."""
        return {"kind": self.kind, "config": self.config, "test_sets": list(self.test_sets),
                "split_files": {d: split_digest(f) for d, f in self.split_files}}

    @property
    def id(self) -> str:
        return run_id(self.identity)

    def train_config(self):
        from sspd.train.config import TrainConfig

        if self.kind != "train":
            raise ValueError(f"{self.variant} is a reference, not a training run")
        return TrainConfig.from_dict(json.loads(json.dumps(self.config)))

    def describe(self) -> dict:
        return {"id": self.id, "kind": self.kind, "group": self.group, "variant": self.variant,
                "label": self.label or self.variant, "seed": self.seed, "train_set": self.train_set,
                "test_sets": list(self.test_sets), "split_files": dict(self.split_files)}


@dataclass
class Grid:
    """The plan: every item, and the protocols each is scored with."""

    runs: list[RunSpec]
    protocols: tuple[str, ...] = PROTOCOLS
    settings: dict = field(default_factory=dict)

    def __post_init__(self):
        ids = [r.id for r in self.runs]
        if len(set(ids)) != len(ids):
            raise ValueError("two items of the grid have the same id (the same configuration twice)")

    def __iter__(self):
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    def select(self, groups: Iterable[str] | None = None, ids: Iterable[str] | None = None) -> list[RunSpec]:
        groups = None if groups is None else set(groups)
        ids = None if ids is None else list(ids)
        return [r for r in self.runs if (groups is None or r.group in groups)
                and (ids is None or any(r.id.startswith(i) for i in ids))]


def _splits_of(datasets: Iterable[str], split_files: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((d, split_files[d]) for d in dict.fromkeys(datasets) if d in split_files)


def _training_run(group: str, variant: Variant, seed: int, data: str, test_sets: Sequence[str],
                  recipe: str, overrides: Sequence[str], split_files: dict[str, str]) -> RunSpec:
    from sspd.train.config import TrainConfig

    config = TrainConfig.from_recipe(recipe, data=data, seed=seed)
    assignments = [*variant.overrides, *overrides]
    if assignments:
        config = config.with_overrides(assignments)
    return RunSpec("train", group, variant.name, seed, data, tuple(test_sets), config.to_dict(),
                   split_files=_splits_of([data, *test_sets], split_files), label=variant.label)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _reference_config(method: str) -> dict:
    """What defines a reference method: its name, and for a peer the package release whose
    weights it runs (a new release is a new item)."""
    from sspd.evaluate.peers import is_peer_name

    if is_peer_name(method):
        from importlib.metadata import version

        return {"method": method, "package": f"open-rppg=={version('open-rppg')}"}
    return {"method": method}


def _reference_label(method: str) -> str:
    """``pos`` -> ``POS``; ``orppg:PhysNet.pure`` -> ``PhysNet (PURE-trained)``."""
    from sspd.evaluate.peers import is_peer_name

    if is_peer_name(method):
        arch, _, trained_on = method.split(":", 1)[1].rpartition(".")
        return f"{arch} ({trained_on.upper()}-trained)"
    return method.upper()


def reference_specs(methods: Sequence[str], test_sets: Sequence[str],
                    official_weights: str | Path | None = None,
                    split_files: dict[str, str] | None = None) -> list[RunSpec]:
    """Reference items: each classic method, and the released weights when the file exists, on
    each test set (one item per method and test set; ``split_files``: {dataset: split file})."""
    specs = []
    for test in test_sets:
        split = {"split_files": _splits_of([test], split_files or {})}
        for m in methods:
            specs.append(RunSpec("reference", "reference", m, None, "-", (test,), _reference_config(m),
                                 label=_reference_label(m), **split))
        if official_weights is not None and Path(official_weights).is_file():
            path = Path(official_weights)
            specs.append(RunSpec("reference", "reference", "official", None, "ubfc (authors)", (test,),
                                 {"method": "sspd", "weights": path.name, "colour": "bgr",
                                  "weights_sha256": _file_sha256(path)},
                                 weights=str(path), label="SSPD, authors' UBFC weights", **split))
    return specs


def available_peers(peers: Sequence[str]) -> list[str]:
    """The ``peers`` the installed open-rppg provides (with their weights), in the given order."""
    if not peers:
        return []
    from sspd.evaluate.peers import PEER_NAMES

    known = set(PEER_NAMES)
    return [p for p in peers if p in known]


def build_grid(data: str | Path = ABLATION_DATA, cross_sets: Sequence[str] | None = CROSS_SETS,
               recipe: str = RECIPE, device: str | None = None, split_file: str | Path | None = None,
               split_files: dict | None = None, overrides: Sequence[str] = COMMON_OVERRIDES, variants: Sequence[str] | None = None,
               seeds: Sequence[int] | None = None, cross_seeds: Sequence[int] = CROSS_SEEDS,
               references: Sequence[str] = REFERENCE_METHODS, peers: Sequence[str] = PEER_METHODS,
               official_weights: str | Path | None = "default",
               protocols: Sequence[str] = PROTOCOLS) -> Grid:
    """The study's plan.

    data:             training and test data of the ablations (a preset, or a clip-cache folder,
                      e.g. a real dataset preprocessed with ``python -m sspd preprocess``).
    cross_sets:       datasets of the cross-dataset matrix (None or () = no cross-dataset runs).
    recipe:           training recipe ("study" on the CPU, "paper" on a GPU, "smoke" for tests).
    device:           override every run's device ("cuda", "cpu"); None = the recipe's.
    split_file:       an explicit split file for ``data`` (default: data/splits/<name>.json).
    split_files:      explicit split files of other datasets, {dataset: path}.
    overrides:        ``key=value`` settings applied to every training run (they change the ids).
    variants:         names of :data:`VARIANTS` to include (None = all).
    seeds:            seeds of every ablation variant (None = each variant's own).
    references:       classic methods scored on every test set.
    peers:            pretrained peers (``orppg:...``) scored on every test set; those the
                      installed open-rppg does not provide are left out.
    official_weights: the authors' released weights ("default" = :data:`OFFICIAL_WEIGHTS` under
                      the project root; None = none); skipped when the file does not exist.
    protocols:        evaluation protocols of every item.
    """
    from sspd.paths import project_root

    data = dataset_key(data)
    files = {dataset_key(d): f for d, f in (split_files or {}).items() if f is not None}
    if split_file is not None:
        files[data] = split_file
    files = {d: str(Path(f).expanduser().resolve()) for d, f in files.items()}
    common = [*overrides, *([f"device={device}"] if device else [])]
    chosen = VARIANTS if variants is None else [v for v in VARIANTS if v.name in set(variants)]
    if variants is not None and len(chosen) != len(set(variants)):
        unknown = sorted(set(variants) - {v.name for v in VARIANTS})
        raise ValueError(f"unknown variants {unknown}; known: {[v.name for v in VARIANTS]}")
    runs = [_training_run("ablation", v, s, data, (data,), recipe, common, files)
            for v in chosen for s in (v.seeds if seeds is None else seeds)]
    cross = [dataset_key(c) for c in (cross_sets or ())]
    full = next(v for v in VARIANTS if v.name == "full")
    runs += [_training_run("cross", full, s, c, tuple(cross), recipe, common, files)
             for c in cross for s in cross_seeds]
    if official_weights == "default":
        official_weights = project_root() / OFFICIAL_WEIGHTS
    tests = list(dict.fromkeys([data, *cross]))
    runs += reference_specs([*references, *available_peers(peers)], tests, official_weights, files)
    runs = list({r.id: r for r in reversed(runs)}.values())[::-1]   # one item per id (the first)
    settings = {"data": data, "cross_sets": cross, "recipe": recipe, "device": device,
                "split_files": files, "overrides": list(overrides)}
    return Grid(runs, tuple(protocols), settings)
