"""Part 3: masked convolutions (SparseConvNet), L1 magnitude pruning, its schedule hook, and one-shot pruning.

Typical use (see workflow/rules/prune.smk for the study)::

    net = SparseConvNet(mode="structured")
    hook = PruningHook("structured", prune_percent=0.1, prune_epochs=[9, 19, 29, 39, 49])
    ...train with hooks=(hook,)...
    slim = effdl.compress.slim.export_slim(net.eval())   # physically smaller dense network, same outputs
"""

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from effdl.models.convnet import CONVNET_LAYERS
from effdl.plan.prune import PRUNE_MODES


def _check_mode(mode):
    if mode not in PRUNE_MODES:
        raise ValueError(f"unknown pruning mode {mode!r}; use one of {PRUNE_MODES}")


class SparseConv2d(nn.Module):
    """Bias-free conv with effective weight `_mask * _weight`; one mask entry per filter or per weight (by `mode`).

    `_weight` is initialised uniform(-1/sqrt(in_channels), +1/sqrt(in_channels)) as in the notebook (not
    nn.Conv2d's default). `_mask` is a buffer, so it is saved with the model and never touched by the
    optimizer; `_target_sparsity` (float64 scalar buffer) is the cumulative fraction the pruning calls have
    asked for, so `filter_l1_pruning`/`unstructured_pruning` stay exact across a checkpoint resume.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=1, mode="structured"):
        super().__init__()
        _check_mode(mode)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding, self.mode = kernel_size, stride, padding, mode
        bound = 1.0 / math.sqrt(in_channels)
        self._weight = nn.Parameter(
            torch.empty(out_channels, in_channels, kernel_size, kernel_size).uniform_(-bound, bound)
        )
        mask_shape = (out_channels,) if mode == "structured" else self._weight.shape
        self.register_buffer("_mask", torch.ones(mask_shape))
        self.register_buffer("_target_sparsity", torch.zeros((), dtype=torch.float64))

    @property
    def weight(self):
        """The masked weight (out, in, k, k) used by forward; pruned entries are exactly zero."""
        if self.mode == "structured":
            return self._weight * self._mask.view(-1, 1, 1, 1)
        return self._weight * self._mask

    def forward(self, x):
        return F.conv2d(x, self.weight, stride=self.stride, padding=self.padding)

    def extra_repr(self):
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, mode={self.mode!r}"
        )


def sparse_conv_block(in_channels, out_channels, kernel_size=3, stride=1, padding=1, mode="structured"):
    """SparseConv2d -> BatchNorm2d -> ReLU, the masked twin of `effdl.models.conv_block`."""
    return nn.Sequential(
        SparseConv2d(in_channels, out_channels, kernel_size, stride, padding, mode=mode),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SparseConvNet(nn.Module):
    """ConvNet (9 conv blocks, global average pool, Linear(256, 10)) with every Conv2d replaced by SparseConv2d."""

    def __init__(self, mode="structured", num_classes=10):
        super().__init__()
        _check_mode(mode)
        self.mode = mode
        blocks = [sparse_conv_block(cin, cout, stride=s, mode=mode) for cin, cout, s in CONVNET_LAYERS]
        self.model = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Linear(CONVNET_LAYERS[-1][1], num_classes)

    def forward(self, x):
        x = self.model(x)  # (B, 256, 1, 1)
        return self.classifier(torch.flatten(x, 1))


def get_sparse_conv2d_layers(net):
    """All SparseConv2d modules of `net` in forward (registration) order."""
    return [m for m in net.modules() if isinstance(m, SparseConv2d)]


def _layers_of_mode(net, mode):
    layers = get_sparse_conv2d_layers(net)
    if not layers:
        raise ValueError(f"{type(net).__name__} has no SparseConv2d layers; build it as SparseConvNet(mode={mode!r})")
    wrong = {layer.mode for layer in layers} - {mode}
    if wrong:
        raise ValueError(
            f"{mode} pruning needs SparseConv2d(mode={mode!r}) layers, found mode {sorted(wrong)}; "
            f"build the model as SparseConvNet(mode={mode!r})"
        )
    return layers


def _importance(layer):
    """L1 magnitude per mask entry: per filter (sum |w| over in x k x k, Li et al.) or per weight."""
    if layer.mode == "structured":
        return layer._weight.detach().abs().sum(dim=(1, 2, 3))
    return layer._weight.detach().abs().flatten()


@torch.no_grad()
def _prune_layer_to(layer, target_sparsity):
    """Zero the mask of the smallest not-yet-pruned entries until round(target * total) entries are pruned."""
    mask = layer._mask.reshape(-1).clone()  # logical order; a channels_last mask cannot be viewed flat
    total = mask.numel()
    num_target = round(target_sparsity * total)  # Python round (half to even) as the notebook
    num_new = num_target - (total - int(torch.count_nonzero(mask)))
    if num_new > 0:
        # Already-pruned entries rank last: their raw weights may be small (weight decay) and must not be re-picked.
        scores = _importance(layer).masked_fill(mask == 0, math.inf)
        mask[torch.argsort(scores, stable=True)[:num_new]] = 0
        layer._mask.copy_(mask.view(layer._mask.shape))
    layer._target_sparsity.fill_(target_sparsity)
    # Zero the raw weight too, so checkpoints hold zeros (the mask alone already zeroes the effective weight).
    layer._weight.copy_(layer.weight)


def layer_sparsity(layer):
    """Fraction of the layer's weights that are pruned (masked to zero)."""
    total = layer._mask.numel()
    return (total - int(torch.count_nonzero(layer._mask))) / total  # exact ratio of ints, not a float32 mean


