"""Count the matrix multiplications a transformer inference actually executes, and where they happen.

One real forward pass runs under two interceptors at once:

* a ``TorchFunctionMode`` sees every matmul-like call as written in Python (``F.linear``,
  ``torch.matmul``, ``@``, ``bmm``, ``einsum``, ...); each call is attributed to its block
  (encoder self-attention, decoder cross-attention, feed-forward, ...) through module hooks and to
  its role (Q/K/V projection, Q·Kᵀ, weights·V, W_O, FFN, vocabulary projection);
* a ``TorchDispatchMode`` sees the ATen kernels that run (``mm``, ``addmm``, ``bmm``, ...), so
  composite calls that hide several matmuls (``nn.MultiheadAttention``, SDPA) cannot slip through.

Convention: one call = one matrix multiplication (the batch dimension is the inference batch; use
batch 1 for "a single inference"). The embedding lookup and the positional-encoding add are not
matmuls. Closed forms (N layers, h heads): per-head Q/K/V projections give N(15h + 7) + 1, fused
Q/K/V projections give N(6h + 16) + 1 (``expected_matmuls``).

Example::

    result = count_matmuls(model, context, x)
    assert result.total == expected_matmuls(num_layers, num_heads, fused_qkv=False)
    result.by_block()  # DataFrame: block, count per layer, layers, count
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from effdl.models.transformer import CausalSelfAttention, CrossAttention, FeedForward, GlobalSelfAttention, Transformer

# Python-level calls that are one matrix multiplication each.
MATMUL_FUNCTIONS = frozenset(
    {
        "matmul",
        "__matmul__",
        "__rmatmul__",
        "mm",
        "bmm",
        "addmm",
        "baddbmm",
        "addbmm",
        "linear",
        "einsum",
        "mv",
        "addmv",
        "bilinear",
    }
)
# Python-level calls that hide several matmuls; they are recorded so the kernel check can flag them.
OPAQUE_FUNCTIONS = frozenset({"scaled_dot_product_attention", "multi_head_attention_forward"})
# ATen kernels that multiply matrices (one launch = one matrix multiplication, batched over B).
MATMUL_KERNELS = frozenset({"mm", "addmm", "bmm", "baddbmm", "addbmm", "mv", "addmv", "_addmm_activation"})

# Block labels in the order of one inference; each maps to the module class that defines it.
BLOCK_ORDER = (
    "encoder self-attention",
    "encoder feed-forward",
    "decoder causal self-attention",
    "decoder cross-attention",
    "decoder feed-forward",
    "output projection",
)
ROLE_LABELS = {
    "query": "Q projection",
    "key": "K projection",
    "value": "V projection",
    "scores": "scores Q·Kᵀ",
    "weighted_values": "softmax·V",
    "out": "output projection W_O",
    "seq.0": "FFN Linear(d_model, dff)",
    "seq.2": "FFN Linear(dff, d_model)",
    "final_layer": "vocabulary projection",
}


def expected_matmuls(num_layers: int, num_heads: int, fused_qkv: bool = False) -> int:
    """Closed-form count: N(15h + 7) + 1 per-head, N(6h + 16) + 1 with fused Q/K/V projections."""
    return sum(expected_matmuls_by_block(num_layers, num_heads, fused_qkv).values())


def expected_matmuls_by_block(num_layers: int, num_heads: int, fused_qkv: bool = False) -> dict[str, int]:
    """Closed-form count per block type, summed over the N layers (keys as in BLOCK_ORDER)."""
    if num_layers < 1 or num_heads < 1:
        raise ValueError(f"need num_layers >= 1 and num_heads >= 1, got ({num_layers}, {num_heads}).")
    h = num_heads
    # Q, K, V projections (3 fused or 3h per head), then h Q·Kᵀ, h softmax·V and one W_O.
    attention = (3 + 2 * h + 1) if fused_qkv else (3 * h + 2 * h + 1)
    per_layer = {
        "encoder self-attention": attention,
        "encoder feed-forward": 2,
        "decoder causal self-attention": attention,
        "decoder cross-attention": attention,
        "decoder feed-forward": 2,
    }
    counts = {block: num_layers * n for block, n in per_layer.items()}
    counts["output projection"] = 1
    return counts


@dataclass(frozen=True)
class MatmulRecord:
    """One executed matrix multiplication: the call, where it ran, and its multiply-accumulate count."""

    op: str  # function or kernel name, e.g. "linear" or "aten.bmm"
    block: str  # one of BLOCK_ORDER, or "other"
    layer: int | None  # encoder/decoder layer index, None for the output projection
    role: str  # one of ROLE_LABELS' values, or "other" (kernel records: "kernel")
    module: str  # qualified name of the innermost module that was running
    macs: int  # multiply-accumulates of this call: output elements x inner dimension


@dataclass
class MatmulCount:
    """What one inference executed: Python-level calls (attributed) and ATen kernels (cross-check)."""

    calls: list[MatmulRecord] = field(default_factory=list)
    kernels: list[MatmulRecord] = field(default_factory=list)
    opaque_calls: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Number of matrix multiplications called in Python."""
        return len(self.calls)

    @property
    def kernel_total(self) -> int:
        """Number of matrix-multiplication kernels that actually ran."""
        return len(self.kernels)

    def by_block(self) -> pd.DataFrame:
        """Counts per block type: block, count, layers, count_per_layer, macs (rows in BLOCK_ORDER)."""
        return _group(self.calls, ["block"])

    def kernels_by_block(self) -> pd.DataFrame:
        """Kernel counts per block type, to check against by_block()."""
        return _group(self.kernels, ["block"])

    def by_role(self) -> pd.DataFrame:
        """Counts per (block, role), e.g. (decoder cross-attention, scores Q·Kᵀ)."""
        return _group(self.calls, ["block", "role"])


