"""The seed's models: the 9-layer CIFAR-10 ConvNet (Parts 1-3) and the MNIST MLP (Part 2)."""

from __future__ import annotations

import torch
from torch import nn

from effdl.plan.layers import CONVNET_LAYERS  # the layer table, shared with effdl.compress


def conv_block(
    in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, padding: int = 1
) -> nn.Sequential:
    """Conv2d (no bias) -> BatchNorm2d -> ReLU, as the problem set's `conv_block`."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ConvNet(nn.Module):
    """The problem set's 9-layer CIFAR-10 ConvNet (1,212,778 parameters); spatial size 32 -> 16 -> 8."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.model = nn.Sequential(
            *[conv_block(cin, cout, stride=stride) for cin, cout, stride in CONVNET_LAYERS],
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Linear(256, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.model(x)  # (B, 256, 1, 1)
        return self.classifier(h.flatten(1))


class MNISTNet(nn.Module):
    """The problem set's MNIST MLP (Part 2): 784 -> hidden -> 10 with log-softmax output."""

    def __init__(self, hidden: int = 128):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc1(x.flatten(1)))
        return torch.log_softmax(self.fc2(h), dim=1)
