"""The authors' released UBFC-rPPG checkpoint on the synthetic `still` test split (a domain check).

Reads ../shared/reference/official_ubfc.pth (never copied into the repository) and evaluates it, beside POS and
a label-free model trained here (``--checkpoint``), with the project's evaluation runner. It answers one
question: can this architecture, with weights trained on real faces, read the pulse of our synthetic faces?
Results go to a temporary folder and are printed; nothing is committed. All numbers are synthetic.

    python benchmarks/bench_official_on_synthetic.py [--checkpoint data/results/training/study-easy-full/model_best.pt]
"""
import argparse
import json
import tempfile
from pathlib import Path

from sspd.data.splits import dataset_entries
from sspd.evaluate.methods import get_method
from sspd.evaluate.runner import evaluate, metrics_row

OFFICIAL = Path(__file__).resolve().parents[2] / "shared" / "reference" / "official_ubfc.pth"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="a model trained here, for comparison")
    parser.add_argument("--protocols", nargs="+", default=["windowed", "authors"])
    args = parser.parse_args()
    if not OFFICIAL.is_file():
        print(f"skipped: {OFFICIAL} is absent")
        return 0
    entries, _ = dataset_entries("still", "test", progress=False)
    methods = {"official-ubfc (BGR)": get_method("sspd", checkpoint=str(OFFICIAL)), "pos": get_method("pos")}
    if args.checkpoint:
        methods["trained here"] = get_method("sspd", checkpoint=args.checkpoint)
    print(f"synthetic still, test split: {len(entries)} videos")
    with tempfile.TemporaryDirectory() as tmp:
        for protocol in args.protocols:
            for name, method in methods.items():
                out = Path(tmp) / f"{len(name)}-{protocol}"
                table = evaluate(method, entries, protocol, out, method_name=name, dataset_name="still",
                                 progress=False, n_boot=200)
                level = "window" if protocol == "windowed" else "video"
                m = metrics_row(table.attrs["summary"], level)
                print(f"{protocol:9s} {name:22s} MAE {m['MAE']:6.2f}  RMSE {m['RMSE']:6.2f}  r {m['r']:.3f}  ({level}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
