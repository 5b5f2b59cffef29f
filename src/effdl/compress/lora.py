"""Low-rank adaptation (LoRA) of a linear layer.

`LoRALinear` follows loralib's `lora.Linear` (Hu et al., 2021), the layer the Part 4 notebook uses:
output = x W^T + b + (alpha / r) * x A^T B^T, with A (r, in) Kaiming-uniform(a=sqrt(5)) and B (out, r)
zero-initialised, so the wrapped layer starts out computing exactly what its base layer computes.

Example:
    >>> head = LoRALinear(nn.Linear(512, 10), r=10, alpha=10.0)
    >>> count_parameters(head), count_parameters(head, trainable=True)   # effdl.measure
    (10350, 5220)
"""

import math

import torch
from torch import nn


class LoRALinear(nn.Module):
    """A frozen `nn.Linear` plus a trainable rank-`r` update scaled by `alpha / r`.

    Args:
        base: the layer to adapt. It is kept as `self.base` and all of its parameters
            (weight and bias) are frozen. loralib instead leaves the bias trainable; freezing it
            makes the adapter (A, B) the only trainable part, r * (in + out) parameters.
        r: rank of the update, >= 1.
        alpha: scale numerator; the update is multiplied by alpha / r. loralib's default is 1.

    `merge()` folds the update into `base.weight` (for inference: one matmul instead of three);
    `unmerge()` takes it out again. Train only while unmerged: a merged layer's forward uses
    `base` alone, so A and B receive no gradient.
    """

    def __init__(self, base: nn.Linear, r: int = 10, alpha: float = 1.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}")
        if not isinstance(r, int) or isinstance(r, bool) or r < 1:
            raise ValueError(f"LoRA rank r must be an integer >= 1, got {r!r}")
        if not math.isfinite(alpha) or alpha <= 0:
            raise ValueError(f"LoRA alpha must be a positive number, got {alpha!r}")
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.r = r
        self.alpha = float(alpha)
        self.scaling = self.alpha / r
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, **factory))  # (r, in)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, **factory))  # (out, r)
        # loralib's init: A like nn.Linear's default weight init, B zero so B @ A = 0 at start
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.merged = False

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta_weight(self) -> torch.Tensor:
        """The low-rank update (alpha / r) * B @ A, shape (out, in)."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if self.merged:
            return out
        # (..., in) -> (..., r) -> (..., out): two thin matmuls, never the (out, in) product
        return out + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        """Add the update into base.weight; a no-op if already merged."""
        if not self.merged:
            self.base.weight += self.delta_weight()
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract the update from base.weight again; a no-op if not merged."""
        if self.merged:
            self.base.weight -= self.delta_weight()
            self.merged = False

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha:g}, merged={self.merged}"
