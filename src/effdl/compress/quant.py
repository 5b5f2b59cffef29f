"""Post-training quantization: min/max affine quantize/dequantize, state-dict PTQ and bit-packed checkpoints.

The scheme is the seed's "shift then scale" (Part 2.1): per tensor (or per output channel),

    shift = min(W),  scale = (2**bits - 1) / (max(W) - min(W)),
    q = round((W - shift) * scale)  -> uint8 in [0, 2**bits - 1],
    W_hat = q / scale + shift       -> float32.

`rounding="nearest"` is NumPy's round-half-to-even (the notebook's "Banker's rounding");
`rounding="stochastic"` is q = floor(t + u), u ~ U[0, 1) from a caller-seeded `numpy.random.Generator`,
which is unbiased (E[q] = t) and cannot leave [0, 2**bits - 1] because t <= 2**bits - 1 and u < 1.

Example:
    >>> q, params = quantize(np.array([400.0, 500.0, 600.0]))
    >>> q.tolist(), dequantize(q, params).astype(float).round(3).tolist()
    ([0, 128, 255], [400.0, 500.392, 600.0])
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

ROUNDING_MODES = ("nearest", "stochastic")
# How PTQ treats BatchNorm (see `select_quantized_names`):
#   "keep"   - BN affine params and running stats stay fp32 (they are folded into the conv at deployment);
#   "params" - BN weight/bias are quantized like every other parameter, running stats stay fp32;
#   "all"    - BN weight/bias and the float running stats (running_mean/var) are all quantized.
BATCHNORM_MODES = ("keep", "params", "all")
PACKED_FORMAT = "effdl.compress.quant.packed/1"
# The params are stored as float32 (two 32-bit floats per tensor or per channel, the 64 bits the seed's
# question 2.1.4 asks about), and dequantization reads exactly these stored values.
PARAM_DTYPE = np.float32


@dataclass(frozen=True, eq=False)
class QuantParams:
    """What dequantization needs: shift and scale (float32 scalars, or (C,) arrays along `axis`) and the bit width."""

    shift: np.ndarray
    scale: np.ndarray
    bits: int
    axis: int | None = None

    @property
    def nbytes(self) -> int:
        """Bytes of the stored shift and scale (bits and axis are scheme constants, not per-tensor data)."""
        return int(self.shift.nbytes + self.scale.nbytes)


def _check_bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 8:
        raise ValueError(
            f"bits={bits!r} is not supported: codes live in a uint8 container. Fix: pass an integer from 1 to 8."
        )
    return int(bits)


def _check_array(W) -> np.ndarray:
    W = np.asarray(W)
    if W.dtype.kind not in "iuf":
        raise ValueError(
            f"quantize expects a real-valued numeric array, got dtype {W.dtype}. "
            "Fix: pass an integer or floating-point NumPy array."
        )
    if W.size == 0:
        raise ValueError("quantize got an empty array. Fix: pass an array with at least one element.")
    W = W.astype(np.float64)
    if not np.isfinite(W).all():
        raise ValueError(
            f"quantize got {int(np.isnan(W).sum())} NaN and {int(np.isinf(W).sum())} inf values; a min/max "
            "scheme has no finite range for them. Fix: clean or clip the array before quantizing."
        )
    if np.abs(W).max() > np.finfo(PARAM_DTYPE).max / 2:
        raise ValueError(
            "quantize got values beyond half the float32 range; the float32 shift/scale cannot represent them. "
            "Fix: rescale the array first."
        )
    return W


def quantize(
    W, bits: int = 8, rounding: str = "nearest", rng: np.random.Generator | None = None, *, axis: int | None = None
) -> tuple[np.ndarray, QuantParams]:
    """Quantize W to `bits`-bit codes (uint8, values 0..2**bits-1) with min/max affine params.

    Args:
        W: 1-D or 2-D array as in the problem set (any rank is accepted, e.g. 4-D conv weights); ints or floats.
        bits: 1..8; 2**bits - 1 is the largest code.
        rounding: "nearest" (round half to even) or "stochastic" (unbiased, needs `rng`; `rng` is unused
            for "nearest").
        rng: a seeded `numpy.random.Generator`, required for stochastic rounding.
        axis: None for one (shift, scale) pair per tensor; an int for one pair per slice along that axis
            (axis=0: per output channel of a conv/linear weight).
    Returns:
        (q, params): q has W's shape and owns its data; `dequantize(q, params)` inverts it up to
        scale/2 per element (nearest) or one step (stochastic). A constant tensor/channel gets q = 0,
        scale = 1 and round-trips exactly (for float32-representable input).
    """
    bits = _check_bits(bits)
    if rounding not in ROUNDING_MODES:
        raise ValueError(f"unknown rounding {rounding!r}. Fix: use one of {ROUNDING_MODES}.")
    if rounding == "stochastic" and not isinstance(rng, np.random.Generator):
        raise ValueError("stochastic rounding needs a seeded generator. Fix: pass rng=np.random.default_rng(seed).")
    W = _check_array(W)
    levels = 2**bits - 1
    if axis is None:
        lo, hi = W.min(keepdims=True), W.max(keepdims=True)
    else:
        if not isinstance(axis, (int, np.integer)) or not -W.ndim <= axis < W.ndim:
            raise ValueError(f"axis={axis!r} is not an axis of a {W.ndim}-D array. Fix: pass None or 0..{W.ndim - 1}.")
        axis = int(axis) % W.ndim
        others = tuple(i for i in range(W.ndim) if i != axis)
        lo, hi = W.min(axis=others, keepdims=True), W.max(axis=others, keepdims=True)
    span = hi - lo
    # Multiply by levels before dividing by the span: (500-400)*255/200 is exactly 127.5 (-> 128, the problem set's
    # worked example), while (500-400)*(255/200) is 127.49999999999999 in float64.
    # A span too small for a finite float32 scale is treated like a constant tensor (error <= span).
    with np.errstate(divide="ignore", over="ignore"):
        constant = (span == 0) | ~np.isfinite(PARAM_DTYPE(levels) / span.astype(PARAM_DTYPE))
    t = np.where(constant, 0.0, (W - lo) * levels / np.where(constant, 1.0, span))
    if rounding == "nearest":
        codes = np.round(t)
    else:
        codes = np.floor(t + rng.random(t.shape))
    q = np.clip(codes, 0, levels).astype(np.uint8)
    scale = np.where(constant, 1.0, levels / np.where(constant, 1.0, span)).astype(PARAM_DTYPE)
    shift = lo.astype(PARAM_DTYPE)
    if axis is None:
        params = QuantParams(shift=shift.reshape(()), scale=scale.reshape(()), bits=bits, axis=None)
    else:
        params = QuantParams(shift=shift.reshape(-1), scale=scale.reshape(-1), bits=bits, axis=axis)
    return q, params


def dequantize(q: np.ndarray, params: QuantParams) -> np.ndarray:
    """Map codes back to float32 values: q / scale + shift (per tensor, or broadcast along params.axis)."""
    q = np.asarray(q)
    if q.dtype != np.uint8:
        raise ValueError(f"dequantize expects uint8 codes, got dtype {q.dtype}. Fix: pass the q returned by quantize.")
    if int(q.max(initial=0)) > 2**params.bits - 1:
        raise ValueError(
            f"codes up to {int(q.max())} do not fit {params.bits} bits. Fix: pass the params quantize returned with q."
        )
    shift, scale = params.shift, params.scale
    if params.axis is not None:
        view = [1] * q.ndim
        view[params.axis] = -1
        shift, scale = shift.reshape(view), scale.reshape(view)
    return (q.astype(PARAM_DTYPE) / scale + shift).astype(PARAM_DTYPE)


def quantized_nbytes(q: np.ndarray, params: QuantParams, *, packed: bool = False) -> int:
    """Bytes to store one quantized tensor: its codes (uint8, or bit-packed) plus its shift/scale."""
    code_bytes = math.ceil(q.size * params.bits / 8) if packed else q.size * q.itemsize
    return int(code_bytes + params.nbytes)


def memory_ratio(W, q: np.ndarray, params: QuantParams, *, packed: bool = False) -> float:
    """How many times smaller the quantized tensor is than W stored as float32, params included."""
    return np.asarray(W).size * np.dtype(np.float32).itemsize / quantized_nbytes(q, params, packed=packed)


def pack_codes(q: np.ndarray, bits: int) -> np.ndarray:
    """Bit-pack codes into bytes, 8 // bits values per byte for bits in {1, 2, 4, 8} (little-endian bit order).

    Code i occupies bits [i*bits, (i+1)*bits) of the stream, so at 4 bits the first code is the low nibble
    of byte 0; the last byte is zero-padded. Any width 1..8 works (3-bit codes straddle bytes).
    """
    bits = _check_bits(bits)
    q = np.asarray(q)
    if q.dtype != np.uint8 or int(q.max(initial=0)) > 2**bits - 1:
        raise ValueError(f"pack_codes needs uint8 codes below 2**{bits}. Fix: pack the q that quantize returned.")
    flat = q.reshape(-1)
    bit_planes = (flat[:, None] >> np.arange(bits, dtype=np.uint8)) & 1  # (N, bits), LSB first
    return np.packbits(bit_planes.reshape(-1), bitorder="little")


def unpack_codes(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    """Inverse of `pack_codes`: the first `count` codes as a flat uint8 array."""
    bits = _check_bits(bits)
    packed = np.asarray(packed, dtype=np.uint8)
    if packed.size * 8 < count * bits:
        raise ValueError(f"{packed.size} packed bytes cannot hold {count} codes of {bits} bits. Fix: check the file.")
    bit_planes = np.unpackbits(packed, count=count * bits, bitorder="little").reshape(count, bits)
    return (bit_planes << np.arange(bits, dtype=np.uint8)).sum(axis=1, dtype=np.uint8)


@dataclass(frozen=True, eq=False)
class QuantizedStateDict:
    """A model state dict after PTQ: codes + params for quantized tensors, untouched tensors kept as they were."""

    quantized: dict[str, tuple[np.ndarray, QuantParams]]
    kept: dict[str, torch.Tensor]
    order: tuple[str, ...]  # the original state-dict key order

    def nbytes(self, *, packed: bool = False) -> int:
        """Payload bytes: quantized codes (uint8 or bit-packed) + their params + the kept tensors' bytes."""
        quantized = sum(quantized_nbytes(q, p, packed=packed) for q, p in self.quantized.values())
        return int(quantized + state_dict_nbytes(self.kept))


