"""The SSPD network: input BatchNorm, 3-D conv backbone, rPPG predictor and S3M.

Reads top to bottom in the order data flows (book/method_reference.md §3). Names follow the
paper's overview figure; module *attribute* names follow the authors' released
checkpoint so that ``SSPD(s3m=False).load_state_dict(official, strict=True)``
works without any key mapping:

    x (B,3,T,128,128) frame differences, raw scale (about ±255), BGR
      -> BN                                   input BatchNorm3d(3)
      -> backbone_step1..3  (ConvBlock)       conv-BN-tanh, conv-BN-tanh, 2x2 spatial avg-pool
      -> backbone_step4     (FinalConvBlock)  conv-BN-tanh           F:  (B,256,T,8,8)
      -> global average pool over 8x8                                z0: (B,256,T)
    sg(F) -> predictor      (Predictor)                              y:  (B,2*floor(T/2))
    z0    -> s3m            (S3M: TS blocks k=9,7,5, training only)  H(l): (B,N_l,256)

Time is never strided in the backbone and every layer is stride 1 in time, so
nothing here depends on T or on the frame rate.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class SSPDOutput:
    """What one forward pass returns.

    rppg:   (B, 2*floor(T/2)) predicted rPPG waveform, unbounded, arbitrary polarity.
    tokens: list of H(l), each (B, N_l, dim), one per TS block; empty when the
            S3M is absent or skipped (inference).
    z0:     (B, dim, T) globally pooled backbone features (input of the S3M).
    """

    rppg: torch.Tensor
    tokens: list[torch.Tensor] = field(default_factory=list)
    z0: torch.Tensor | None = None


# ----------------------------------------------------------------------------
# Backbone


class ConvBlock(nn.Module):
    """ConvBlock1..3: two (conv, BN, tanh) stages then a 2x2 spatial average pool.

    Conv_Layer1 is 3x5x5, Conv_Layer2 is 3x3x3; temporal padding 1, spatial
    padding 0 ("valid"), no bias (the BatchNorm that follows has one).
    (B,c_in,T,H,W) -> (B,c_out,T,floor((H-6)/2),floor((W-6)/2))
    """

    def __init__(self, c_in: int, c_mid: int, c_out: int):
        super().__init__()
        self.Conv_Layer1 = nn.Conv3d(c_in, c_mid, (3, 5, 5), padding=(1, 0, 0), bias=False)
        self.BN1 = nn.BatchNorm3d(c_mid)
        self.Conv_Layer2 = nn.Conv3d(c_mid, c_out, (3, 3, 3), padding=(1, 0, 0), bias=False)
        self.BN2 = nn.BatchNorm3d(c_out)
        self.pool = nn.AvgPool3d((1, 2, 2), stride=(1, 2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.BN1(self.Conv_Layer1(x)))  # H -> H-4
        x = torch.tanh(self.BN2(self.Conv_Layer2(x)))  # H-4 -> H-6
        return self.pool(x)                             # -> floor((H-6)/2)


class FinalConvBlock(nn.Module):
    """ConvBlock4: one 3x3x3 (conv, BN, tanh), 64 -> 256 channels, 10x10 -> 8x8, no pool."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.Conv_Layer1 = nn.Conv3d(c_in, c_out, (3, 3, 3), padding=(1, 0, 0), bias=False)
        self.BN1 = nn.BatchNorm3d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.BN1(self.Conv_Layer1(x)))


# ----------------------------------------------------------------------------
# Predictor (rPPG head)


class Predictor(nn.Module):
    """rPPG head on the pre-GAP map F: (B,256,T,8,8) -> y (B, 2*floor(T/2)).

    Halves time with a 2x2x2 average pool and restores it with nearest x2
    upsampling, so an odd T loses its last sample (quirk §13.4).
    """

    def __init__(self, c_in: int = 256, width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv3d(c_in, width, (3, 1, 1), padding=(1, 0, 0), bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.pool1 = nn.AvgPool3d(2, stride=2)
        self.conv2 = nn.Conv3d(width, width, (3, 3, 3), padding=(1, 0, 0), bias=False)
        self.bn2 = nn.BatchNorm3d(width)
        self.up = nn.Upsample(scale_factor=(2, 1, 1), mode="nearest")
        self.conv3 = nn.Conv3d(width, width, (3, 1, 1), padding=(1, 0, 0), bias=False)
        self.bn3 = nn.BatchNorm3d(width)
        self.pool3 = nn.AvgPool3d((1, 2, 2), stride=(1, 2, 2))
        self.conv4 = nn.Conv3d(width, 1, 1, bias=True)  # the only conv with a bias

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.bn1(self.conv1(f)))  # (B,64,T,8,8)
        x = self.pool1(x)                        # (B,64,T//2,4,4)
        x = torch.tanh(self.bn2(self.conv2(x)))  # (B,64,T//2,2,2)
        x = self.up(x)                           # (B,64,2*(T//2),2,2)
        x = torch.tanh(self.bn3(self.conv3(x)))  # (B,64,2*(T//2),2,2)
        x = self.pool3(x)                        # (B,64,2*(T//2),1,1)
        y = self.conv4(x)                        # (B,1,2*(T//2),1,1)
        return y.flatten(1)                      # (B,2*(T//2))


# ----------------------------------------------------------------------------
# S3M: TS blocks (training auxiliary)


class TSBlock(nn.Module):
    """One Temporal-Similarity block: tokenizer, linear (un-normalised) attention, tanh projection.

    Input z (B,dim,N_prev); returns (H, z_next):
      H      (B,N,dim) tokens, N = N_prev - kernel + 1; the SSM of this level is built from H;
      z_next (B,dim,N) = NearestResample(z, N) + H^T, the input of the next block.

    Faithful to the released code (§3.3): attention scores are divided by the
    token count N (not sqrt(d)) and there is no softmax.
    """

    def __init__(self, kernel: int, dim: int = 256, heads: int = 2):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} is not divisible by heads={heads}")
        self.kernel, self.dim, self.heads = kernel, dim, heads
        self.tokenizer = nn.Conv1d(dim, dim, kernel, stride=1, padding=0, bias=True)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, D, n_prev = z.shape
        e = self.norm(self.tokenizer(z).transpose(1, 2))  # E: (B,N,D)
        N = e.shape[1]
        hd = D // self.heads
        # (B,N,D) -> (B,heads,N,hd)
        q = self.q(e).view(B, N, self.heads, hd).transpose(1, 2)
        k = self.k(e).view(B, N, self.heads, hd).transpose(1, 2)
        v = self.v(e).view(B, N, self.heads, hd).transpose(1, 2)
        a = q @ k.transpose(-2, -1) / N                   # A: (B,heads,N,N), no softmax
        o = (a @ v).transpose(1, 2).reshape(B, N, D)      # O: (B,N,D), heads concatenated
        h = torch.tanh(self.proj(o))                      # H: (B,N,D)
        # residual: nearest resampling of the input to N, index floor(i*N_prev/N)
        idx = torch.arange(N, device=z.device) * n_prev // N
        z_next = z.index_select(2, idx) + h.transpose(1, 2)  # (B,D,N)
        return h, z_next


