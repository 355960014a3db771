"""SSPD losses (book/method_reference.md §6): TSPD, RPD, the diagonal regulariser and the wave frequency prior.

    L = 0.5 L_RPD + 0.5 L_TSPD + 0.5 L_reg + 0.2 L_freq

- L_TSPD (sum over pyramid levels): MSE + negative Pearson between online and
  (detached) target self-similarity maps S and waves w.
- L_RPD: negative Pearson between online and target rPPG, between their
  normalised magnitude spectra, plus an out-of-band energy ratio of the online
  spectrum. Reaches only the predictor (its input is detached in the network).
- L_reg (mean over levels): weighted mean of per-diagonal standard deviations
  of the online SSM -> pushes S towards a Toeplitz (stationary) structure.
- L_freq (mean over levels): out-of-band energy ratio of the online wave.

Differences from the released code, all deliberate and recorded (§14.6, §14.9):
- band bins are fs-aware, floor(f * n / fs); at fs = 30 they equal the authors';
- everything is computed in float32 with autocast disabled (the authors ran the
  losses under fp16 autocast);
- the SSM clamps token norms at ``LossConfig.ssm_eps`` (identical values unless
  a token is ~zero; see :mod:`sspd.model.similarity`);
- std of an exactly constant diagonal has gradient 0 instead of NaN.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from sspd.model.network import SSPDOutput
from sspd.model.similarity import self_similarity_map, self_similarity_wave, upper_diagonals

__all__ = ["pearson", "neg_pearson", "magnitude_spectrum", "band_bins", "band_ratio",
           "tspd_loss", "diagonal_regulariser", "wave_frequency_prior", "rpd_loss",
           "LossConfig", "sspd_loss"]


# ----------------------------------------------------------------------------
# building blocks


def pearson(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Pearson correlation along the last axis, as the authors define it (§6.1).

    r = [sum (a-mean a)(b-mean b) / (n-1)] / (std_a std_b + eps), std unbiased,
    clamped to [-1, 1]. a, b: (..., n) -> (...).
    """
    if a.shape != b.shape:
        raise ValueError(f"pearson: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    n = a.shape[-1]
    if n < 2:
        raise ValueError("pearson needs at least 2 samples along the last axis")
    da = a - a.mean(dim=-1, keepdim=True)
    db = b - b.mean(dim=-1, keepdim=True)
    cov = (da * db).sum(dim=-1) / (n - 1)
    r = cov / (a.std(dim=-1) * b.std(dim=-1) + eps)
    return r.clamp(-1.0, 1.0)


def neg_pearson(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """NP(a, b) = mean(1 - r(a, b)), r along the last axis, mean over all other axes.

    On (B,N,N) maps r is row-wise and the mean runs over rows and batch.
    """
    return (1.0 - pearson(a, b, eps)).mean()


def magnitude_spectrum(x: torch.Tensor) -> torch.Tensor:
    """|FFT(x)| along the last axis: (..., n) -> (..., n//2 + 1) one-sided bins 0..n//2.

    Full-length FFT, no window, no detrending, DC kept (§6.1). Bin k is at
    k * fs / n Hz. The one-sided rFFT holds the bins 0..floor(n/2) of the full FFT.
    """
    return torch.fft.rfft(x, dim=-1).abs()


def band_bins(n: int, fs: float, low: float = 0.5, high: float = 3.0) -> tuple[int, int]:
    """FFT bin range [k_lo, k_hi) of the band low..high Hz for a length-n signal at fs Hz.

    k = floor(f * n / fs). At fs = 30 this reproduces the authors' bins
    (n = 300 -> (5, 30); n = 292 -> (4, 29); n = 286, 282 -> (4, 28)).
    A 1e-9 tolerance keeps exact products (e.g. 3 * 300 / 30) from flooring down
    through floating-point error.
    """
    if n < 1 or not fs > 0 or not 0 <= low < high:
        raise ValueError(f"band_bins: bad arguments n={n}, fs={fs}, band=({low}, {high})")
    return math.floor(low * n / fs + 1e-9), math.floor(high * n / fs + 1e-9)


def band_ratio(p: torch.Tensor, k_lo: int, k_hi: int) -> torch.Tensor:
    """sum_k p[k] / sum_{k_lo <= k < k_hi} p[k] - 1 along the last axis; 0 when all energy is in band."""
    if not 0 <= k_lo < k_hi <= p.shape[-1]:
        raise ValueError(f"band [{k_lo}, {k_hi}) does not fit in {p.shape[-1]} spectral bins: "
                         "the signal is too short for the cardiac band")
    return p.sum(dim=-1) / p[..., k_lo:k_hi].sum(dim=-1) - 1.0


def _normalised_spectrum(x: torch.Tensor, n_bins: int) -> torch.Tensor:
    """|FFT(x)|[0:n_bins] divided by its own maximum (per signal)."""
    p = magnitude_spectrum(x)[..., :n_bins]
    return p / p.amax(dim=-1, keepdim=True)


# ----------------------------------------------------------------------------
# the four terms


def _tspd_level(s_o, w_o, s_t, w_t, use_map: bool = True, use_wave: bool = True) -> torch.Tensor:
    """One level of L_TSPD from precomputed maps (B,N,N) and waves (B,N); target ones detached."""
    loss = s_o.new_zeros(())
    if use_map:
        loss = loss + F.mse_loss(s_o, s_t) + neg_pearson(s_o, s_t)  # NP row-wise
    if use_wave:
        loss = loss + F.mse_loss(w_o, w_t) + neg_pearson(w_o, w_t)
    return loss


def tspd_loss(online_tokens: list[torch.Tensor], target_tokens: list[torch.Tensor],
              use_map: bool = True, use_wave: bool = True, eps: float = 0.0) -> torch.Tensor:
    """L_TSPD = sum_l [MSE(S_O,S_T) + MSE(w_O,w_T) + NP(S_O,S_T) + NP(w_O,w_T)].

    online_tokens, target_tokens: lists of H(l) (B,N_l,D); the target side is detached here.
    use_map / use_wave: keep the map part (S) / the wave part (w) (for ablations).
    eps: token-norm clamp of the SSM (0 = authors' formula).
    """
    _check_levels(online_tokens, target_tokens)
    s_o = [self_similarity_map(h, eps) for h in online_tokens]
    return _tspd_from_maps(s_o, [self_similarity_wave(s) for s in s_o], target_tokens, eps,
                           use_map, use_wave)


def _tspd_from_maps(s_o: list, w_o: list, target_tokens: list, eps: float, use_map: bool,
                    use_wave: bool) -> torch.Tensor:
    """L_TSPD from the online maps and waves (already computed) and the target tokens."""
    total = s_o[0].new_zeros(())
    for so, wo, h_t in zip(s_o, w_o, target_tokens):
        s_t = self_similarity_map(h_t.detach(), eps)
        total = total + _tspd_level(so, wo, s_t, self_similarity_wave(s_t), use_map, use_wave)
    return total


def _diagonal_std(s: torch.Tensor) -> torch.Tensor:
    """Unbiased std of every upper diagonal d = 1..N-2 of s (B,N,N) -> (B,N-2). Vectorised."""
    B, N, _ = s.shape
    u = upper_diagonals(s)[:, :, 1 : N - 1]                          # (B,N,N-2), column = d-1
    d = torch.arange(1, N - 1, device=s.device)
    n = (N - d).to(s.dtype)                                          # entries per diagonal
    valid = (torch.arange(N, device=s.device)[:, None] < (N - d)[None, :]).to(s.dtype)  # (N,N-2)
    mean = u.sum(dim=1) / n                                          # pads are zeros
    dev = (u - mean[:, None, :]) * valid                             # two-pass: no cancellation
    var = dev.square().sum(dim=1) / (n - 1)
    # sqrt with a zero (not NaN) gradient where a diagonal is exactly constant
    pos = var > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, var, torch.ones_like(var))), torch.zeros_like(var))


