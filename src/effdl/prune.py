"""Part 3: masked convolutions, L1 magnitude pruning and its schedule hook, slim export, cost accounting.

Typical use (see workflow/rules/prune.smk for the study)::

    net = SparseConvNet(mode="structured")
    hook = PruningHook("structured", prune_percent=0.1, prune_epochs=[9, 19, 29, 39, 49])
    ...train with hooks=(hook,)...
    slim = export_slim(net.eval())          # physically smaller dense network, same outputs
"""

import copy
import io
import math
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from effdl.models import CONVNET_LAYERS

PRUNE_MODES = ("structured", "unstructured")


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


def count_parameters(model, nonzero_only=False):
    """Number of parameters; with nonzero_only, count the nonzero entries of effective (masked) weights instead."""
    if not nonzero_only:
        return sum(p.numel() for p in model.parameters())
    total = 0
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            tensor = module.weight if isinstance(module, SparseConv2d) and name == "_weight" else p
            total += int(torch.count_nonzero(tensor.detach()))
    return total


@torch.no_grad()
def count_macs(model, input_shape=(1, 3, 32, 32), nonzero_only=False):
    """Multiply-accumulates of one forward pass (conv and linear layers; 1 MAC = 2 FLOPs) on an input of `input_shape`.

    Dense counting charges every weight, zero or not, as dense kernels do; nonzero_only charges only nonzero
    effective weights (the ideal sparse kernel, ignoring border padding).
    """
    macs = []

    def conv_hook(module, inputs, output):
        weight = module.weight
        per_position = int(torch.count_nonzero(weight)) if nonzero_only else weight.numel()
        macs.append(output.shape[0] * output.shape[2] * output.shape[3] * per_position)
        if isinstance(module, ConstantInputConv2d):  # the ones-image correction, once per forward
            macs.append(output.shape[2] * output.shape[3] * module.constant_kernel.numel())

    def linear_hook(module, inputs, output):
        per_row = int(torch.count_nonzero(module.weight)) if nonzero_only else module.weight.numel()
        macs.append(output.numel() // module.out_features * per_row)

    handles = []
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, SparseConv2d)):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    was_training = model.training
    try:
        model.eval()(torch.zeros(input_shape, device=next(model.parameters()).device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return sum(macs)


def csr_nbytes(weight, value_bytes=4, index_bytes=8):
    """Bytes of a CSR copy of `weight` as (out, in*k*k): nnz values, nnz column indices, rows + 1 row pointers.

    Defaults match torch's `to_sparse_csr()` for float32 (int64 indices).
    """
    matrix = weight.detach().reshape(weight.shape[0], -1)
    nnz = int(torch.count_nonzero(matrix))
    return nnz * (value_bytes + index_bytes) + (matrix.shape[0] + 1) * index_bytes


def sparse_storage_nbytes(net, value_bytes=4, index_bytes=8):
    """Bytes of `net` with each SparseConv2d's effective weight stored as CSR and every other tensor dense."""
    total = 0
    for module in net.modules():
        for name, tensor in list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False)):
            if isinstance(module, SparseConv2d) and name == "_weight":
                total += csr_nbytes(module.weight, value_bytes, index_bytes)
            elif not (isinstance(module, SparseConv2d) and name in ("_mask", "_target_sparsity")):
                total += tensor.numel() * tensor.element_size()
    return total


def serialized_nbytes(obj):
    """Bytes `torch.save(obj)` writes (e.g. a state dict), measured in memory."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getbuffer().nbytes


def model_costs(model, input_shape=(1, 3, 32, 32)):
    """Size and compute of one model: parameters (all, nonzero), MACs per image (dense, nonzero), state-dict bytes.

    For a model with SparseConv2d layers it adds the CSR storage of its effective conv weights with int64
    indices (`csr_bytes_int64`, torch's default) and compact (`csr_bytes_compact`: int16 column indices,
    enough for in * k * k <= 32767 columns, and int32 row pointers); other tensors count dense, masks not at all.
    """
    costs = {
        "params": count_parameters(model),
        "params_nonzero": count_parameters(model, nonzero_only=True),
        "macs": count_macs(model, input_shape),
        "macs_nonzero": count_macs(model, input_shape, nonzero_only=True),
        "state_dict_bytes": serialized_nbytes({k: v.detach().cpu() for k, v in model.state_dict().items()}),
    }
    if get_sparse_conv2d_layers(model):
        costs["csr_bytes_int64"] = sparse_storage_nbytes(model, index_bytes=8)
        costs["csr_bytes_compact"] = _csr_storage_compact(model)
    return costs


def _csr_storage_compact(net):
    """Like sparse_storage_nbytes, with int16 column indices and int32 row pointers."""
    total = sparse_storage_nbytes(net, index_bytes=2)
    rows = sum(layer.out_channels + 1 for layer in get_sparse_conv2d_layers(net))
    return total + rows * 2  # row pointers need 4 bytes (nnz per layer can exceed int16), not 2


@torch.inference_mode()
def measure_latency(model, input_shape, device, *, warmup=10, repeats=50):
    """Inference latency of `model` on a zeros input of `input_shape` on `device`: warm-up, then `repeats` timed runs.

    Returns {"latency_ms_median", "latency_ms_p25", "latency_ms_p75"}; each timed run is synchronised on CUDA.
    """
    if warmup < 0 or repeats < 1:
        raise ValueError(f"need warmup >= 0 and repeats >= 1, got warmup={warmup}, repeats={repeats}")
    device = torch.device(device)
    model = model.to(device).eval()
    x = torch.zeros(input_shape, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        model(x)
    sync()
    times_ms = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(x)
        sync()
        times_ms.append((time.perf_counter() - start) * 1e3)
    q1, _, q3 = statistics.quantiles(times_ms, n=4) if repeats > 1 else (times_ms * 3)
    return {"latency_ms_median": statistics.median(times_ms), "latency_ms_p25": q1, "latency_ms_p75": q3}