class S3M(nn.Module):
    """A stack of TS blocks in series (kernels 9, 7, 5 -> N = T-8, T-14, T-18).

    z0 (B,dim,T) -> [H(1), ..., H(L)], H(l): (B,N_l,dim). The last block's
    residual output is discarded.
    """

    def __init__(self, kernels: tuple[int, ...] = (9, 7, 5), dim: int = 256, heads: int = 2):
        super().__init__()
        self.blocks = nn.ModuleList(TSBlock(k, dim, heads) for k in kernels)

    def forward(self, z0: torch.Tensor) -> list[torch.Tensor]:
        need = sum(b.kernel - 1 for b in self.blocks) + 1
        if z0.shape[-1] < need:
            raise ValueError(f"S3M needs at least {need} time steps, got {z0.shape[-1]}")
        tokens, z = [], z0
        for block in self.blocks:
            h, z = block(z)
            tokens.append(h)
        return tokens


# ----------------------------------------------------------------------------
# The whole model


class SSPD(nn.Module):
    """SSPD network. ``SSPD(s3m=False)`` is the inference model of the released checkpoint.

    forward(x): x (B,3,T,128,128) float32 frame differences -> SSPDOutput.
    The predictor sees the *detached* pre-GAP map sg(F): the rPPG loss trains the
    predictor only, the backbone learns only from the self-similarity losses (§3.2).
    """

    def __init__(self, s3m: bool = True, kernels: tuple[int, ...] = (9, 7, 5), dim: int = 256,
                 heads: int = 2):
        super().__init__()
        self.BN = nn.BatchNorm3d(3)
        self.backbone_step1 = ConvBlock(3, 8, 16)     # 128 -> 61
        self.backbone_step2 = ConvBlock(16, 16, 32)   # 61 -> 27
        self.backbone_step3 = ConvBlock(32, 32, 64)   # 27 -> 10
        self.backbone_step4 = FinalConvBlock(64, dim)  # 10 -> 8
        self.predictor = Predictor(dim, 64)
        if s3m:
            self.s3m = S3M(tuple(kernels), dim, heads)
        else:
            self.s3m = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-normal conv/linear weights, zero biases; norm weight 1, bias 0 (§3)."""
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv3d, nn.Linear)):
                nn.init.xavier_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm3d, nn.LayerNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x (B,3,T,128,128) -> pre-GAP map F (B,dim,T,8,8)."""
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"expected input (B,3,T,H,W), got {tuple(x.shape)}")
        x = self.BN(x)
        x = self.backbone_step1(x)
        x = self.backbone_step2(x)
        x = self.backbone_step3(x)
        return self.backbone_step4(x)

    def forward(self, x: torch.Tensor, with_s3m: bool = True) -> SSPDOutput:
        f = self.features(x)                 # F:  (B,256,T,8,8)
        z0 = f.mean(dim=(3, 4))              # z0: (B,256,T), the 8x8 global average pool
        rppg = self.predictor(f.detach())    # y = Predictor(sg(F)): (B,2*(T//2))
        tokens = self.s3m(z0) if (self.s3m is not None and with_s3m) else []
        return SSPDOutput(rppg=rppg, tokens=tokens, z0=z0)


def inference_state_dict(model: SSPD) -> dict[str, torch.Tensor]:
    """The model's state dict without the training-only ``s3m.*`` entries.

    Its keys equal those of the authors' released checkpoint, so it loads into
    ``SSPD(s3m=False)`` with ``strict=True``.
    """
    return {k: v for k, v in model.state_dict().items() if not k.startswith("s3m.")}


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (BatchNorm buffers excluded)."""
    return sum(p.numel() for p in model.parameters())
