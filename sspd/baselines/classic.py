"""The classic unsupervised rPPG methods, written from their papers' equations.

Every method takes an (N, 3) float64 **RGB** trace ``rgb`` (spatial means of skin
pixels, :func:`sspd.baselines.traces.rgb_traces`) and its sampling rate ``fs``
in Hz, and returns an (N,) float64 pulse band-passed to ``band`` (Hz; default
0.7-3.0 Hz = 42-180 bpm) with a zero-phase Butterworth filter.

Sign convention (the same for all seven): the output **correlates positively
with blood volume**, i.e. with a contact BVP/PPG trace that rises with blood
volume (``Recording.bvp``). The camera sees the opposite: more blood absorbs
more light, so the pixel pulse is -bvp along the blood-volume signature
P_bv = [0.33, 0.77, 0.53] (de Haan & van Leest 2014). For a pulse along P_bv the
raw outputs of POS, PBV, LGI, OMIT and of the green channel follow -bvp and are
negated here; CHROM's X - alpha*Y follows +bvp as written (3*0.33 - 2*0.77 < 0
and 1.5*0.33 + 0.77 - 1.5*0.53 > 0) and is kept; ICA's sign is arbitrary and is
fixed by correlating the source with the signature's chrominance (see ``ica``). The test
suite checks the sign of every method against a synthetic ground truth.

Notation (book/evaluation_reference.md §4): c(t) = [R, G, B]^T; "normalised" means
divided by the temporal mean over the processing window, C_n = C / mu(C).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal
from scipy.ndimage import uniform_filter1d

from sspd.baselines.traces import rgb_traces, validate_traces
from sspd.errors import DataError
from sspd.signal import bandpass_sos, filtfilt_min_samples

DEFAULT_BAND = (0.7, 3.0)  # Hz: 42-180 bpm
FILTER_ORDER = 2  # Butterworth order of each band edge (a 4-pole band-pass), run forward and backward
P_BV = (0.33, 0.77, 0.53)  # blood-volume-pulse signature, normalised RGB (de Haan & van Leest 2014)


# --------------------------------------------------------------------------- helpers
def _bandpass(x: np.ndarray, sos: np.ndarray, axis: int = 0) -> np.ndarray:
    """Zero-phase band-pass (forward-backward, so the pulse is not delayed)."""
    return signal.sosfiltfilt(sos, x, axis=axis)


def _prepare(rgb, fs, band, source, window_s: float | None = None):
    """Validate the trace; return (float64 rgb, sos, window length in samples or None)."""
    if not (isinstance(fs, (int, float, np.integer, np.floating)) and math.isfinite(fs) and fs > 0):
        raise DataError(source, f"sampling rate fs must be a finite positive number of Hz; got {fs!r}")
    try:
        sos = bandpass_sos(fs, band[0], band[1], FILTER_ORDER)
    except ValueError as err:  # name the video the trace came from
        raise DataError(source, f"band {band} Hz: {err}") from None
    need = filtfilt_min_samples(sos)
    win = None
    if window_s is not None:
        if not (math.isfinite(window_s) and window_s > 0):
            raise DataError(source, f"window_s must be a positive number of seconds; got {window_s!r}")
        win = max(2, int(round(window_s * fs)))
        need = max(need, win)
    return validate_traces(rgb, fs, min_samples=need, source=source), sos, win


def _overlap_add(segments: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """Sum (M, L) segments into an (n,) signal at the given start samples (no loop)."""
    idx = starts[:, None] + np.arange(segments.shape[1])[None, :]  # (M, L)
    return np.bincount(idx.ravel(), weights=segments.ravel(), minlength=n)


def _moving_mean(x: np.ndarray, win: int) -> np.ndarray:
    """Centred moving mean over ``win`` samples along axis 0 (edges repeat the end values)."""
    return uniform_filter1d(x, size=win, axis=0, mode="nearest")


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, with 0 where den is 0 (a window with no signal contributes nothing)."""
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return out