def _group(records: list[MatmulRecord], keys: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame([vars(r) for r in records], columns=list(MatmulRecord.__dataclass_fields__))
    grouped = frame.groupby(keys, sort=False).agg(
        count=("op", "size"), layers=("layer", "nunique"), macs=("macs", "sum")
    )
    grouped["layers"] = grouped["layers"].clip(lower=1)  # the output projection has no layer index
    grouped["count_per_layer"] = grouped["count"] // grouped["layers"]
    grouped = grouped.reset_index()
    order = {block: i for i, block in enumerate(BLOCK_ORDER)}
    grouped["_order"] = grouped["block"].map(order).fillna(len(order))
    return grouped.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)


def _block_of(stack: list[tuple[str, nn.Module]]) -> tuple[str, int | None]:
    """Block label and layer index from the stack of running modules (outermost first)."""
    names = [name for name, _ in stack]
    for name, module in reversed(stack):
        layer_match = re.search(r"(?:enc|dec)_layers\.(\d+)", name)
        layer = int(layer_match.group(1)) if layer_match else None
        if isinstance(module, GlobalSelfAttention):
            return "encoder self-attention", layer
        if isinstance(module, CausalSelfAttention):
            return "decoder causal self-attention", layer
        if isinstance(module, CrossAttention):
            return "decoder cross-attention", layer
        if isinstance(module, FeedForward):
            return ("encoder feed-forward" if name.startswith("encoder") else "decoder feed-forward"), layer
    if names and names[-1] == "final_layer":
        return "output projection", None
    return "other", None


def _macs(op: str, args: tuple, output) -> int:
    """Output elements times the inner (contracted) dimension; 0 where that is not defined."""
    if not isinstance(output, torch.Tensor) or not args or not isinstance(args[0], torch.Tensor):
        return 0
    if op in ("addmm", "baddbmm", "addbmm", "addmv", "aten.addmm", "aten.baddbmm", "aten.addbmm", "aten.addmv"):
        inner = args[1].shape[-1]  # args[0] is the added bias/input
    else:
        inner = args[0].shape[-1]
    return int(output.numel()) * int(inner)


