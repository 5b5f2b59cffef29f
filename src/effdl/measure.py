"""Size, compute and speed of a model: parameter counts, MACs, storage bytes, device sync and latency.

The one home of these measurements: every part (pruning costs, LoRA heads, depthwise layers, the
benchmark) counts and times through here, so a number means the same thing in every table.
"""

from __future__ import annotations

import io
import statistics

import torch
from torch import nn


def _effective_tensor(module: nn.Module, name: str, param: torch.Tensor) -> torch.Tensor:
    """The weight a reparametrised layer actually uses: `weight` for torch's `weight_orig` (torch.nn.utils.prune)
    and for our SparseConv2d's `_weight` (weight = _weight * _mask); the parameter itself otherwise."""
    for stored, effective in ((name.endswith("_orig"), name[: -len("_orig")]), (name.startswith("_"), name[1:])):
        if stored and isinstance(getattr(module, effective, None), torch.Tensor):
            return getattr(module, effective)
    return param


def count_parameters(model: nn.Module, *, trainable: bool = False, nonzero: bool = False) -> int:
    """Number of scalar parameters (shared tensors once); `trainable` counts only requires_grad ones, `nonzero`
    counts the nonzero entries of the effective (masked) weights instead of every entry."""
    total = 0
    seen = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if id(param) in seen or (trainable and not param.requires_grad):
                continue
            seen.add(id(param))
            tensor = _effective_tensor(module, name, param).detach()
            total += int(torch.count_nonzero(tensor)) if nonzero else tensor.numel()
    return total


@torch.no_grad()
def count_macs(model: nn.Module, input_shape=(1, 3, 32, 32), *, nonzero: bool = False) -> int:
    """Multiply-accumulates of one forward pass (conv and linear layers; 1 MAC = 2 FLOPs) on an input of `input_shape`.

    Dense counting charges every weight, zero or not, as dense kernels do; `nonzero` charges only nonzero
    effective weights (the ideal sparse kernel, ignoring border padding). A conv layer is any leaf module with
    a 4-D `weight` (nn.Conv2d, a masked SparseConv2d); one with a `constant_kernel` buffer (the slim export's
    ConstantInputConv2d) also pays for convolving its ones image once per forward.
    """
    macs = []

    def conv_hook(module, inputs, output):
        weight = module.weight
        per_position = int(torch.count_nonzero(weight)) if nonzero else weight.numel()
        macs.append(output.shape[0] * output.shape[2] * output.shape[3] * per_position)
        constant = getattr(module, "constant_kernel", None)
        if isinstance(constant, torch.Tensor):
            macs.append(output.shape[2] * output.shape[3] * constant.numel())

    def linear_hook(module, inputs, output):
        per_row = int(torch.count_nonzero(module.weight)) if nonzero else module.weight.numel()
        macs.append(output.numel() // module.out_features * per_row)

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
        elif not list(module.children()) and getattr(getattr(module, "weight", None), "ndim", 0) == 4:
            handles.append(module.register_forward_hook(conv_hook))
    was_training = model.training
    try:
        model.eval()(torch.zeros(input_shape, device=next(model.parameters()).device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return sum(macs)


def tensor_nbytes(tensors) -> int:
    """Bytes of the tensors' elements, stored dense (e.g. a state dict's values)."""
    return sum(t.numel() * t.element_size() for t in tensors)


def csr_nbytes(weight: torch.Tensor, value_bytes: int = 4, index_bytes: int = 8) -> int:
    """Bytes of a CSR copy of `weight` as (out, in*k*k): nnz values, nnz column indices, rows + 1 row pointers.

    Defaults match torch's `to_sparse_csr()` for float32 (int64 indices).
    """
    matrix = weight.detach().reshape(weight.shape[0], -1)
    nnz = int(torch.count_nonzero(matrix))
    return nnz * (value_bytes + index_bytes) + (matrix.shape[0] + 1) * index_bytes


def serialized_nbytes(obj) -> int:
    """Bytes `torch.save(obj)` writes (e.g. a state dict), measured in memory."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getbuffer().nbytes


def synchronize(device: torch.device | str) -> None:
    """Wait for the device's queued work (CUDA is asynchronous); a no-op on the CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def measure_latency(model: nn.Module, input_shape, device, *, warmup: int = 10, repeats: int = 50) -> dict:
    """Inference latency of `model` on a zeros input of `input_shape` on `device`, timed by torch.utils.benchmark.

    `warmup` untimed calls, then `repeats` single-call measurements (the Timer synchronises CUDA around each).
    Returns {"latency_ms_median", "latency_ms_p25", "latency_ms_p75"}.
    """
    from torch.utils.benchmark import Timer

    if warmup < 0 or repeats < 1:
        raise ValueError(f"need warmup >= 0 and repeats >= 1, got warmup={warmup}, repeats={repeats}")
    device = torch.device(device)
    model = model.to(device).eval()
    x = torch.zeros(input_shape, device=device)
    for _ in range(warmup):
        model(x)
    synchronize(device)
    timer = Timer(stmt="model(x)", globals={"model": model, "x": x}, num_threads=torch.get_num_threads())
    times_ms = [timer.timeit(number=1).median * 1e3 for _ in range(repeats)]
    q1, _, q3 = statistics.quantiles(times_ms, n=4) if repeats > 1 else (times_ms * 3)
    return {"latency_ms_median": statistics.median(times_ms), "latency_ms_p25": q1, "latency_ms_p75": q3}


def sparse_storage_nbytes(model: nn.Module, sparse_layers, value_bytes: int = 4, index_bytes: int = 8) -> int:
    """Bytes of `model` with each of `sparse_layers`' effective weight stored as CSR (its masks not at all) and
    every other tensor dense."""
    sparse_ids = {id(layer) for layer in sparse_layers}
    total = 0
    for module in model.modules():
        if id(module) in sparse_ids:
            total += csr_nbytes(module.weight, value_bytes, index_bytes)
        else:
            total += tensor_nbytes([*module.parameters(recurse=False), *module.buffers(recurse=False)])
    return total


def model_costs(model: nn.Module, input_shape=(1, 3, 32, 32), sparse_layers=()) -> dict:
    """Size and compute of one model: parameters (all, nonzero), MACs per image (dense, nonzero), state-dict bytes.

    With `sparse_layers` (masked convs, e.g. a SparseConvNet's) it adds their CSR storage with int64 indices
    (`csr_bytes_int64`, torch's default) and compact (`csr_bytes_compact`: int16 column indices, enough for
    in * k * k <= 32767 columns, and int32 row pointers); other tensors count dense, masks not at all.
    """
    costs = {
        "params": count_parameters(model),
        "params_nonzero": count_parameters(model, nonzero=True),
        "macs": count_macs(model, input_shape),
        "macs_nonzero": count_macs(model, input_shape, nonzero=True),
        "state_dict_bytes": serialized_nbytes({k: v.detach().cpu() for k, v in model.state_dict().items()}),
    }
    sparse_layers = list(sparse_layers)
    if sparse_layers:
        costs["csr_bytes_int64"] = sparse_storage_nbytes(model, sparse_layers, index_bytes=8)
        # row pointers need 4 bytes (nnz per layer can exceed int16), not the 2 of the column indices
        rows = sum(layer.weight.shape[0] + 1 for layer in sparse_layers)
        costs["csr_bytes_compact"] = sparse_storage_nbytes(model, sparse_layers, index_bytes=2) + rows * 2
    return costs
