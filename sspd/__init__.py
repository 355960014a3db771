"""SSPD: Self-similarity Prior Distillation for unsupervised remote photoplethysmography.

A reproducible study package (Zhang et al., IEEE TMM 2024, arXiv 2311.05100):

- :mod:`sspd.data` — synthetic face videos with known ground truth, readers for
  UBFC-rPPG / PURE / VIPL-HR, face preprocessing and the clip cache;
- :mod:`sspd.signal` — filters, spectra and heart-rate estimators;
- :mod:`sspd.baselines` — classic unsupervised rPPG methods (GREEN ... OMIT);
- :mod:`sspd.model`, :mod:`sspd.losses`, :mod:`sspd.augment` — the SSPD method;
- :mod:`sspd.train` — label-free self-distillation training;
- :mod:`sspd.evaluate` — metrics, protocols and result tables;
- :mod:`sspd.inference` — a trained model on any face video.
"""
__version__ = "0.1.0"
