"""Label-free SSPD training (EMA-teacher self-distillation).

    from sspd.train import TrainConfig, train
    result = train(TrainConfig.from_recipe("study", data="easy-full"), "runs/study-easy")

``python -m sspd train --recipe study --data easy-full --out runs/study-easy`` does the same.
"""
from __future__ import annotations

__all__ = ["TrainConfig", "RECIPES", "recipe", "train", "TrainResult", "NonFiniteLossError",
           "ema_momentum", "ema_update", "make_target"]


def __getattr__(name):  # lazy: importing sspd.train must not pull in the data stack
    if name in ("TrainConfig", "RECIPES", "recipe"):
        from sspd.train import config
        return getattr(config, name)
    if name in ("train", "TrainResult", "NonFiniteLossError"):
        from sspd.train import loop
        return getattr(loop, name)
    if name in ("ema_momentum", "ema_update", "make_target"):
        from sspd.train import ema
        return getattr(ema, name)
    raise AttributeError(f"module 'sspd.train' has no attribute {name!r}")
