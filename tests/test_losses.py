"""Self-similarity maps/waves and the SSPD losses against naive reference formulas."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sspd.losses import (LossConfig, band_bins, diagonal_regulariser, neg_pearson, pearson,
                         rpd_loss, sspd_loss, tspd_loss, wave_frequency_prior)
from sspd.model.network import SSPDOutput
from sspd.model.similarity import (delay_tokens, self_similarity_map, self_similarity_wave, ssm_np,
                                   ssw_np, upper_diagonals)


# ----------------------------------------------------------------------------
# naive references: the released code's double loops, written from the formulas (book/method_reference.md §4, §6.4)


def _naive_ssm(h: np.ndarray) -> np.ndarray:
    n = h.shape[0]
    s = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            s[i, j] = h[i] @ h[j] / (np.linalg.norm(h[i]) * np.linalg.norm(h[j]))
    return s


def _naive_wave(s: np.ndarray) -> np.ndarray:
    n = s.shape[0]
    w = np.zeros(n)
    for d in range(n):
        acc = 0.0
        for i in range(n - d):
            acc += s[i, i + d]
        w[d] = acc / (n - d)
    return w


def _naive_reg(s: np.ndarray) -> float:
    n = s.shape[0]
    stds = []
    for d in range(1, n - 1):
        diag = [s[i, i + d] * (n - d) / 20 for i in range(n - d)]
        stds.append(np.std(diag, ddof=1))
    return float(np.mean(stds))


def _rng(seed=0):
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------
# SSM / wave / regulariser


def test_ssm_matches_naive_and_numpy_twin():
    h = _rng().normal(size=(2, 23, 16))
    ref = np.stack([_naive_ssm(x) for x in h])
    got = self_similarity_map(torch.from_numpy(h)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-12)
    np.testing.assert_allclose(ssm_np(h), ref, atol=1e-12)
    np.testing.assert_allclose(ssm_np(h[0]), ref[0], atol=1e-12)
    np.testing.assert_allclose(np.diagonal(got, axis1=1, axis2=2), 1.0, atol=1e-12)


def test_ssm_eps_guards_zero_tokens_only():
    h = torch.randn(1, 10, 8, dtype=torch.float64)
    assert torch.equal(self_similarity_map(h), self_similarity_map(h, eps=1e-8))
    h[0, 3] = 0
    assert torch.isnan(self_similarity_map(h)).any()        # the authors' formula
    s = self_similarity_map(h, eps=1e-8)
    assert torch.isfinite(s).all() and (s[0, 3] == 0).all()


@pytest.mark.parametrize("n", [1, 2, 7, 40])
def test_wave_matches_naive_loop(n):
    s = _rng(n).normal(size=(3, n, n))
    ref = np.stack([_naive_wave(x) for x in s])
    np.testing.assert_allclose(self_similarity_wave(torch.from_numpy(s)).numpy(), ref, atol=1e-12)
    np.testing.assert_allclose(ssw_np(s), ref, atol=1e-12)
    np.testing.assert_allclose(ssw_np(s[0]), ref[0], atol=1e-12)


def test_upper_diagonals_zero_below():
    s = torch.arange(16.0).reshape(1, 4, 4) + 1
    u = upper_diagonals(s)[0]
    expect = torch.tensor([[1, 2, 3, 4], [6, 7, 8, 0], [11, 12, 0, 0], [16, 0, 0, 0]], dtype=s.dtype)
    assert torch.equal(u, expect)


def test_regulariser_matches_naive_loop():
    s = _rng(1).normal(size=(2, 31, 31))
    ref = np.mean([_naive_reg(x) for x in s])
    got = diagonal_regulariser(torch.from_numpy(s)).item()
    assert got == pytest.approx(ref, rel=1e-10)
    # list of levels -> mean over levels
    s2 = _rng(2).normal(size=(2, 17, 17))
    ref2 = np.mean([_naive_reg(x) for x in s2])
    got2 = diagonal_regulariser([torch.from_numpy(s), torch.from_numpy(s2)]).item()
    assert got2 == pytest.approx((ref + ref2) / 2, rel=1e-10)


def test_regulariser_zero_for_toeplitz_with_finite_grad():
    n = 20
    i = torch.arange(n)
    s = torch.cos(2 * math.pi * (i[None, :] - i[:, None]) / 7.0).double()[None].requires_grad_()
    loss = diagonal_regulariser(s)
    assert loss.item() == pytest.approx(0.0, abs=1e-12)
    loss.backward()
    assert torch.isfinite(s.grad).all()


def test_periodic_tokens_give_wave_peak_at_period():
    fs, period, n = 30.0, 20, 200            # 1.5 Hz pulse
    t = np.arange(n)
    phase = 2 * np.pi * t / period
    h = np.stack([np.cos(phase), np.sin(phase)] + [np.full(n, 0.3)], axis=1)[None]  # (1,N,3)
    w = self_similarity_wave(self_similarity_map(torch.from_numpy(h)))[0].numpy()
    spec = np.abs(np.fft.rfft(w - w.mean()))
    k = int(np.argmax(spec[1:])) + 1
    assert k * fs / n == pytest.approx(fs / period, abs=fs / n)
    # the frequency prior sees mostly in-band energy for such a wave
    assert wave_frequency_prior(torch.from_numpy(w)[None], fs).item() < 1.0


# ----------------------------------------------------------------------------
# building blocks


def test_band_bins_authors_and_fs_aware():
    assert band_bins(300, 30) == (5, 30)
    assert band_bins(292, 30) == (4, 29)
    assert band_bins(286, 30) == (4, 28)
    assert band_bins(282, 30) == (4, 28)
    # 25 fps: same Hz band, more bins per Hz for the same length
    assert band_bins(250, 25) == (5, 30)
    assert band_bins(300, 25) == (6, 36)
    with pytest.raises(ValueError):
        band_bins(300, 0)


def test_pearson_matches_numpy_and_clamps():
    a, b = _rng(3).normal(size=(2, 4, 50))
    ref = [np.corrcoef(x, y)[0, 1] for x, y in zip(a, b)]
    got = pearson(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-6)
    x = torch.from_numpy(a)
    assert neg_pearson(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert neg_pearson(x, -x).item() == pytest.approx(2.0, abs=1e-6)
    assert pearson(x, 3 * x + 1).max().item() <= 1.0


# ----------------------------------------------------------------------------
# the four terms and the total


def _outputs(seed, b=2, t=64, levels=(56, 50, 46), d=32, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    tokens = [torch.tanh(torch.randn(b, n, d, generator=g)).requires_grad_(requires_grad) for n in levels]
    rppg = torch.randn(b, t, generator=g).requires_grad_(requires_grad)
    return SSPDOutput(rppg=rppg, tokens=tokens)


def test_identical_online_target_zero_tspd():
    o = _outputs(0)
    # MSE parts exactly 0; NP parts 0 up to the Pearson eps (1e-7 / var per row)
    assert tspd_loss(o.tokens, o.tokens).item() == pytest.approx(0.0, abs=1e-4)
    assert tspd_loss(o.tokens, [h + 0.1 for h in o.tokens]).item() > 1e-3
    y = torch.sin(2 * math.pi * 1.2 * torch.arange(64) / 30.0)[None].repeat(2, 1)
    # NP(y,y)=0 and NP(S,S)=0 -> only the band ratio remains, and it is >= 0
    loss = rpd_loss(y, y, 30.0)
    p = torch.fft.rfft(y).abs()[:, :32]
    p = p / p.amax(-1, keepdim=True)
    lo, hi = band_bins(64, 30.0)
    assert loss.item() == pytest.approx((p.sum(-1) / p[:, lo:hi].sum(-1) - 1).mean().item(), abs=1e-5)


def test_losses_finite_and_positive_on_random():
    on, tg = _outputs(1), _outputs(2)
    loss, parts = sspd_loss(on, tg, 30.0)
    assert torch.isfinite(loss)
    assert set(parts) == {"rpd", "tspd", "reg", "freq", "loss"}
    assert all(v > 0 for v in parts.values())
    cfg = LossConfig()
    expect = (cfg.w_rpd * parts["rpd"] + cfg.w_tspd * parts["tspd"] + cfg.w_reg * parts["reg"]
              + cfg.w_freq * parts["freq"])
    assert parts["loss"] == pytest.approx(expect, rel=1e-5)


def test_sspd_loss_float32_and_detaches_target():
    on = _outputs(1, requires_grad=True)
    tg = _outputs(2, requires_grad=True)
    on.rppg = on.rppg.half()  # cast inside
    loss, _ = sspd_loss(on, tg, 30.0)
    assert loss.dtype == torch.float32
    loss.backward()
    assert tg.rppg.grad is None and all(h.grad is None for h in tg.tokens)
    assert all(h.grad is not None and h.grad.abs().sum() > 0 for h in on.tokens)


@pytest.mark.parametrize("switch,part", [("use_rpd", "rpd"), ("use_tspd", "tspd"),
                                         ("use_reg", "reg"), ("use_freq", "freq")])
def test_each_switch_removes_its_term(switch, part):
    on, tg = _outputs(3), _outputs(4)
    full, parts = sspd_loss(on, tg, 30.0)
    cfg = LossConfig(**{switch: False})
    less, parts_less = sspd_loss(on, tg, 30.0, cfg)
    assert part not in parts_less
    weight = getattr(LossConfig(), "w_" + part)
    assert less.item() == pytest.approx(full.item() - weight * parts[part], rel=1e-5)


def test_tspd_map_and_wave_switches():
    on, tg = _outputs(5), _outputs(6)
    both = tspd_loss(on.tokens, tg.tokens).item()
    maps = tspd_loss(on.tokens, tg.tokens, use_wave=False).item()
    waves = tspd_loss(on.tokens, tg.tokens, use_map=False).item()
    assert maps > 0 and waves > 0
    assert both == pytest.approx(maps + waves, rel=1e-5)
    _, p = sspd_loss(on, tg, 30.0, LossConfig(tspd_wave=False))
    assert p["tspd"] == pytest.approx(maps, rel=1e-5)


def test_gradient_routing_through_model():
    """TSPD/reg/freq reach the backbone; RPD reaches only the predictor (book/method_reference.md §6.6)."""
    from sspd.model.network import SSPD

    torch.manual_seed(0)
    torch.set_num_threads(1)
    online, target = SSPD(), SSPD()
    target.load_state_dict(online.state_dict())
    x = torch.randn(1, 3, 32, 128, 128) * 3          # N = 24, 18, 14
    on = online(x)
    with torch.no_grad():
        tg = target(x + 0.5 * torch.randn_like(x))
    backbone_w = online.backbone_step2.Conv_Layer1.weight
    for term in ("rpd", "tspd", "reg", "freq"):
        online.zero_grad(set_to_none=True)
        cfg = LossConfig(**{f"use_{t}": t == term for t in ("rpd", "tspd", "reg", "freq")})
        loss, _ = sspd_loss(on, tg, 30.0, cfg)
        loss.backward(retain_graph=True)
        pred_g = online.predictor.conv4.weight.grad
        if term == "rpd":
            assert backbone_w.grad is None
            assert pred_g is not None and pred_g.abs().sum() > 0
        else:
            assert backbone_w.grad is not None and backbone_w.grad.abs().sum() > 0
            assert online.s3m.blocks[0].q.weight.grad.abs().sum() > 0
            assert pred_g is None


def test_too_short_for_band_raises():
    y = torch.randn(1, 8)
    with pytest.raises(ValueError, match="too short"):
        rpd_loss(y, y, 30.0)


# ----------------------------------------------------------------------------
# toy tokens for the chapters


def test_delay_tokens_windows_and_periodic_stripes():
    x = np.array([1.0, 3.0, 5.0, 7.0, 9.0])
    z = (x - 5.0) / np.sqrt(8.0)                       # standardised: mean 5, SD sqrt(8)
    tok = delay_tokens(x, 3)
    assert tok.shape == (3, 3)
    np.testing.assert_allclose(tok, [z[0:3], z[1:4], z[2:5]])
    assert not tok.flags.writeable
    # a 10-sample period: tokens one period apart are identical, half a period apart opposite
    period = 10                                         # samples
    s = ssm_np(delay_tokens(np.sin(2 * np.pi * np.arange(120) / period) + 2.0, 15))
    assert s.shape == (106, 106)
    np.testing.assert_allclose(np.diagonal(s, period), 1.0, atol=1e-12)
    assert np.diagonal(s, period // 2).max() < -0.5
    assert np.argmax(ssw_np(s)[3:15]) + 3 == period   # the wave peaks at the period (lag in samples)
    for bad, width in ((np.ones(10), 3), (np.zeros((4, 4)), 2), (x, 0), (x, 6)):
        with pytest.raises(ValueError):
            delay_tokens(bad, width)
