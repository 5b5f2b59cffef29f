"""Slim export: a structured-pruned SparseConvNet rebuilt as a physically smaller dense ConvNet, same outputs."""

import torch
import torch.nn.functional as F
from torch import nn

from effdl.compress.prune import SparseConv2d, SparseConvNet
from effdl.plan.layers import CONVNET_LAYERS


class ConstantInputConv2d(nn.Conv2d):
    """Bias-free Conv2d plus the exact contribution of removed input channels that carried a constant value.

    `constant_kernel` (out, 1, k, k) is sum_p value_p * W[:, p] over the removed channels p; convolving a
    ones image with it under the same zero padding reproduces their border-dependent contribution.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=1):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.register_buffer("constant_kernel", torch.zeros(out_channels, 1, kernel_size, kernel_size))

    def forward(self, x):
        ones = x.new_ones(1, 1, *x.shape[-2:])  # one image, broadcast over the batch
        correction = F.conv2d(ones, self.constant_kernel, stride=self.stride, padding=self.padding)
        return super().forward(x) + correction


class SlimConvNet(nn.Module):
    """ConvNet with per-layer widths: the physically smaller dense network a structured-pruned SparseConvNet exports to.

    `constant_layers[i]` marks conv i as a ConstantInputConv2d (its predecessor had pruned channels whose
    output ReLU(BN(0)) is a nonzero constant).
    """

    def __init__(self, widths, constant_layers=None, num_classes=10, in_channels=3):
        super().__init__()
        if len(widths) != len(CONVNET_LAYERS) or min(widths) < 1:
            raise ValueError(f"widths must be {len(CONVNET_LAYERS)} positive ints, got {list(widths)}")
        constant_layers = constant_layers or [False] * len(widths)
        self.widths, self.constant_layers = [int(w) for w in widths], [bool(c) for c in constant_layers]
        blocks, cin = [], in_channels
        for cout, (_, _, stride), constant in zip(self.widths, CONVNET_LAYERS, self.constant_layers):
            conv_cls = ConstantInputConv2d if constant else nn.Conv2d
            conv = conv_cls(cin, cout, 3, stride=stride, padding=1, **({} if constant else {"bias": False}))
            blocks.append(nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)))
            cin = cout
        self.model = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.model(x)  # (B, widths[-1], 1, 1)
        return self.classifier(torch.flatten(x, 1))

    def arch(self):
        """Constructor kwargs, stored next to the state dict so the file rebuilds the network."""
        return {
            "widths": self.widths,
            "constant_layers": self.constant_layers,
            "num_classes": self.classifier.out_features,
        }


def _bn_eval_of_zero(bn):
    """BatchNorm2d's eval-mode output for all-zero input channels: beta - gamma * mean / sqrt(var + eps)."""
    return bn.bias - bn.weight * bn.running_mean / torch.sqrt(bn.running_var + bn.eps)


def _conv_bn_pairs(net):
    pairs = []
    for block in net.model:
        if isinstance(block, nn.Sequential):
            conv, bn = block[0], block[1]
            if not isinstance(conv, SparseConv2d) or not isinstance(bn, nn.BatchNorm2d):
                raise ValueError("export_slim expects blocks of SparseConv2d -> BatchNorm2d -> ReLU (a SparseConvNet)")
            pairs.append((conv, bn))
    return pairs


@torch.no_grad()
def export_slim(net):
    """Export a structured-pruned SparseConvNet to a SlimConvNet with pruned filters physically removed.

    Removed: pruned filters, the matching BatchNorm entries and the matching input channels of the next
    conv. A pruned channel is not zero after BatchNorm: in eval mode it outputs the constant
    ReLU(beta - gamma * running_mean / sqrt(running_var + eps)). That constant is folded into the next
    layer exactly: into a ConstantInputConv2d's `constant_kernel` (zero padding makes the contribution
    border-dependent, so a per-channel bias would be wrong at the image edges), and into the classifier's
    bias after the last conv (global average pooling of a constant is that constant). The result matches
    `net.eval()` up to float rounding; it equals the eval-mode network, not the train-mode one.
    """
    if not isinstance(net, SparseConvNet) or net.mode != "structured":
        raise ValueError("export_slim needs a SparseConvNet(mode='structured'); unstructured sparsity cannot be sliced")
    pairs = _conv_bn_pairs(net)
    keeps = [conv._mask.bool() for conv, _ in pairs]
    if any(int(k.sum()) == 0 for k in keeps):
        raise ValueError("a layer has every filter pruned; the slim network would be disconnected (lower the sparsity)")
    constants = [torch.relu(_bn_eval_of_zero(bn))[~keep] for (_, bn), keep in zip(pairs, keeps)]
    constant_layers = [False] + [bool((c != 0).any()) for c in constants[:-1]]
    slim = SlimConvNet([int(k.sum()) for k in keeps], constant_layers, num_classes=net.classifier.out_features)
    slim_pairs = [(block[0], block[1]) for block in slim.model if isinstance(block, nn.Sequential)]
    keep_in = torch.ones(pairs[0][0].in_channels, dtype=torch.bool, device=keeps[0].device)
    for i, ((conv, bn), (slim_conv, slim_bn), keep) in enumerate(zip(pairs, slim_pairs, keeps)):
        weight = conv.weight[keep]  # (kept_out, in, k, k), masked
        slim_conv.weight.copy_(weight[:, keep_in])
        if constant_layers[i]:
            # (kept_out, removed_in, k, k) x (removed_in,) -> (kept_out, 1, k, k)
            kernel = torch.einsum("oihw,i->ohw", weight[:, ~keep_in], constants[i - 1])
            slim_conv.constant_kernel.copy_(kernel.unsqueeze(1))
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(slim_bn, name).copy_(getattr(bn, name)[keep])
        slim_bn.num_batches_tracked.copy_(bn.num_batches_tracked)
        slim_bn.eps, slim_bn.momentum = bn.eps, bn.momentum
        keep_in = keep
    fc_weight = net.classifier.weight  # (classes, 256)
    slim.classifier.weight.copy_(fc_weight[:, keep_in])
    slim.classifier.bias.copy_(net.classifier.bias + fc_weight[:, ~keep_in] @ constants[-1])
    return slim.to(fc_weight.device).train(net.training)


def slim_checkpoint(slim):
    """What an exported slim model file holds: its constructor kwargs and its state dict (CPU tensors)."""
    return {"arch": slim.arch(), "state_dict": {k: v.detach().cpu() for k, v in slim.state_dict().items()}}


def slim_from_checkpoint(checkpoint):
    """Rebuild a SlimConvNet from `slim_checkpoint`'s dict."""
    slim = SlimConvNet(**checkpoint["arch"])
    slim.load_state_dict(checkpoint["state_dict"])
    return slim
