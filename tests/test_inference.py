"""Single-video inference (sspd.inference)."""
import json

import numpy as np
import pytest
import torch

from sspd.errors import DataError, NoFaceError
from sspd.inference import SSPDMethod, load_inference_model, predict_video
from sspd.paths import project_root

from conftest import noisy_pulse_frames

REF = project_root().parent / "shared" / "reference"


def test_chunked_equals_whole_video():
    """With running BatchNorm statistics the network is a fixed function: chunks stitch exactly."""
    torch.set_num_threads(2)
    frames = noisy_pulse_frames(121)
    whole = SSPDMethod(None, chunk=None, batchnorm="running", backend="eager")(frames, 30.0)
    assert whole.shape == (120,) and whole.dtype == np.float64
    chunked = SSPDMethod(None, chunk=40, margin=32, batchnorm="running", backend="eager")(frames, 30.0)   # 3 chunks
    scale = np.abs(whole).max()
    assert np.allclose(chunked, whole, rtol=0, atol=1e-4 * scale)
    # the margin matters: too small a margin is visibly wrong at the chunk seams
    short = SSPDMethod(None, chunk=40, margin=4, batchnorm="running", backend="eager")(frames, 30.0)
    assert np.abs(short - whole).max() > 1e-2 * scale


def test_batchnorm_rule_uses_clip_statistics_and_leaves_the_model_as_it_was():
    """The study's rule: each clip normalised by its own statistics, stored statistics untouched."""
    from sspd.inference import set_batchnorm_rule
    from sspd.model import SSPD

    torch.manual_seed(0)
    model = SSPD(s3m=False).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    frames = noisy_pulse_frames(41)
    batch = SSPDMethod(model, chunk=None, backend="eager")(frames, 30.0)
    running = SSPDMethod(model, chunk=None, batchnorm="running", backend="eager")(frames, 30.0)
    assert not np.allclose(batch, running)                      # the rule matters for (0, 1) stats
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert not model.training
    model.train()
    set_batchnorm_rule(model, "batch")
    assert model.BN.training and not model.training and not model.BN.track_running_stats
    with pytest.raises(ValueError, match="batchnorm rule"):
        set_batchnorm_rule(model, "magic")


def test_untrained_is_seeded_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a, name = load_inference_model(None)
    b, _ = load_inference_model(None)
    assert name == "sspd-untrained"
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not a.training


def test_odd_length_output_is_aligned_to_frames():
    y = SSPDMethod(None, chunk=None, backend="eager")(noisy_pulse_frames(30, seed=1), 30.0)  # 29 differences
    assert y.shape == (29,) and y[-1] == y[-2]


def test_loads_training_checkpoint_target_and_plain_state_dict(tmp_path):
    from sspd.model import SSPD, inference_state_dict

    torch.manual_seed(3)
    online, target = SSPD(s3m=True), SSPD(s3m=True)
    torch.save({"online": online.state_dict(), "target": target.state_dict(), "epoch": 1}, tmp_path / "ckpt.pt")
    torch.save(inference_state_dict(target), tmp_path / "model_inference.pt")
    frames = noisy_pulse_frames(41)
    y_ckpt = SSPDMethod(tmp_path / "ckpt.pt", chunk=None, batchnorm="running", backend="eager")(frames, 30.0)
    y_plain = SSPDMethod(tmp_path / "model_inference.pt", chunk=None, batchnorm="running", backend="eager")(frames, 30.0)
    ref = SSPD(s3m=False)
    ref.load_state_dict(inference_state_dict(target))
    with torch.no_grad():
        from sspd.augment import frame_differences
        y_ref = ref.eval()(frame_differences(frames)[None]).rppg[0].numpy()
    np.testing.assert_allclose(y_plain, y_ckpt)
    np.testing.assert_allclose(y_plain, y_ref, rtol=1e-6, atol=1e-7)
    # rgb input with permuted weights == bgr input
    y_rgb = SSPDMethod(tmp_path / "model_inference.pt", chunk=None, colour="rgb",
                       batchnorm="running", backend="eager")(frames[..., ::-1].copy(), 30.0)
    np.testing.assert_allclose(y_rgb, y_plain, rtol=1e-5, atol=1e-6)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="junk.pt"):
        SSPDMethod(tmp_path / "junk.pt")


