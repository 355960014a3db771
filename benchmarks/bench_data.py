"""Data-pipeline throughput on one CPU core.

Prints, in one run:
  (a) synthetic generator frames/s for ``output="crop"`` (151x151) and ``output="full"``;
  (b) preprocessing frames/s on full frames: Haar face detection per frame (what
      ``--box tracked`` pays), crop + resize + atomic cache write (``--box gt``/``first``
      after the one detection), and both together;
  (c) the crop rate against the project goal of >= 150 frames/s.

Usage::

    python benchmarks/bench_data.py [--preset still] [--seconds 10] [--skip-generator]

``--skip-generator`` measures (b) on drawn cartoon faces (which the Haar cascade
detects) when the generator is not available; without it a missing generator is an error.
"""
from __future__ import annotations

import os

# one core: must be set before numpy / torch / OpenCV start their thread pools
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

GOAL_CROP_FPS = 150.0


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def _cartoon_frames(n: int, h: int = 480, w: int = 640) -> np.ndarray:
    """Full frames with a drawn face that moves slowly (detectable by the Haar cascade)."""
    from sspd.data.toy import drawn_face

    rng = np.random.default_rng(0)
    frames = np.empty((n, h, w, 3), np.uint8)
    for k in range(n):
        img = drawn_face(h, w, dx=int(10 * np.sin(k / 20)), scale=1.5)
        frames[k] = np.clip(img.astype(np.int16) + rng.integers(-2, 3, img.shape), 0, 255).astype(np.uint8)
    return frames


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="still")
    p.add_argument("--subject", default=0)
    p.add_argument("--seconds", type=float, default=10.0, help="duration of each rendered video, s")
    p.add_argument("--skip-generator", action="store_true",
                   help="if the generator is missing, benchmark preprocessing on drawn faces instead")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    from sspd.data.cache import ClipCache, PreprocessConfig
    from sspd.data.face import FaceDetector, crop_faces, enlarge_box
    from sspd.data.recording import Recording
    from sspd.io import hardware

    print(f"machine: {hardware()}; threads: torch {torch.get_num_threads()}, OpenCV {cv2.getNumThreads()}")

    # (a) generator
    crop_fps = None
    full_rec = None
    try:
        from sspd.data.synthetic import render_video
    except ImportError as err:
        if not args.skip_generator:
            print(f"error: the synthetic generator is not importable ({err}); "
                  f"sspd.data.synthetic.render_video is needed (or pass --skip-generator)", file=sys.stderr)
            return 2
        print(f"(a) generator: not available ({err}); skipped")
    else:
        for output in ("crop", "full"):
            video, dt = _timed(render_video, args.preset, args.subject, seed=0, output=output,
                               duration_s=args.seconds)
            rec = video.to_recording()
            rate = rec.n_frames / dt
            print(f"(a) generator preset={args.preset} output={output}: {rec.n_frames} frames of "
                  f"{rec.frames.shape[2]}x{rec.frames.shape[1]} in {dt:.2f} s -> {rate:.1f} frames/s")
            if output == "crop":
                crop_fps = rate
            else:
                full_rec = rec

    # (b) preprocessing on full frames
    if full_rec is None:
        n = int(round(args.seconds * 30))
        frames = _cartoon_frames(n)
        det0 = FaceDetector().detect(frames[0])
        boxes = np.tile(det0 if det0 is not None else [120, 360, 220, 420], (n, 1))
        full_rec = Recording(frames=frames, timestamps=np.arange(n) / 30.0, fps_nominal=30.0,
                             dataset="bench", subject="cartoon", face_boxes=boxes)
        print(f"(b) input: {n} drawn-face frames {frames.shape[2]}x{frames.shape[1]} (generator not used)")
    else:
        print(f"(b) input: the generator's full frames ({full_rec.n_frames} x "
              f"{full_rec.frames.shape[2]}x{full_rec.frames.shape[1]})")
    frames = full_rec.frames
    n = len(frames)
    det = FaceDetector()
    hits = 0
    t0 = time.perf_counter()
    for f in frames:
        hits += det.detect(f) is not None
    det_dt = time.perf_counter() - t0
    det_fps = n / det_dt
    print(f"(b) Haar detection: {det_fps:.1f} frames/s ({det_dt / n * 1e3:.1f} ms/frame); "
          f"face found in {hits}/{n} frames")

    box = enlarge_box(full_rec.face_boxes[0], frames.shape[1:]) if full_rec.face_boxes is not None \
        else np.array([0, frames.shape[1], 0, frames.shape[2]])
    _, crop_dt = _timed(crop_faces, frames, box)
    print(f"(b) crop + bilinear resize to 151x151: {n / crop_dt:.1f} frames/s")
    # the first run manifest imports every library it reports (seconds, once per process): warm it up
    from sspd.io import manifest

    manifest(None)
    with tempfile.TemporaryDirectory() as tmp:
        if full_rec.face_boxes is not None:
            entry, build_dt = _timed(ClipCache(tmp).build, full_rec, PreprocessConfig(box_mode="gt"))
            print(f"(b) crop + cache write (--box gt, includes source hashing and manifest): "
                  f"{n / build_dt:.1f} frames/s")
        if hits:
            entry, build_dt = _timed(ClipCache(tmp).build, full_rec, PreprocessConfig(box_mode="tracked"),
                                     detector=det)
            print(f"(b) detection + crop + cache write (--box tracked): {n / build_dt:.1f} frames/s")
            entry, build_dt = _timed(ClipCache(tmp).build, full_rec, PreprocessConfig(box_mode="first"),
                                     detector=det)
            print(f"(b) first-frame detection + crop + cache write (--box first): {n / build_dt:.1f} frames/s")
        else:
            print("(b) the Haar cascade finds no face in these frames: --box first/tracked would raise "
                  "NoFaceError; synthetic full frames need --box gt")

    # (c) goal
    if crop_fps is not None:
        print(f"(c) generator crop rate {crop_fps:.1f} frames/s vs goal {GOAL_CROP_FPS:.0f} frames/s: "
              f"ratio {crop_fps / GOAL_CROP_FPS:.2f} ({'meets' if crop_fps >= GOAL_CROP_FPS else 'misses'} the goal)")
    else:
        print(f"(c) goal {GOAL_CROP_FPS:.0f} frames/s (crop): not measured (no generator)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
