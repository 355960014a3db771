"""The EMA teacher (target network) of SSPD's self-distillation (book/method_reference.md §5).

theta_T <- m_k theta_T + (1 - m_k) theta_O after every optimiser step, with the
per-iteration cosine momentum schedule

    m_k = 1 - (1 - m0) (1 + cos(pi k / K)) / 2,   k = 0 .. K-1,  K = total iterations,

so m goes from m0 = 0.9 to almost 1. Faithful to the released code: only
*parameters* are averaged; BatchNorm running buffers are not (the teacher runs
in train mode and keeps its own batch statistics).
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

__all__ = ["ema_momentum", "make_target", "ema_update"]


def ema_momentum(k: int, total: int, m0: float = 0.9) -> float:
    """Momentum m_k of iteration k (0-based) out of ``total`` iterations (cosine m0 -> 1)."""
    if total < 1:
        raise ValueError(f"total iterations must be >= 1, got {total}")
    if not 0 <= k < total:
        raise ValueError(f"iteration k={k} outside 0..{total - 1}")
    if not 0.0 <= m0 <= 1.0:
        raise ValueError(f"m0 must be in [0, 1], got {m0}")
    return 1.0 - (1.0 - m0) * (1.0 + math.cos(math.pi * k / total)) / 2.0


def make_target(online: nn.Module) -> nn.Module:
    """An exact copy of the online model with gradients switched off.

    The copy stays in train mode (its BatchNorm layers use batch statistics, as
    the released code does); callers must never call ``.eval()`` on it during
    training.
    """
    target = copy.deepcopy(online)
    for p in target.parameters():
        p.requires_grad_(False)
    target.train()
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """theta_T <- m theta_T + (1 - m) theta_O for every parameter; buffers untouched.

    ``online`` may be wrapped in DistributedDataParallel; its ``.module`` is used.
    """
    online = getattr(online, "module", online)
    t_params = list(target.parameters())
    o_params = list(online.parameters())
    if len(t_params) != len(o_params):
        raise ValueError("target and online models have different parameter lists")
    for pt, po in zip(t_params, o_params):
        pt.mul_(momentum).add_(po.detach(), alpha=1.0 - momentum)