def state_dict_nbytes(state_dict: Mapping[str, torch.Tensor]) -> int:
    """Payload bytes of a state dict's tensors (numel * element size), without file-format overhead."""
    return int(sum(t.numel() * t.element_size() for t in state_dict.values()))


def select_quantized_names(model: nn.Module, batchnorm: str = "keep") -> list[str]:
    """State-dict names PTQ quantizes: every parameter, BatchNorm handled per `batchnorm` (see BATCHNORM_MODES).

    Buffers outside BatchNorm (e.g. pruning masks) and integer tensors (num_batches_tracked) are never
    quantized: they are not weights, and a mask must stay exactly 0/1.
    """
    if batchnorm not in BATCHNORM_MODES:
        raise ValueError(f"unknown batchnorm mode {batchnorm!r}. Fix: use one of {BATCHNORM_MODES}.")
    names = []
    for module_name, module in model.named_modules():
        prefix = f"{module_name}." if module_name else ""
        is_bn = isinstance(module, nn.modules.batchnorm._BatchNorm)
        if is_bn and batchnorm == "keep":
            continue
        names += [prefix + n for n, p in module.named_parameters(recurse=False) if p.is_floating_point()]
        if is_bn and batchnorm == "all":
            buffers = module.named_buffers(recurse=False)
            names += [prefix + n for n, b in buffers if b is not None and b.is_floating_point()]
    return names


