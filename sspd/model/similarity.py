"""Self-similarity maps (SSM) and self-similarity waves (book/method_reference.md §4).

S[i, j] = <H_i, H_j> / (|H_i| |H_j|)          cosine similarity of tokens, (B,N,N)
w[d]    = mean_{i=0..N-1-d} S[i, i+d]          mean of the d-th upper diagonal, (B,N)

For a periodic pulse the SSM has stripes parallel to the diagonal at multiples
of the beat period, so w oscillates at the heart rate (lags are in frames,
the tokenizers have stride 1).

Everything is vectorised: the released code loops over ~N^2/2 scalars in
Python (quirk §13.7). The diagonals are read with the "skew" trick: pad every
row of S with N zeros, flatten, and re-read the flat buffer with row length
2N+1, which shifts row i left by i, so column d of the result holds S[i, i+d]
(or a zero pad where i+d >= N). Two pad copies, otherwise views; autograd-friendly.

Numerics (decision §14.9): ``self_similarity_map`` takes ``eps`` (default 0 =
the authors' exact formula, no epsilon). With eps > 0 each token norm is
clamped from below at eps: the result is bit-identical whenever every norm is
>= eps (always, in practice: tokens are tanh outputs of dimension 256) and an
all-zero token gives a zero row instead of NaN. The training loss uses
eps = 1e-8 (``sspd.losses.LossConfig.ssm_eps``) and computes in float32.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["self_similarity_map", "self_similarity_wave", "upper_diagonals",
           "ssm_np", "ssw_np", "upper_diagonals_np", "delay_tokens"]


def self_similarity_map(h: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """Cosine self-similarity map of a token sequence.

    h: (B,N,D) tokens (unitless). Returns S (B,N,N) in [-1, 1], S[:, i, i] = 1.
    eps: lower clamp on token norms (0 = no guard, the authors' formula; see module doc).
    """
    if h.ndim != 3:
        raise ValueError(f"expected tokens (B,N,D), got shape {tuple(h.shape)}")
    norm = h.norm(dim=-1, keepdim=True)           # (B,N,1)
    if eps > 0:
        norm = norm.clamp_min(eps)
    u = h / norm                                   # unit tokens
    return u @ u.transpose(1, 2)                   # (B,N,N)


def upper_diagonals(s: torch.Tensor) -> torch.Tensor:
    """Skewed view of the upper diagonals of square maps.

    s: (B,N,N) -> U (B,N,N) with U[b, i, d] = s[b, i, i+d] for i+d < N, else 0.
    Column d of U holds the d-th upper diagonal (N-d valid entries, from row 0).
    """
    if s.ndim != 3 or s.shape[-1] != s.shape[-2]:
        raise ValueError(f"expected square maps (B,N,N), got shape {tuple(s.shape)}")
    B, N, _ = s.shape
    padded = F.pad(s, (0, N)).reshape(B, 2 * N * N)   # row i = [S[i,:], N zeros], flattened
    flat = F.pad(padded, (0, N))                       # room for one extra element per row
    skew = flat.reshape(B, N, 2 * N + 1)               # row i starts at i*(2N+1): shifted left by i
    return skew[:, :, :N]                                      # U[i, d] = padded[i, i+d]


def self_similarity_wave(s: torch.Tensor) -> torch.Tensor:
    """Self-similarity wave: mean of each upper diagonal d = 0..N-1.

    s: (B,N,N) -> w (B,N); w[:, 0] is the mean of the main diagonal (1 for an SSM).
    """
    N = s.shape[-1]
    counts = torch.arange(N, 0, -1, device=s.device, dtype=s.dtype)  # N-d valid entries
    return upper_diagonals(s).sum(dim=1) / counts


# ----------------------------------------------------------------------------
# numpy twins (analysis, notebooks, figures)


def ssm_np(h: np.ndarray, eps: float = 0.0) -> np.ndarray:
    """numpy twin of :func:`self_similarity_map`; h (N,D) or (B,N,D) -> (N,N) or (B,N,N)."""
    h = np.asarray(h, dtype=np.float64)
    if h.ndim not in (2, 3):
        raise ValueError(f"expected tokens (N,D) or (B,N,D), got shape {h.shape}")
    norm = np.linalg.norm(h, axis=-1, keepdims=True)
    if eps > 0:
        norm = np.maximum(norm, eps)
    u = h / norm
    return u @ np.swapaxes(u, -1, -2)


def upper_diagonals_np(s: np.ndarray) -> np.ndarray:
    """numpy twin of :func:`upper_diagonals` for (N,N) or (B,N,N)."""
    s = np.asarray(s)
    if s.ndim < 2 or s.shape[-1] != s.shape[-2]:
        raise ValueError(f"expected square maps (...,N,N), got shape {s.shape}")
    N = s.shape[-1]
    i = np.arange(N)[:, None]
    d = np.arange(N)[None, :]
    j = i + d                                       # column of S read at U[i, d]
    valid = j < N
    return np.where(valid, np.take_along_axis(s, np.broadcast_to(np.minimum(j, N - 1), s.shape), -1), 0.0)


def ssw_np(s: np.ndarray) -> np.ndarray:
    """numpy twin of :func:`self_similarity_wave`; (N,N) -> (N,), (B,N,N) -> (B,N)."""
    s = np.asarray(s, dtype=np.float64)
    N = s.shape[-1]
    return upper_diagonals_np(s).sum(axis=-2) / np.arange(N, 0, -1)


def delay_tokens(x, width: int) -> np.ndarray:
    """Toy tokens from a 1-D signal by delay embedding, one per start sample (stride 1).

    x:     (N,) samples of a signal (any unit), standardised over the whole signal first (zero
           mean, unit standard deviation), so the tokens are unitless.
    width: samples per token, 1 <= width <= N (e.g. 0.5 s * fs).
    Returns a read-only float64 view (N - width + 1, width): row i = standardised x[i:i+width].
    For a periodic x, :func:`ssm_np` of these tokens has stripes at the period, like a network's.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D, got shape {x.shape}")
    if not 1 <= width <= len(x):
        raise ValueError(f"width must be in [1, {len(x)}] samples, got {width}")
    sd = x.std()
    if not np.isfinite(sd) or sd == 0:
        raise ValueError("x must be finite and not constant")
    return np.lib.stride_tricks.sliding_window_view((x - x.mean()) / sd, width)
