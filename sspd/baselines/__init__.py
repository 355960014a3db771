"""Classic unsupervised rPPG methods (GREEN, ICA, CHROM, PBV, POS, LGI, OMIT).

``rgb_traces`` turns a BGR video into (N, 3) RGB skin-pixel means; each method maps
that trace and its sampling rate to a band-passed pulse that rises with blood
volume; ``CLASSIC_METHODS`` maps a name to ``fn(frames_bgr, fs) -> pulse``.
"""
from sspd.baselines.classic import (CLASSIC_METHODS, DEFAULT_BAND, P_BV, TRACE_METHODS, chrom,
                                    green, ica, jade, lgi, omit, pbv, pos)
from sspd.baselines.traces import rgb_traces, validate_traces

__all__ = ["CLASSIC_METHODS", "TRACE_METHODS", "DEFAULT_BAND", "P_BV", "rgb_traces",
           "validate_traces", "green", "ica", "jade", "chrom", "pos", "lgi", "pbv", "omit"]