# --------------------------------------------------------------------------- GREEN
def green(rgb, fs, *, band=DEFAULT_BAND, source: str | Path | None = None) -> np.ndarray:
    """GREEN (Verkruysse, Svaasand & Nelson, Opt. Express 16(26):21434, 2008).

    The green channel alone, normalised by its mean, linearly detrended, band-passed
    and negated (blood absorbs green light). Returns an (N,) pulse in relative units.
    It cannot tell a pulse from an intensity change: white-light flicker in the HR
    band wins over the pulse.
    """
    x, sos, _ = _prepare(rgb, fs, band, source)
    g = x[:, 1] / x[:, 1].mean() - 1.0  # (N,)
    g = signal.detrend(g)
    return -_bandpass(g, sos)


# --------------------------------------------------------------------------- ICA
def jade(x: np.ndarray, max_sweeps: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """JADE independent component analysis (Cardoso & Souloumiac, IEE Proc. F 140(6), 1993).

    Parameters
    ----------
    x : (m, T) mixtures (rows are channels).

    Returns
    -------
    B : (m, m) separating matrix, sources = B @ (x - mean).
    s : (m, T) sources, unit variance, uncorrelated.

    Steps: whiten (z = W x, E[z z^T] = I); form the fourth-order cumulant matrices
    Q(M) for an orthonormal basis of symmetric m x m matrices M; find the rotation V
    that jointly diagonalises them by Jacobi (Givens) sweeps; B = V^T W.
    """
    x = np.asarray(x, dtype=np.float64)
    m, t = x.shape
    x = x - x.mean(axis=1, keepdims=True)
    # Whitening from the covariance eigen-decomposition.
    evals, evecs = np.linalg.eigh(x @ x.T / t)
    if evals.min() <= evals.max() * 1e-12:
        raise DataError(None, "ICA: the channels are linearly dependent (a singular covariance)")
    w = (evecs / np.sqrt(evals)).T  # (m, m)
    z = w @ x  # (m, T)

    # Fourth moments E[z_i z_j z_k z_l] as a (m*m, m*m) matrix, from pair products.
    pairs = (z[:, None, :] * z[None, :, :]).reshape(m * m, t)
    m4 = (pairs @ pairs.T / t).reshape(m, m, m, m)
    eye = np.eye(m)
    # cum(i,j,k,l) = E[z_i z_j z_k z_l] - d_ij d_kl - d_ik d_jl - d_il d_jk (whitened data)
    cum = (m4 - np.einsum("ij,kl->ijkl", eye, eye) - np.einsum("ik,jl->ijkl", eye, eye)
           - np.einsum("il,jk->ijkl", eye, eye))
    # Q(M)_kl = sum_ij cum(k,l,i,j) M_ij for M = e_i e_i^T and (e_i e_j^T + e_j e_i^T)/sqrt(2).
    iu, ju = np.triu_indices(m)
    scale = np.where(iu == ju, 1.0, math.sqrt(2.0))
    mats = cum[:, :, iu, ju].transpose(2, 0, 1) * scale[:, None, None]  # (K, m, m)

    # Joint diagonalisation by Jacobi rotations: the closed-form angle for each pair (p, q)
    # maximises the sum of squared diagonals of all K matrices.
    v = np.eye(m)
    threshold = 1e-6 / math.sqrt(t)
    for _ in range(max_sweeps):
        rotated = False
        for p in range(m - 1):
            for q in range(p + 1, m):
                g = np.stack([mats[:, p, p] - mats[:, q, q], mats[:, p, q] + mats[:, q, p]])  # (2, K)
                gg = g @ g.T
                ton, toff = gg[0, 0] - gg[1, 1], gg[0, 1] + gg[1, 0]
                theta = 0.5 * math.atan2(toff, ton + math.hypot(ton, toff))
                c, s = math.cos(theta), math.sin(theta)
                if abs(s) <= threshold:
                    continue
                rotated = True
                rot = np.array([[c, -s], [s, c]])
                pq = [p, q]
                v[:, pq] = v[:, pq] @ rot
                mats[:, pq, :] = np.einsum("ba,kbj->kaj", rot, mats[:, pq, :])  # rows: rot^T M
                mats[:, :, pq] = mats[:, :, pq] @ rot  # columns: M rot
        if not rotated:
            break
    b = v.T @ w
    return b, b @ x


def _inband_peak(s: np.ndarray, fs: float, band) -> np.ndarray:
    """(m,) largest periodogram value inside ``band``, relative to each row's total power."""
    nfft = max(2 ** math.ceil(math.log2(s.shape[1])), 2048)  # fine grid: ~1 bpm at 30 fps
    f, p = signal.periodogram(s, fs=fs, nfft=nfft, detrend="constant", axis=1)
    inband = (f >= band[0]) & (f <= band[1])
    return p[:, inband].max(axis=1) / np.maximum(p.sum(axis=1), 1e-300)


def ica(rgb, fs, *, band=DEFAULT_BAND, source: str | Path | None = None) -> np.ndarray:
    """ICA (Poh, McDuff & Picard, Opt. Express 18(10):10762, 2010; IEEE TBME 58(1):7, 2011).

    Channels normalised by their means and band-passed (standing in for the paper's
    smoothness-prior detrending), z-scored, separated into three sources by JADE;
    the source with the largest spectral peak in ``band`` (relative to its total
    power) is the pulse (the 2010 paper always took the second source, which is not
    stable across videos). ICA leaves the sign free: the source is oriented to
    correlate positively with -(C_n . P_perp), where P_perp is the blood-volume
    signature minus its component along [1, 1, 1] (the pulse is -bvp along P_bv;
    intensity changes along [1, 1, 1] carry no sign information).
    Returns an (N,) pulse in units of the source's standard deviation.
    """
    x, sos, _ = _prepare(rgb, fs, band, source)
    xn = _bandpass(x / x.mean(axis=0) - 1.0, sos, axis=0)  # (N, 3)
    xz = (xn - xn.mean(axis=0)) / xn.std(axis=0)
    try:
        b, s = jade(xz.T)  # (3, 3), (3, N)
    except DataError as err:
        raise DataError(source, err.problem) from None
    k = int(np.argmax(_inband_peak(s, fs, band)))
    # Orientation: the pixel pulse is -bvp along P_bv; intensity changes lie along [1, 1, 1]
    # and say nothing about the sign, so compare with the part of P_bv orthogonal to [1, 1, 1]
    # (the source's loading on one channel alone is dominated by intensity noise).
    sig = np.asarray(P_BV) / np.linalg.norm(P_BV)
    chroma = sig - sig.mean()  # (3,), orthogonal to [1, 1, 1]
    reference = -(xn @ chroma)  # (N,), rises with blood volume
    sign = -1.0 if np.dot(s[k], reference) < 0 else 1.0
    return _bandpass(sign * s[k], sos)


# --------------------------------------------------------------------------- CHROM
def chrom(rgb, fs, window_s: float = 1.6, *, band=DEFAULT_BAND,
          source: str | Path | None = None) -> np.ndarray:
    """CHROM (de Haan & Jeanne, "Robust pulse rate from chrominance-based rPPG", IEEE TBME 60(10), 2013).

    Channels normalised by their centred moving mean over ``window_s`` seconds;
    chrominance X = 3R_n - 2G_n, Y = 1.5R_n + G_n - 1.5B_n; both band-passed
    (X_f, Y_f); per Hann window of ``window_s`` s with 50 % overlap,
    alpha = std(X_f)/std(Y_f) and S = X_f - alpha*Y_f; windows overlap-added.
    (The paper band-passes inside each window; filtering once over the clip is
    equivalent away from the ends and avoids filtering 48-sample pieces.)
    Intensity changes scale X and Y equally (the standardised skin tone gives
    X = Y = 1), so the alpha-tuned difference removes them.
    Returns an (N,) pulse in relative (fractional) units.
    """
    x, sos, win = _prepare(rgb, fs, band, source, window_s)
    n = len(x)
    win += win % 2  # even length, so the hop is exactly half a window
    win = min(win, n - n % 2)
    cn = x / _moving_mean(x, win)  # (N, 3)
    xs = 3.0 * cn[:, 0] - 2.0 * cn[:, 1]
    ys = 1.5 * cn[:, 0] + cn[:, 1] - 1.5 * cn[:, 2]
    xf, yf = _bandpass(np.stack([xs, ys]), sos, axis=1)  # (N,), (N,)

    hop = win // 2
    starts = np.arange(0, n - win + 1, hop)
    if starts[-1] + win < n:  # cover the tail with one window flush with the end
        starts = np.append(starts, n - win)
    idx = starts[:, None] + np.arange(win)  # (M, L)
    xw, yw = xf[idx], yf[idx]  # (M, L)
    alpha = _safe_ratio(xw.std(axis=1), yw.std(axis=1))  # (M,)
    hann = signal.get_window("hann", win)  # periodic Hann: sums to 1 at 50 % overlap
    sw = (xw - alpha[:, None] * yw) * hann  # (M, L)
    num = _overlap_add(sw, starts, n)
    den = _overlap_add(np.broadcast_to(hann, sw.shape), starts, n)
    out = _safe_ratio(num, np.where(den > 1e-8, den, 0.0))
    return _bandpass(out, sos)


# --------------------------------------------------------------------------- POS
POS_PROJECTION = np.array([[0.0, 1.0, -1.0], [-2.0, 1.0, 1.0]])  # P, rows orthogonal to [1, 1, 1]


def pos(rgb, fs, window_s: float = 1.6, *, band=DEFAULT_BAND,
        source: str | Path | None = None) -> np.ndarray:
    """POS, plane-orthogonal-to-skin (Wang, den Brinker, Stuijk & de Haan, IEEE TBME 64(7):1479, 2017).

    For every window of l = ``window_s``*fs frames (stride 1, as in the paper's
    Algorithm 1): C_n = C / mu(C) (temporal normalisation removes the DC skin tone,
    so intensity changes lie along [1, 1, 1]); S = P C_n with P = [[0, 1, -1],
    [-2, 1, 1]] (projection onto the plane orthogonal to [1, 1, 1]);
    h = S_1 + (std S_1 / std S_2) S_2; h -= mean(h); h is overlap-added into the
    output. The sum is divided by the number of windows covering each sample
    (the paper does not; this only removes the taper of the first and last l
    samples). Negated (h follows -bvp) and band-passed. Returns an (N,) pulse in
    relative units.
    """
    x, sos, win = _prepare(rgb, fs, band, source, window_s)
    n = len(x)
    windows = sliding_window_view(x, win, axis=0)  # (M, 3, L) view, M = N - L + 1
    cn = windows / windows.mean(axis=2, keepdims=True)  # (M, 3, L)
    s = np.einsum("kc,mcl->mkl", POS_PROJECTION, cn)  # (M, 2, L)
    alpha = _safe_ratio(s[:, 0].std(axis=1), s[:, 1].std(axis=1))  # (M,)
    h = s[:, 0] + alpha[:, None] * s[:, 1]  # (M, L)
    h -= h.mean(axis=1, keepdims=True)
    starts = np.arange(len(h))
    out = _overlap_add(h, starts, n) / _overlap_add(np.ones_like(h), starts, n)
    return -_bandpass(out, sos)


# --------------------------------------------------------------------------- PBV
def pbv(rgb, fs, signature=P_BV, window_s: float = 1.6, *, band=DEFAULT_BAND,
        source: str | Path | None = None) -> np.ndarray:
    """PBV, blood-volume-pulse signature (de Haan & van Leest, Physiol. Meas. 35(9):1913, 2014).

    C_n: channels normalised by their centred moving mean over ``window_s`` s and
    band-passed. Per window of ``window_s`` s (stride 1): Q = C_n C_n^T (3 x 3);
    W = P_bv Q^-1 / (P_bv Q^-1 P_bv^T), the weights with unit gain along the
    signature and least output energy otherwise; s = W C_n; windows overlap-added
    (divided by their coverage). The signature is the fixed ``signature``
    normalised to unit length (not estimated from the data). Negated (the pixel
    pulse is -bvp along P_bv) and band-passed. Returns an (N,) pulse in relative units.
    """
    x, sos, win = _prepare(rgb, fs, band, source, window_s)
    sig = np.asarray(signature, dtype=np.float64)
    if sig.shape != (3,) or not np.all(np.isfinite(sig)) or np.linalg.norm(sig) == 0:
        raise DataError(source, f"PBV signature must be 3 finite numbers, not all 0; got {signature!r}")
    sig = sig / np.linalg.norm(sig)
    n = len(x)
    cn = _bandpass(x / _moving_mean(x, win) - 1.0, sos, axis=0)  # (N, 3)
    windows = sliding_window_view(cn, win, axis=0)  # (M, 3, L)
    q = np.einsum("mcl,mdl->mcd", windows, windows)  # (M, 3, 3)
    # A tiny ridge keeps Q invertible in windows where two channels are (nearly) identical.
    ridge = 1e-9 * np.trace(q, axis1=1, axis2=2)[:, None, None] * np.eye(3) + 1e-300 * np.eye(3)
    qinv_p = np.linalg.solve(q + ridge, np.broadcast_to(sig, (len(q), 3))[..., None])[..., 0]  # (M, 3)
    w = qinv_p / (qinv_p @ sig)[:, None]  # (M, 3)
    s = np.einsum("mc,mcl->ml", w, windows)  # (M, L)
    s -= s.mean(axis=1, keepdims=True)
    starts = np.arange(len(s))
    out = _overlap_add(s, starts, n) / _overlap_add(np.ones_like(s), starts, n)
    return -_bandpass(out, sos)


# --------------------------------------------------------------------------- LGI
def lgi(rgb, fs, *, band=DEFAULT_BAND, source: str | Path | None = None) -> np.ndarray:
    """LGI, local group invariance (Pilz, Zaunseder, Krajewski & Blazek, CVPR Workshops 2018).

    SVD of the raw trace matrix C (3 x N) = U S V^T; u_1, the first left singular
    vector, is the dominant (skin-tone) colour direction; P = I - u_1 u_1^T removes
    it, and with it every intensity change along it; the pulse is the G row of
    P C (the toolkits' convention), negated and band-passed. Returns an (N,) pulse
    in digital numbers.
    """
    x, sos, _ = _prepare(rgb, fs, band, source)
    c = x.T  # (3, N)
    u, _, _ = np.linalg.svd(c, full_matrices=False)
    u1 = u[:, 0]
    y = c - np.outer(u1, u1 @ c)  # (I - u1 u1^T) C, without forming the projector
    return -_bandpass(y[1], sos)


# --------------------------------------------------------------------------- OMIT
def omit(rgb, fs, *, band=DEFAULT_BAND, source: str | Path | None = None) -> np.ndarray:
    """OMIT, orthogonal matrix image transformation (Casado & Lopez, Face2PPG, IEEE JBHI 2023).

    QR decomposition of the raw trace matrix C (3 x N) = Q R; q_1, the first column
    of Q, is the direction of the first frame's colour (the skin tone); P = I - q_1
    q_1^T removes it; the pulse is the G row of P C (the toolkits' convention),
    negated and band-passed. Returns an (N,) pulse in digital numbers.
    """
    x, sos, _ = _prepare(rgb, fs, band, source)
    c = x.T  # (3, N)
    q, _ = np.linalg.qr(c)  # q: (3, 3)
    q1 = q[:, 0]
    y = c - np.outer(q1, q1 @ c)
    return -_bandpass(y[1], sos)


# --------------------------------------------------------------------------- from frames
TRACE_METHODS = {"green": green, "ica": ica, "chrom": chrom, "pos": pos, "lgi": lgi,
                 "pbv": pbv, "omit": omit}


def _from_frames(method):
    def run(frames_bgr, fs, *, skin: str = "ycrcb", roi=None,
            source: str | Path | None = None, **kwargs) -> np.ndarray:
        rgb = rgb_traces(frames_bgr, skin=skin, roi=roi, fs=fs, source=source)
        return method(rgb, fs, source=source, **kwargs)

    run.__name__ = run.__qualname__ = f"{method.__name__}_from_frames"
    run.__doc__ = (f"{method.__name__.upper()} on a video: rgb_traces(frames_bgr, skin, roi) then "
                   f"{method.__name__}(rgb, fs).\n\nframes_bgr: (N, H, W, 3) uint8 BGR; fs in Hz; "
                   f"returns the (N,) band-passed pulse, positive with blood volume.")
    return run


# name -> callable(frames_bgr, fs) -> (N,) pulse; what the evaluation runner calls.
CLASSIC_METHODS = {name: _from_frames(fn) for name, fn in TRACE_METHODS.items()}
