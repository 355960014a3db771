"""Evaluation: metrics, versioned protocols, methods and the runner behind ``python -m sspd evaluate``.

Submodules are light to import (no torch): ``metrics``, ``protocol``, ``methods``, ``runner``.
"""
from sspd.evaluate.methods import METHOD_NAMES, get_method
from sspd.evaluate.metrics import bland_altman, summarize
from sspd.evaluate.protocol import PROTOCOLS, Protocol, get_protocol, hr_from_signal
from sspd.evaluate.runner import evaluate, summary_table

__all__ = ["METHOD_NAMES", "get_method", "bland_altman", "summarize", "PROTOCOLS", "Protocol",
           "get_protocol", "hr_from_signal", "evaluate", "summary_table"]
