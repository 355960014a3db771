"""``python -m sspd predict``: pulse and heart rate from one face video.

Example::

    python -m sspd predict face.mp4 --checkpoint runs/study-easy/model_best.pt --out runs/study-easy/face

prints the whole-video and per-window heart rate and, with ``--out``, writes ``bvp.csv``,
``hr.csv`` and ``summary.json`` (:func:`sspd.inference.predict_video`) and ``prediction.png``
(:func:`sspd.plots.prediction_figure`). Without ``--checkpoint`` the network is untrained, a
control whose heart rate means nothing.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from sspd.inference import BOX_MODES, DEFAULT_BACKEND, SSPDMethod, predict_video
from sspd.model.fast import BACKENDS
from sspd.io import atomic_path
from sspd.plots import prediction_figure


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="face video file")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="model_best.pt or model_inference.pt of a training run, a training "
                             "checkpoint.pt, or the authors' ubfc.pth (default: an untrained network, "
                             "a control only)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for bvp.csv, hr.csv, summary.json and prediction.png")
    parser.add_argument("--box", choices=BOX_MODES, default="first",
                        help="face box: first detected frame for the whole video (authors) or tracked")
    parser.add_argument("--window", type=float, default=10.0, help="per-window HR length, s")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default=DEFAULT_BACKEND,
                        help=f"how the network runs (default {DEFAULT_BACKEND}: bf16 + torch.compile; "
                             f"eager = the float32 reference)")


def save_prediction_figure(result: dict, out_dir: Path) -> Path:
    """Write ``prediction.png`` of a :func:`predict_video` result into ``out_dir`` (atomically)."""
    import matplotlib

    matplotlib.use("Agg")  # a command line has no display; notebooks keep their own backend
    path = Path(out_dir) / "prediction.png"
    with atomic_path(path) as tmp:
        prediction_figure(result).savefig(tmp, format="png", dpi=100)
    return path


def run(args: argparse.Namespace) -> int:
    if args.checkpoint is None:
        print("note: no --checkpoint given; using an UNTRAINED network (its HR is meaningless)")
    method = SSPDMethod(args.checkpoint, device=args.device, backend=args.backend)
    res = predict_video(args.video, out_dir=args.out, box=args.box, window_s=args.window, method=method)
    print(f"{res['video']}: {res['n_frames']} frames at {res['fps']:.2f} fps, model {res['model']}")
    print(f"HR (authors' CWT + peak intervals): {res['hr_bpm']:.1f} bpm")
    print(f"HR (periodogram peak):              {res['hr_fft_bpm']:.1f} bpm")
    for w in res["windows"]:
        print(f"  {w['start_s']:7.1f}-{w['end_s']:7.1f} s: {w['hr_bpm']:6.1f} bpm "
              f"(FFT {w['hr_fft_bpm']:6.1f})")
    if res["out_dir"]:
        save_prediction_figure(res, Path(res["out_dir"]))
        print(f"wrote {res['out_dir']}")
    return 0