def quantize_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    names: Iterable[str] | None = None,
    bits: int = 8,
    rounding: str = "nearest",
    rng: np.random.Generator | None = None,
    *,
    per_channel: bool = False,
) -> QuantizedStateDict:
    """Quantize the tensors `names` of a state dict (None: every floating-point tensor); keep the rest as is.

    per_channel=True gives tensors with ndim >= 2 (conv/linear weights) one (shift, scale) per output
    channel (axis 0); 1-D tensors (biases, BN) stay per tensor. Stochastic draws come from `rng` in
    state-dict order, so one seed fixes the whole model.
    """
    if names is None:
        names = [k for k, v in state_dict.items() if v.is_floating_point()]
    names = list(names)
    unknown = sorted(set(names) - set(state_dict))
    if unknown:
        raise ValueError(f"tensors {unknown} are not in the state dict. Fix: pass names from model.state_dict().")
    wanted = set(names)
    quantized, kept = {}, {}
    for key, tensor in state_dict.items():
        if key not in wanted:
            kept[key] = tensor.detach().clone()
            continue
        if not tensor.is_floating_point():
            raise ValueError(f"tensor {key!r} has dtype {tensor.dtype}; only floating-point tensors are quantized.")
        W = tensor.detach().cpu().numpy()
        axis = 0 if per_channel and W.ndim >= 2 else None
        quantized[key] = quantize(W, bits=bits, rounding=rounding, rng=rng, axis=axis)
    return QuantizedStateDict(quantized=quantized, kept=kept, order=tuple(state_dict))