def model_sparsity(net):
    """Fraction of all SparseConv2d weights that are pruned (weighted by layer size; the Linear is not counted)."""
    layers = get_sparse_conv2d_layers(net)
    # structured masks have one entry per filter, so weigh each layer's fraction by its weight count
    pruned = sum(layer_sparsity(layer) * layer._weight.numel() for layer in layers)
    return pruned / sum(layer._weight.numel() for layer in layers)


def _prune_additional(net, prune_percent, mode):
    if not 0.0 <= prune_percent <= 1.0:
        raise ValueError(f"prune_percent must be a fraction in [0, 1], got {prune_percent!r}")
    layers = _layers_of_mode(net, mode)
    for layer in layers:
        target = round(layer._target_sparsity.item() + prune_percent, 12)  # drop float noise: 0.1 + 0.2 -> 0.3
        if target > 1.0 + 1e-9:
            raise ValueError(
                f"pruning another {prune_percent} would ask for {target:.3f} of a layer's weights; "
                "lower prune_percent or the number of pruning events"
            )
        _prune_layer_to(layer, min(target, 1.0))
    return [layer_sparsity(layer) for layer in layers]


def filter_l1_pruning(net, prune_percent):
    """Structured pruning: in every SparseConv2d, mask another `prune_percent` of its filters, smallest L1 first.

    Args:
        net: a model whose SparseConv2d layers are all mode="structured" (the Linear is never pruned).
        prune_percent: fraction of each layer's *total* filters to add per call (0.1 = 10%).
    Returns:
        per-layer sparsity after the call, in layer order.
    Counting is cumulative: after k calls a layer of N filters has exactly round(k * prune_percent * N)
    pruned filters (the notebook's per-call rounding, round(0.1 * 32) = 3 five times, ends at 46.9%).
    Example: 5 calls with 0.1 leave every layer at exactly 50%.
    """
    return _prune_additional(net, prune_percent, "structured")


def unstructured_pruning(net, prune_percent):
    """Unstructured pruning: in every SparseConv2d, mask another `prune_percent` of its weights, smallest |w| first.

    Same contract as `filter_l1_pruning` (layer-wise, cumulative exact counts, Linear untouched), with one
    mask entry per weight; the layers must be mode="unstructured".
    """
    return _prune_additional(net, prune_percent, "unstructured")


PRUNERS = {"structured": filter_l1_pruning, "unstructured": unstructured_pruning}


