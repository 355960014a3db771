"""Label-free SSPD training (EMA-teacher self-distillation).

    from sspd.train import TrainConfig, train
    result = train(TrainConfig.preset_config("cpu", data="SynUBFC"), "runs/cpu")

``python -m sspd train --preset cpu --data SynUBFC --out runs/cpu`` does the same.
"""
from __future__ import annotations

__all__ = ["TrainConfig", "train", "TrainResult", "NonFiniteLossError", "ema_momentum",
           "ema_update", "make_target", "preset_config"]


def __getattr__(name):  # lazy: importing sspd.train must not pull in the data stack
    if name in ("TrainConfig", "preset_config"):
        from sspd.train import config
        return getattr(config, name)
    if name in ("train", "TrainResult", "NonFiniteLossError"):
        from sspd.train import loop
        return getattr(loop, name)
    if name in ("ema_momentum", "ema_update", "make_target"):
        from sspd.train import ema
        return getattr(ema, name)
    raise AttributeError(f"module 'sspd.train' has no attribute {name!r}")