def dequantize_state_dict(qsd: QuantizedStateDict) -> dict[str, torch.Tensor]:
    """A loadable state dict (original key order): dequantized float32 tensors plus the kept tensors."""
    out = {}
    for key in qsd.order:
        if key in qsd.quantized:
            out[key] = torch.from_numpy(dequantize(*qsd.quantized[key]))
        else:
            out[key] = qsd.kept[key]
    return out


def fake_quantize_state_dict(state_dict: Mapping[str, torch.Tensor], *args, **kwargs) -> dict[str, torch.Tensor]:
    """Quantize then dequantize (simulated PTQ): the problem set's Part 2.2/2.3 operation on a whole model.

    Takes exactly `quantize_state_dict`'s arguments and returns a loadable float32 state dict.
    """
    return dequantize_state_dict(quantize_state_dict(state_dict, *args, **kwargs))


def pack_state_dict(qsd: QuantizedStateDict) -> dict:
    """A torch.save-able (weights_only-loadable) dict with bit-packed codes: the real compressed checkpoint."""
    tensors = {}
    for key, (q, params) in qsd.quantized.items():
        tensors[key] = {
            "packed": torch.from_numpy(pack_codes(q, params.bits)),
            "shape": list(q.shape),
            "bits": params.bits,
            "axis": params.axis,
            "shift": torch.from_numpy(np.ascontiguousarray(params.shift)),
            "scale": torch.from_numpy(np.ascontiguousarray(params.scale)),
        }
    return {"format": PACKED_FORMAT, "order": list(qsd.order), "quantized": tensors, "kept": dict(qsd.kept)}


def unpack_state_dict(obj: Mapping) -> QuantizedStateDict:
    """Inverse of `pack_state_dict` (codes and float32 params come back bit-exact)."""
    if not isinstance(obj, Mapping) or obj.get("format") != PACKED_FORMAT:
        raise ValueError(
            f"not a packed quantized checkpoint (expected format {PACKED_FORMAT!r}). "
            "Fix: load a file written from pack_state_dict."
        )
    quantized = {}
    for key, entry in obj["quantized"].items():
        count = math.prod(entry["shape"])
        q = unpack_codes(entry["packed"].numpy(), entry["bits"], count).reshape(entry["shape"])
        params = QuantParams(
            shift=entry["shift"].numpy(), scale=entry["scale"].numpy(), bits=int(entry["bits"]), axis=entry["axis"]
        )
        quantized[key] = (q, params)
    return QuantizedStateDict(quantized=quantized, kept=dict(obj["kept"]), order=tuple(obj["order"]))