def prune_to_sparsity(net, sparsity):
    """Prune every SparseConv2d of `net` in place to exactly round(sparsity * total) entries; returns `net`."""
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be a fraction in [0, 1], got {sparsity!r}")
    for layer in get_sparse_conv2d_layers(net):
        if sparsity < layer._target_sparsity.item():
            raise ValueError(
                f"layer is already pruned to {layer._target_sparsity.item():.3f} > {sparsity}; pruning never regrows"
            )
        _prune_layer_to(layer, sparsity)
    return net


class PruningHook:
    """Engine hook: after training epoch `e` (0-based), prune another `prune_percent` when e is in `prune_epochs`.

    The hook itself is stateless: masks and cumulative targets live in the model's buffers, so a run
    resumed from a checkpoint continues the schedule exactly. Every epoch it returns the columns
    `prune_event` (bool), `sparsity` (all conv weights) and `sparsity_conv1..9` (per layer).
    """

    def __init__(self, mode, prune_percent, prune_epochs):
        _check_mode(mode)
        if not 0.0 < prune_percent <= 1.0:
            raise ValueError(f"prune_percent must be in (0, 1], got {prune_percent!r}")
        epochs = sorted(set(int(e) for e in prune_epochs))
        if any(e < 0 for e in epochs):
            raise ValueError(f"prune_epochs are 0-based epoch indices (>= 0), got {list(prune_epochs)}")
        if len(epochs) * prune_percent > 1.0 + 1e-9:
            raise ValueError(
                f"{len(epochs)} events x {prune_percent} exceeds 100% sparsity; "
                "shorten prune_epochs or lower prune_percent"
            )
        self.mode, self.prune_percent, self.prune_epochs = mode, prune_percent, tuple(epochs)

    def after_train_epoch(self, epoch, model):
        """Prune if `epoch` (0-based index of the epoch just trained) is scheduled; return the sparsity columns."""
        layers = _layers_of_mode(model, self.mode)
        event = epoch in self.prune_epochs
        if event:
            PRUNERS[self.mode](model, self.prune_percent)
        row = {"prune_event": event, "sparsity": model_sparsity(model)}
        row.update({f"sparsity_conv{i}": layer_sparsity(layer) for i, layer in enumerate(layers, 1)})
        return row


@torch.no_grad()
def sparse_from_dense(dense, mode):
    """An unpruned SparseConvNet(mode) carrying `dense`'s weights (a ConvNet or a net with its conv/BN/Linear order)."""
    net = SparseConvNet(mode=mode, num_classes=_last_linear(dense).out_features)
    convs = [m for m in dense.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in dense.modules() if isinstance(m, nn.BatchNorm2d)]
    sparse_convs = get_sparse_conv2d_layers(net)
    sparse_bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    if len(convs) != len(sparse_convs) or len(bns) != len(sparse_bns):
        raise ValueError(f"{type(dense).__name__} does not have ConvNet's 9 conv + 9 BatchNorm layers")
    for conv, sparse_conv in zip(convs, sparse_convs):
        if conv.weight.shape != sparse_conv._weight.shape or conv.bias is not None:
            raise ValueError(f"conv shape {tuple(conv.weight.shape)} does not match ConvNet's layer table")
        sparse_conv._weight.copy_(conv.weight)
    for bn, sparse_bn in zip(bns, sparse_bns):
        sparse_bn.load_state_dict(bn.state_dict())
    net.classifier.load_state_dict(_last_linear(dense).state_dict())
    return net.to(next(dense.parameters()).device)


def _last_linear(net):
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(net).__name__} has no Linear classifier")
    return linears[-1]


def oneshot_prune(model, mode, sparsity):
    """Post-training one-shot pruning: a pruned SparseConvNet copy of a trained ConvNet/SparseConvNet, no retraining."""
    _check_mode(mode)
    if isinstance(model, SparseConvNet) and model.mode == mode:
        net = copy.deepcopy(model)
    else:
        net = sparse_from_dense(model, mode)
    return prune_to_sparsity(net, sparsity).train(model.training)