def _storage_key(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage().data_ptr()


class _FunctionRecorder(TorchFunctionMode):
    """Records matmul-like Python calls with their block and role."""

    def __init__(self, stack: list, weight_owner: dict[int, str], result: MatmulCount):
        super().__init__()
        self.stack = stack
        self.weight_owner = weight_owner  # storage of a Linear weight -> that Linear's attribute path
        self.result = result
        self.produced_by: dict[int, str] = {}  # storage of a projection output -> "key" / "value"
        self.keep_alive: list[torch.Tensor] = []  # so freed storages are not reused within the pass

    def __torch_function__(self, func, types, args=(), kwargs=None):
        output = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", "")
        if name in OPAQUE_FUNCTIONS:
            self.result.opaque_calls.append(name)
        if name not in MATMUL_FUNCTIONS:
            return output
        block, layer = _block_of(self.stack)
        role = "other"
        if name == "linear":
            role = self._linear_role(args[1] if len(args) > 1 else kwargs["weight"])
            if role in ("key", "value") and isinstance(output, torch.Tensor):
                self.produced_by[_storage_key(output)] = role
                self.keep_alive.append(output)
        else:
            # A matmul consuming K's output computes scores, one consuming V's output mixes values.
            sources = {self.produced_by.get(_storage_key(a)) for a in args if isinstance(a, torch.Tensor)}
            role = "scores" if "key" in sources else "weighted_values" if "value" in sources else "other"
        module = self.stack[-1][0] if self.stack else ""
        self.result.calls.append(
            MatmulRecord(name, block, layer, ROLE_LABELS.get(role, role), module, _macs(name, args, output))
        )
        return output

    def _linear_role(self, weight: torch.Tensor) -> str:
        owner = self.weight_owner.get(_storage_key(weight), "other")
        if owner == "final_layer":
            return owner
        # "encoder.enc_layers.0.self_attention.query" -> "query"; "....ffn.seq.0" -> "seq.0"
        parts = owner.split(".")
        return ".".join(parts[-2:]) if len(parts) >= 2 and parts[-2] == "seq" else parts[-1]


class _KernelRecorder(TorchDispatchMode):
    """Records the ATen matrix-multiplication kernels that run."""

    def __init__(self, stack: list, result: MatmulCount):
        super().__init__()
        self.stack = stack
        self.result = result

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        output = func(*args, **(kwargs or {}))
        kernel = func.overloadpacket.__name__
        if kernel in MATMUL_KERNELS or "scaled_dot_product" in kernel:
            block, layer = _block_of(self.stack)
            module = self.stack[-1][0] if self.stack else ""
            name = f"aten.{kernel}"
            self.result.kernels.append(MatmulRecord(name, block, layer, "kernel", module, _macs(name, args, output)))
        return output


def count_matmuls(model: nn.Module, *inputs: torch.Tensor) -> MatmulCount:
    """Run model(*inputs) once in eval mode without gradients and record every matrix multiplication."""
    stack: list[tuple[str, nn.Module]] = []
    handles = []

    def enter(name: str, module: nn.Module) -> None:
        stack.append((name, module))

    def leave() -> None:
        stack.pop()  # returns None on purpose: a forward hook's return value would replace the output

    for name, module in model.named_modules():
        handles.append(module.register_forward_pre_hook(lambda m, a, name=name: enter(name, m)))
        handles.append(module.register_forward_hook(lambda m, a, o: leave(), always_call=True))
    weight_owner = {
        _storage_key(module.weight): name for name, module in model.named_modules() if isinstance(module, nn.Linear)
    }
    result = MatmulCount()
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), _FunctionRecorder(stack, weight_owner, result), _KernelRecorder(stack, result):
            model(*inputs)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return result


def count_transformer_matmuls(
    num_layers: int,
    num_heads: int,
    *,
    d_model: int,
    dff: int,
    input_vocab_size: int,
    target_vocab_size: int,
    context_len: int,
    target_len: int,
    fused_qkv: bool = False,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> MatmulCount:
    """Build a Transformer and count the matmuls of one inference on a batch of one random sequence pair."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = Transformer(
        num_layers, d_model, num_heads, dff, input_vocab_size, target_vocab_size, fused_qkv=fused_qkv
    ).to(device)
    context = torch.randint(input_vocab_size, (1, context_len), generator=generator).to(device)
    x = torch.randint(target_vocab_size, (1, target_len), generator=generator).to(device)
    return count_matmuls(model, context, x)


def matmul_study(
    notebook_model: dict, check_layers: list[int], check_heads: list[int], device: torch.device | str = "cpu"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Count the notebook model (both conventions) and a grid of small (N, h) models against the closed forms.

    Returns (totals, roles): one row per counted model and convention with the counted calls, kernels and
    formula; and the notebook model's counts per (convention, block, role) with multiply-accumulates.
    """
    nb = dict(notebook_model)
    shape = {key: nb.pop(key) for key in ("context_len", "target_len")}
    cases = [dict(nb, model="notebook", **shape)]
    cases += [
        dict(
            model="check",
            num_layers=n,
            num_heads=h,
            d_model=8 * h,
            dff=16,
            input_vocab_size=11,
            target_vocab_size=13,
            context_len=5,
            target_len=4,
        )
        for n in check_layers
        for h in check_heads
    ]
    totals, roles = [], []
    for case in cases:
        with torch.device("meta"):  # parameter count without allocating or initialising weights
            size = {k: case[k] for k in ("num_layers", "d_model", "num_heads", "dff")}
            params = sum(
                p.numel()
                for p in Transformer(
                    **size, input_vocab_size=case["input_vocab_size"], target_vocab_size=case["target_vocab_size"]
                ).parameters()
            )
        for fused in (False, True):
            # dropout has no effect on an eval-mode inference; it is kept for the hyper-parameter table
            kwargs = {key: value for key, value in case.items() if key not in ("model", "dropout_rate")}
            result = count_transformer_matmuls(**kwargs, fused_qkv=fused, device=device)
            convention = "fused" if fused else "per-head"
            formula = expected_matmuls(case["num_layers"], case["num_heads"], fused)
            totals.append(
                {
                    **case,
                    "params_total": params,
                    "convention": convention,
                    "counted": result.total,
                    "kernels": result.kernel_total,
                    "formula": formula,
                    "matches": result.total == formula == result.kernel_total,
                    "opaque_calls": len(result.opaque_calls),
                }
            )
            if case["model"] == "notebook":
                roles.append(result.by_role().assign(convention=convention))
    return pd.DataFrame(totals), pd.concat(roles, ignore_index=True)
