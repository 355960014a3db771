"""The SSPD network, its self-similarity maps/waves, and loading the authors' weights.

- :mod:`sspd.model.network` — ``SSPD`` (input BN, backbone, predictor, S3M of TS blocks), ``SSPDOutput``;
- :mod:`sspd.model.similarity` — self-similarity maps and waves (torch and numpy);
- :mod:`sspd.model.checkpoint` — ``load_official_checkpoint`` for the released ``ubfc.pth``.
"""
from sspd.model.checkpoint import bgr_to_rgb_state_dict, load_inference_state, load_official_checkpoint
from sspd.model.network import (S3M, SSPD, ConvBlock, FinalConvBlock, Predictor, SSPDOutput, TSBlock,
                                count_parameters, inference_state_dict)
from sspd.model.similarity import self_similarity_map, self_similarity_wave, ssm_np, ssw_np

__all__ = ["SSPD", "SSPDOutput", "ConvBlock", "FinalConvBlock", "Predictor", "TSBlock", "S3M",
           "count_parameters", "inference_state_dict", "load_official_checkpoint", "load_inference_state",
           "bgr_to_rgb_state_dict", "self_similarity_map", "self_similarity_wave", "ssm_np", "ssw_np"]
