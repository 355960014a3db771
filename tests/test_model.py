"""The SSPD network: parameter counts, shapes, stop-gradient, and fidelity to the released weights."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sspd.errors import DataError
from sspd.model import (S3M, SSPD, TSBlock, count_parameters, inference_state_dict,
                        load_official_checkpoint)

REFERENCE = Path(__file__).resolve().parents[2] / "shared/reference"
CHECKPOINT = REFERENCE / "official_ubfc.pth"
VECTOR = REFERENCE / "official_ubfc_vector.npz"


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)   # the dev machine's 2 cores are shared
    yield
    torch.set_num_threads(old)


def test_parameter_counts():
    assert count_parameters(SSPD(s3m=False)) == 786_079
    assert count_parameters(SSPD()) == 2_954_143
    assert count_parameters(S3M()) == 2_168_064
    assert [count_parameters(TSBlock(k)) for k in (9, 7, 5)] == [853_760, 722_688, 591_616]


def test_state_dict_keys_and_inference_subset():
    full = SSPD()
    inf = inference_state_dict(full)
    assert len(inf) == 67
    assert not any(k.startswith("s3m.") for k in inf)
    assert set(inf) == set(SSPD(s3m=False).state_dict())
    assert "predictor.conv4.bias" in inf and "backbone_step4.BN1.running_var" in inf
    SSPD(s3m=False).load_state_dict(inf, strict=True)


def test_init():
    m = SSPD()
    assert torch.all(m.s3m.blocks[0].q.bias == 0) and torch.all(m.predictor.conv4.bias == 0)
    assert torch.all(m.BN.weight == 1) and torch.all(m.s3m.blocks[1].norm.weight == 1)
    w = m.backbone_step4.Conv_Layer1.weight           # xavier normal: std = sqrt(2/(fan_in+fan_out))
    fan = (64 + 256) * 27
    assert w.std().item() == pytest.approx((2 / fan) ** 0.5, rel=0.05)


def test_s3m_token_lengths_t300():
    z0 = torch.randn(1, 256, 300)
    with torch.no_grad():
        tokens = S3M()(z0)
    assert [tuple(h.shape) for h in tokens] == [(1, 292, 256), (1, 286, 256), (1, 282, 256)]
    assert all(h.abs().max() <= 1 for h in tokens)  # tanh outputs


def test_tsblock_attention_and_residual():
    """H = tanh(proj(concat_h (Q_h K_h^T / N) V_h)); residual = nearest input + H^T."""
    torch.manual_seed(0)
    blk = TSBlock(3, dim=8, heads=2).double()
    z = torch.randn(2, 8, 11, dtype=torch.float64)
    h, z_next = blk(z)
    e = blk.norm(torch.nn.functional.conv1d(z, blk.tokenizer.weight, blk.tokenizer.bias).transpose(1, 2))
    n = e.shape[1]
    q, k, v = blk.q(e), blk.k(e), blk.v(e)
    heads = [(q[..., s] @ k[..., s].transpose(1, 2) / n) @ v[..., s] for s in (slice(0, 4), slice(4, 8))]
    ref = torch.tanh(blk.proj(torch.cat(heads, -1)))
    torch.testing.assert_close(h, ref)
    idx = [int(i * 11 // 9) for i in range(9)]
    torch.testing.assert_close(z_next, z[:, :, idx] + ref.transpose(1, 2))


@pytest.mark.parametrize("t", [20, 21])
def test_forward_shapes_even_and_odd_t(t):
    m = SSPD()
    with torch.no_grad():
        out = m(torch.randn(1, 3, t, 128, 128))
        bare = m(torch.randn(1, 3, t, 128, 128), with_s3m=False)
    assert out.rppg.shape == (1, 2 * (t // 2))       # odd T -> T-1 samples
    assert out.z0.shape == (1, 256, t)
    assert [h.shape[1] for h in out.tokens] == [t - 8, t - 14, t - 18]
    assert bare.tokens == [] and SSPD(s3m=False)(torch.zeros(1, 3, 4, 128, 128)).tokens == []


def test_predictor_input_is_detached():
    m = SSPD(s3m=False)
    out = m(torch.randn(1, 3, 8, 128, 128))
    (out.rppg ** 2).mean().backward()
    assert m.backbone_step1.Conv_Layer1.weight.grad is None
    assert m.BN.weight.grad is None
    assert m.predictor.conv1.weight.grad.abs().sum() > 0


def test_bad_input_raises():
    with pytest.raises(ValueError):
        SSPD(s3m=False)(torch.zeros(1, 1, 8, 128, 128))


def test_checkpoint_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(DataError, match="nope.pth"):
        load_official_checkpoint(missing)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="garbage.pth"):
        load_official_checkpoint(garbage)
    sd = inference_state_dict(SSPD(s3m=False))
    bad = dict(sd)
    del bad["predictor.conv4.bias"]
    bad["extra.weight"] = torch.zeros(1)
    bad["BN.weight"] = torch.zeros(4)
    path = tmp_path / "bad.pth"
    torch.save(bad, path)
    with pytest.raises(DataError, match=r"bad\.pth.*missing.*conv4\.bias.*unexpected.*extra.*shape.*BN\.weight"):
        load_official_checkpoint(path)


def test_checkpoint_roundtrip_and_rgb(tmp_path):
    torch.manual_seed(0)
    src = SSPD(s3m=False)
    for mod in src.modules():               # non-trivial BN statistics
        if isinstance(mod, torch.nn.BatchNorm3d):
            mod.running_mean.normal_()
            mod.running_var.uniform_(0.5, 2)
    path = tmp_path / "mine.pth"
    torch.save({"module." + k: v for k, v in src.state_dict().items()}, path)  # DataParallel prefix
    x = torch.randn(1, 3, 6, 128, 128) * 3
    with torch.no_grad():
        ref = src.eval()(x).rppg
        bgr = load_official_checkpoint(path)(x).rppg
        rgb = load_official_checkpoint(path, colour="rgb")(x.flip(1)).rppg
        full = load_official_checkpoint(path, model=SSPD())   # training model keeps its S3M
        assert full.s3m is not None
        torch.testing.assert_close(full(x, with_s3m=False).rppg, ref)
    torch.testing.assert_close(bgr, ref)
    torch.testing.assert_close(rgb, ref)


# ----------------------------------------------------------------------------
# fidelity to the authors' released model (needs ../shared/reference/official_ubfc.pth)


@pytest.mark.reference
def test_official_checkpoint_loads_strictly():
    if not CHECKPOINT.is_file():
        pytest.skip(f"reference checkpoint not found at {CHECKPOINT}")
    state = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    assert len(state) == 67
    SSPD(s3m=False).load_state_dict(state, strict=True)
    assert count_parameters(load_official_checkpoint(CHECKPOINT)) == 786_079


@pytest.mark.reference
def test_official_fidelity_vector():
    if not (CHECKPOINT.is_file() and VECTOR.is_file()):
        pytest.skip(f"reference checkpoint/vector not found under {REFERENCE}")
    data = np.load(VECTOR)
    frames, expected = data["frames_bgr"], data["rppg"]
    assert frames.shape == (161, 128, 128, 3) and expected.shape == (160,)
    diff = np.diff(frames.astype(np.float32), axis=0)                       # (160,128,128,3)
    x = torch.from_numpy(diff).permute(3, 0, 1, 2)[None].contiguous()        # (1,3,160,128,128)
    tol = 1e-4 * np.abs(expected).max()
    with torch.no_grad():
        torch.set_num_threads(2)
        y_bgr = load_official_checkpoint(CHECKPOINT)(x).rppg[0].numpy()
        assert np.abs(y_bgr - expected).max() <= tol
        y_rgb = load_official_checkpoint(CHECKPOINT, colour="rgb")(x.flip(1)).rppg[0].numpy()
    assert np.abs(y_rgb - expected).max() <= tol