def diagonal_regulariser(s: torch.Tensor | list[torch.Tensor],
                         reference_n: int | None = None) -> torch.Tensor:
    """L_reg: mean over d = 1..N-2 of std_i(S[i, i+d] * (N-d)/20); mean over batch and levels.

    s: one (B,N,N) map or a list of them (pyramid levels). The weight (N-d)/20
    and the skipped single-element last diagonal follow the released code.
    reference_n: when set, the weights are multiplied by reference_n / N, so the term has the
    size it would have on a clip of reference_n tokens (the weights grow with N: at T = 160
    the released formula gives the regulariser about half its T = 300 weight).
    """
    maps = [s] if torch.is_tensor(s) else list(s)
    if not maps:
        raise ValueError("diagonal_regulariser needs at least one map")
    total = maps[0].new_zeros(())
    for m in maps:
        N = m.shape[-1]
        if N < 3:
            raise ValueError(f"diagonal_regulariser needs N >= 3, got {N}")
        weight = (N - torch.arange(1, N - 1, device=m.device, dtype=m.dtype)) / 20.0
        if reference_n is not None:
            weight = weight * (reference_n / N)
        total = total + (_diagonal_std(m) * weight).mean(dim=-1).mean()
    return total / len(maps)


def wave_frequency_prior(w: torch.Tensor | list[torch.Tensor], fs: float,
                         band: tuple[float, float] = (0.5, 3.0)) -> torch.Tensor:
    """L_freq: out-of-band ratio of the wave spectrum, mean over batch and levels (§6.5).

    w: one wave (B,N) or a list of them; fs: token rate in Hz (= frame rate, the
    tokenizers have stride 1). P = |FFT(w)|[0:N//2] / max; loss = sum P / sum_band P - 1.
    """
    waves = [w] if torch.is_tensor(w) else list(w)
    if not waves:
        raise ValueError("wave_frequency_prior needs at least one wave")
    total = waves[0].new_zeros(())
    for v in waves:
        N = v.shape[-1]
        p = _normalised_spectrum(v, N // 2)
        total = total + band_ratio(p, *band_bins(N, fs, *band)).mean()
    return total / len(waves)


def rpd_loss(y_online: torch.Tensor, y_target: torch.Tensor, fs: float,
             band: tuple[float, float] = (0.5, 3.0)) -> torch.Tensor:
    """L_RPD = NP(y_O, y_T) + NP(S_O, S_T) + mean(sum S_O / sum_band S_O - 1) (§6.3).

    y_online, y_target: (B,T) rPPG predictions (target detached here); fs in Hz.
    S = |FFT(y)|[0:k_v] / max with k_v = floor((fs/2) * T / fs) = T // 2 (0 .. Nyquist).
    """
    if y_online.shape != y_target.shape or y_online.ndim != 2:
        raise ValueError(f"rpd_loss: expected two (B,T) tensors, got {tuple(y_online.shape)} "
                         f"and {tuple(y_target.shape)}")
    y_target = y_target.detach()
    T = y_online.shape[-1]
    k_v = T // 2
    s_o = _normalised_spectrum(y_online, k_v)
    s_t = _normalised_spectrum(y_target, k_v)
    return (neg_pearson(y_online, y_target) + neg_pearson(s_o, s_t)
            + band_ratio(s_o, *band_bins(T, fs, *band)).mean())


# ----------------------------------------------------------------------------
# total objective


@dataclass
class LossConfig:
    """Weights and ablation switches of the SSPD objective (defaults = released code)."""

    w_rpd: float = 0.5
    w_tspd: float = 0.5
    w_reg: float = 0.5
    w_freq: float = 0.2
    use_rpd: bool = True
    use_tspd: bool = True
    use_reg: bool = True
    use_freq: bool = True
    tspd_map: bool = True     # TSPD on the maps S (MSE + row-wise NP)
    tspd_wave: bool = True    # TSPD on the waves w (MSE + NP)
    band: tuple[float, float] = (0.5, 3.0)  # cardiac band, Hz
    ssm_eps: float = 1e-8     # token-norm clamp in the SSM (0 = authors' exact formula)
    reg_reference_n: int | None = None  # rescale L_reg's (N-d)/20 weights to this length (None = released)

    def to_dict(self) -> dict:
        return asdict(self)


def _check_levels(online: list, target: list) -> None:
    if not online:
        raise ValueError("no S3M tokens: run the model with its S3M (SSPD(s3m=True), with_s3m=True)")
    if len(online) != len(target):
        raise ValueError(f"online has {len(online)} pyramid levels, target {len(target)}")
    for l, (a, b) in enumerate(zip(online, target)):
        if a.shape != b.shape:
            raise ValueError(f"level {l}: online tokens {tuple(a.shape)} vs target {tuple(b.shape)}")


def sspd_loss(online: SSPDOutput, target: SSPDOutput, fs: float,
              cfg: LossConfig | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """The SSPD objective, computed in float32 with autocast off.

    online, target: outputs of the online (student) and target (teacher) models on
    the masked and original views; the target is detached here. fs: frame rate, Hz.
    Returns (loss, parts): parts holds "loss" and the *unweighted* value of each
    enabled term ("rpd", "tspd", "reg", "freq"); disabled terms are absent.
    """
    cfg = cfg or LossConfig()
    if not fs > 0:
        raise ValueError(f"fs must be positive, got {fs}")
    y_o = online.rppg
    with torch.autocast(device_type=y_o.device.type, enabled=False):
        terms: dict[str, tuple[float, torch.Tensor]] = {}
        if cfg.use_rpd:
            terms["rpd"] = (cfg.w_rpd, rpd_loss(y_o.float(), target.rppg.detach().float(), fs, cfg.band))
        need_maps = cfg.use_tspd or cfg.use_reg or cfg.use_freq
        if need_maps:
            h_o = [h.float() for h in online.tokens]
            h_t = [h.detach().float() for h in target.tokens] if cfg.use_tspd else h_o
            _check_levels(h_o, h_t)
            s_o = [self_similarity_map(h, cfg.ssm_eps) for h in h_o]
            w_o = [self_similarity_wave(s) for s in s_o]
            if cfg.use_tspd:
                terms["tspd"] = (cfg.w_tspd, _tspd_from_maps(s_o, w_o, h_t, cfg.ssm_eps, cfg.tspd_map,
                                                             cfg.tspd_wave))
            if cfg.use_reg:
                terms["reg"] = (cfg.w_reg, diagonal_regulariser(s_o, cfg.reg_reference_n))
            if cfg.use_freq:
                terms["freq"] = (cfg.w_freq, wave_frequency_prior(w_o, fs, cfg.band))
        if not terms:
            raise ValueError("LossConfig disables every term")
        loss = sum(w * v for w, v in terms.values())
    parts = {name: float(v.detach()) for name, (_, v) in terms.items()}
    parts["loss"] = float(loss.detach())
    return loss, parts