@pytest.mark.reference
def test_reproduces_official_vector():
    ckpt, vec = REF / "official_ubfc.pth", REF / "official_ubfc_vector.npz"
    if not (ckpt.is_file() and vec.is_file()):
        pytest.skip(f"reference files not found in {REF}")
    z = np.load(vec)
    # the vector was produced in eval mode, i.e. with the released running statistics
    y = SSPDMethod(ckpt, chunk=64, batchnorm="running", backend="eager")(z["frames_bgr"], float(z["fs"]))   # chunked
    np.testing.assert_allclose(y, z["rppg"], atol=1e-4)


# ----------------------------------------------------------------------------- videos


@pytest.fixture(scope="module")
def synthetic_avi(tmp_path_factory):
    from sspd.data.synthetic import render_video
    from sspd.data.video import write_video_lossless

    v = render_video("still", subject=1, seed=0, output="full", duration_s=3.0)
    path = tmp_path_factory.mktemp("video") / "subject1.avi"
    write_video_lossless(path, v.frames, v.fps_nominal)
    return path, v


def test_predict_video_writes_outputs(synthetic_avi, tmp_path):
    path, v = synthetic_avi
    # OpenCV's Haar cascade does not fire on the rendered head: use the renderer's ground-truth box
    box = v.ground_truth["face_boxes"][0]
    res = predict_video(path, out_dir=tmp_path / "pred", box=box, window_s=1.0)
    n = len(v.frames)
    assert res["n_frames"] == n and res["fps"] == pytest.approx(30.0, abs=0.1)
    assert res["bvp"].shape == (n - 1,) and len(res["windows"]) == 2
    out = tmp_path / "pred"
    for name in ("bvp.csv", "hr.csv", "summary.json"):
        assert (out / name).is_file(), name
    from sspd.inference_cli import save_prediction_figure  # the command line adds the figure

    assert save_prediction_figure(res, out) == out / "prediction.png" and (out / "prediction.png").is_file()
    import pandas as pd

    bvp = pd.read_csv(out / "bvp.csv")
    assert list(bvp.columns) == ["timestamp_s", "bvp"] and len(bvp) == n - 1
    assert bvp["timestamp_s"].iloc[0] == pytest.approx(1 / 30.0, abs=1e-3)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "sspd-untrained" and summary["box"] == [int(x) for x in box]
    assert np.isfinite(summary["hr_fft_bpm"]) and 42 <= summary["hr_fft_bpm"] <= 180
    # same crops given directly give the same pulse
    from sspd.data.face import crop_faces

    res2 = predict_video(path, frames_151=crop_faces(v.frames, box, 151), fps=30.0, window_s=1.0)
    np.testing.assert_allclose(res2["bvp"], res["bvp"])


def test_no_face_and_unreadable_video_errors(tmp_path):
    from sspd.data.video import write_video_lossless

    black = tmp_path / "black.avi"
    write_video_lossless(black, np.zeros((12, 120, 160, 3), np.uint8), 30.0)
    with pytest.raises(NoFaceError, match="black.avi"):
        predict_video(black)
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(DataError, match="junk.avi"):
        predict_video(junk)
    with pytest.raises(DataError, match="missing.avi"):
        predict_video(tmp_path / "missing.avi")


def test_predict_cli(synthetic_avi, tmp_path, capsys):
    from sspd.cli import main

    path, _ = synthetic_avi
    rc = main(["predict", str(tmp_path / "nothing.avi")])
    assert rc == 2 and "nothing.avi" in capsys.readouterr().err
