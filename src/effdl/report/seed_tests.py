"""The seed's test cells, written against the project's implementation: one code text, run by two consumers.

Rule `seed_tests` executes them in order in one namespace and records what each prints (the code appendix
typesets that output); the notebook builder puts the same texts in code cells that run live in the kernel.
Each test prints what the seed's cell prints ("Success!", "Shape test passed!", "Success: err: ...!",
parameter counts) and ends with an `assert`, so a failing case fails the rule and the notebook build.
The module itself is torch-free: the texts import torch when they run.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class SeedTest:
    """One test cell: the seed part and question it checks, a title, its code and a regex its output must match.

    `from_seed` marks the seed's own test cells (rewritten against the project's API); the others are the
    project's checks of parts for which the seed has no test cell.
    """

    key: str
    part: str
    question: str
    title: str
    code: str
    expect: str
    from_seed: bool = False

    @property
    def label(self) -> str:
        """How the notebook and the appendix introduce the test."""
        kind = "The problem set's test" if self.from_seed else "Check (the problem set has no test cell for it)"
        scope = "Part" if self.question.count(".") < 2 and self.part == self.question else "question"
        return f"{kind}, {scope} {self.question}"


SEED_TESTS = (
    SeedTest(
        "convnet_params",
        "1.1",
        "1.1",
        "ConvNet parameter count and moving_average length",
        """\
import torch
from effdl.smoothing import moving_average
from effdl.measure import count_parameters
from effdl.models.convnet import ConvNet

torch.manual_seed(43)  # the problem set's Code Cell 1.4
net = ConvNet()
print("ConvNet parameters:", f"{count_parameters(net):,}")
print("logits shape:", tuple(net(torch.zeros(2, 3, 32, 32)).shape))
losses = torch.rand(5 * 391)  # 5 epochs x 391 iterations of per-iteration losses
print("moving_average(n=100) of 1955 losses has", len(moving_average(losses, n=100)), "points")
assert count_parameters(net) == 1_212_778 and len(moving_average(losses, n=100)) == 1856
""",
        r"ConvNet parameters: 1,212,778",
    ),
    SeedTest(
        "quant_cases",
        "2.1",
        "2.1.3",
        "the problem set's eight quantize/dequantize test cases",
        """\
import sys

import numpy as np
from effdl.compress.quant import dequantize, memory_ratio, quantize


def did_pass(x, thresh=2):
    # The problem set's checks: the uint8 array is at most 1/2.3 of the float32 array's getsizeof (ndarray header
    # included), and the mean absolute error of the round trip against the original x is below `thresh`.
    q, params = quantize(x)
    limit = sys.getsizeof(x.astype(np.float32)) // 2.3
    if sys.getsizeof(q) > limit:
        print(f"FAIL: Size {sys.getsizeof(q)} B > {limit:.0f} B")
        return False
    error = np.abs(dequantize(q, params) - x).mean()
    if error >= thresh:
        print(f"FAIL: Mean error {error:.4f} above threshold {thresh}")
        return False
    print("Success!")
    return True


rng = np.random.RandomState(0)  # the problem set's np.random draws, unseeded there; seeded here for reproducible output
test_cases = [
    np.arange(100),
    np.arange(100) / 2,
    rng.normal(0, 3, (100, 100)),
    rng.uniform(0, 10, (100, 100)),
    rng.uniform(5, 10, (100, 100)),
    rng.uniform(-5, -10, (100, 100)),
    rng.normal(-10, 1, (100, 100)),
    rng.uniform(100, 355, (20, 40)),
]
passed = [did_pass(x) for x in test_cases]
q, params = quantize(test_cases[2])
print(f"100x100 float32 -> uint8 + shift/scale: {memory_ratio(test_cases[2], q, params):.4f}x smaller")
assert all(passed), f"{passed.count(False)} of {len(passed)} test cases failed"
""",
        r"^(Success!\n){8}",
        from_seed=True,
    ),
    SeedTest(
        "quant_model",
        "2.2",
        "2.2.1",
        "every parameter of the MNIST MLP quantized and dequantized",
        """\
import torch
from effdl.compress.quant import fake_quantize_state_dict
from effdl.models.convnet import MNISTNet

torch.manual_seed(0)
model = MNISTNet(hidden=128)
original = {k: v.clone() for k, v in model.state_dict().items()}
for bits in (8, 4, 2):
    fake = fake_quantize_state_dict(original, bits=bits)
    errors = {name: (fake[name] - original[name]).abs().max().item() for name in original}
    distinct = {name: fake[name].unique().numel() for name in original}
    print(f"{bits} bits:", ", ".join(f"{n} max|err| {errors[n]:.2e} ({distinct[n]} values)" for n in original))
    assert all(count <= 2**bits for count in distinct.values())
""",
        r"2 bits:",
    ),
    SeedTest(
        "stochastic",
        "2.3",
        "2.3.1",
        "stochastic rounding is unbiased and stays in range",
        """\
import numpy as np
from effdl.compress.quant import dequantize, quantize

x = np.random.default_rng(1).uniform(-1, 1, 10_000)
nearest = dequantize(*quantize(x, bits=2))
trials = [dequantize(*quantize(x, bits=2, rounding="stochastic", rng=np.random.default_rng(t))) for t in range(10)]
print(f"2-bit nearest:    mean error {np.mean(nearest - x):+.4f}, mean |error| {np.abs(nearest - x).mean():.4f}")
print(f"2-bit stochastic: mean error {np.mean(np.mean(trials, axis=0) - x):+.4f} over 10 trials, "
      f"mean |error| {np.mean([np.abs(t - x).mean() for t in trials]):.4f}")
codes = quantize(x, bits=2, rounding="stochastic", rng=np.random.default_rng(0))[0]
print("codes used:", sorted(set(codes.tolist())))
assert set(codes.tolist()) <= {0, 1, 2, 3} and abs(np.mean(np.mean(trials, axis=0) - x)) < 0.01
""",
        r"codes used: \[0, 1, 2, 3\]",
    ),
    SeedTest(
        "sparse_convnet",
        "3.1",
        "3.1",
        "SparseConvNet matches ConvNet's size and shapes",
        """\
import torch
from effdl.compress.prune import SparseConvNet, get_sparse_conv2d_layers
from effdl.measure import count_parameters

net = SparseConvNet(mode="structured")
layers = get_sparse_conv2d_layers(net)
print("SparseConvNet parameters:", f"{count_parameters(net):,}", "in", len(layers), "SparseConv2d layers")
print("logits shape:", tuple(net(torch.zeros(2, 3, 32, 32)).shape))
assert count_parameters(net) == 1_212_778 and net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
assert len(layers) == 9, "every convolution of the ConvNet is a SparseConv2d"
""",
        r"SparseConvNet parameters: 1,212,778 in 9 SparseConv2d layers",
    ),
    SeedTest(
        "filter_pruning",
        "3.3",
        "3.3.1",
        "five 10% filter_l1_pruning events leave every layer at 50%",
        """\
import torch
from effdl.compress.prune import SparseConvNet, filter_l1_pruning

torch.manual_seed(43)
net = SparseConvNet(mode="structured")
for event in range(1, 6):  # the schedule's five events (after epochs 10, 20, ..., 50)
    sparsity = filter_l1_pruning(net, 0.1)
    print(f"event {event}: per-layer filter sparsity", " ".join(f"{s:.3f}" for s in sparsity))
assert all(abs(s - 0.5) < 0.01 for s in sparsity)
""",
        r"event 5: per-layer filter sparsity( 0\.50\d)+\n",
    ),
    SeedTest(
        "unstructured_pruning",
        "3.4",
        "3.4.2",
        "five 10% unstructured_pruning events leave every layer at 50%",
        """\
import torch
from effdl.compress.prune import SparseConvNet, unstructured_pruning

torch.manual_seed(43)
net = SparseConvNet(mode="unstructured")
for event in range(1, 6):
    sparsity = unstructured_pruning(net, 0.1)
    print(f"event {event}: per-layer weight sparsity", " ".join(f"{s:.3f}" for s in sparsity))
assert all(abs(s - 0.5) < 0.001 for s in sparsity)
""",
        r"event 5: per-layer weight sparsity( 0\.500)+\n",
    ),
    SeedTest(
        "resnet_variants",
        "4.1",
        "4.1",
        "the three Part 4 models: trainable parameters",
        """\
import torch
from effdl.measure import count_parameters
from effdl.models.resnet import build_resnet18

torch.manual_seed(43)
# A random start here: this cell checks structure (freezing, LoRA), not accuracy, and needs no weights file.
for variant in ("pt_net", "net_freeze", "net_freeze_lora"):
    model = build_resnet18(variant, init="random", num_classes=10, lora_r=10, lora_alpha=10)
    total, trainable = count_parameters(model), count_parameters(model, trainable=True)
    print(f"{variant:16s} total {total:>10,}  trainable {trainable:>10,}  fc: {type(model.fc).__name__}")
assert count_parameters(model, trainable=True) < count_parameters(model)
""",
        r"net_freeze_lora .*LoRALinear",
    ),
    SeedTest(
        "positional_embedding",
        "5.1",
        "5.1",
        "the notebook's shape tests (Cells 5.3, 5.5 and the full model)",
        """\
import torch
from effdl.models.transformer import PositionalEmbedding, Transformer, positional_encoding

torch.manual_seed(0)  # the problem set's Code Cell 5.1
print("positional_encoding(2048, 256):", tuple(positional_encoding(2048, 256).shape))
embedding = PositionalEmbedding(vocab_size=10, d_model=16, max_len=20)
out = embedding(torch.randint(0, 10, (2, 5)))
assert out.shape == (2, 5, 16), out.shape
print("Shape test passed!")

settings = dict(num_layers=4, d_model=512, num_heads=8, dff=2048, input_vocab_size=8000,
                target_vocab_size=8001, dropout_rate=0.1)
# The problem set's test: batch 64, context 201, target 200 -> (64, 200, 8001). On the meta device every module's
# code runs and every shape is computed, without the ~1 TFLOP of arithmetic (about a minute on 2 CPU cores).
with torch.device("meta"):
    model = Transformer(**settings)
    logits = model(torch.randint(8000, (64, 201)), torch.randint(8001, (64, 200)))
assert logits.shape == (64, 200, 8001), logits.shape
print("full model, batch 64 (meta device):", tuple(logits.shape))
# The same model computing real numbers on the CPU, at batch 2.
model = Transformer(**settings).eval()
with torch.no_grad():
    logits = model(torch.randint(8000, (2, 201)), torch.randint(8001, (2, 200)))
assert logits.shape == (2, 200, 8001) and torch.isfinite(logits).all()
print("full model, batch 2 (CPU):", tuple(logits.shape), f"{sum(p.numel() for p in model.parameters()):,} parameters")
""",
        r"Shape test passed!",
        from_seed=True,
    ),
    SeedTest(
        "dwconv_correctness",
        "6.1",
        "6.1.2",
        "Code Cell 6.1: DepthwiseSeparableConvolution against the hand result",
        """\
import torch
from torch import nn
from effdl.models.dwconv import DepthwiseSeparableConvolution

m = DepthwiseSeparableConvolution(2, 2, 2)
# The test overwrites the parameters, so forward must read these attributes.
m.kernel_weights = [nn.Parameter(torch.ones(2, 2)), nn.Parameter(2 * torch.ones(2, 2))]
m.one_d_conv_weight = nn.Parameter(torch.tensor([[2.0, 3.0], [4.0, 5.0]]).reshape(2, 2, 1, 1))
x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[4.0, 5.0], [5.0, 6.0]]]])
groundtruth = torch.tensor([[[26.0, 60.0], [62.0, 140.0]], [[44.0, 102.0], [106.0, 240.0]]])
err = torch.linalg.norm(m(x) - groundtruth).item()  # Frobenius norm, (1,2,2,2) broadcast against (2,2,2)
print(f"Success: err: {err}!" if err <= 1e-5 else f"Failure: err: {err}")
assert err <= 1e-5
""",
        r"^Success: err: [0-9.e+-]+!$",
        from_seed=True,
    ),
    SeedTest(
        "dwconv_params",
        "6.1",
        "6.1.3",
        "parameters of a standard and a depthwise separable convolution",
        """\
from torch import nn
from effdl.measure import count_parameters
from effdl.models.dwconv import DepthwiseSeparableConvolution, param_reduction_factor

standard = nn.Conv2d(10, 20, 5, bias=False)
separable = DepthwiseSeparableConvolution(10, 20, 5)
print("standard Conv2d(10, 20, 5):", count_parameters(standard))
print("DepthwiseSeparableConvolution(10, 20, 5):", count_parameters(separable))
print(f"reduction: {count_parameters(standard) / count_parameters(separable):.2f}x "
      f"(theory K^2 C_out / (K^2 + C_out) = {param_reduction_factor(20, 5):.2f}x; C_out = 20)")
assert (count_parameters(standard), count_parameters(separable)) == (5000, 450)
""",
        r"standard Conv2d\(10, 20, 5\): 5000\n",
        from_seed=True,
    ),
    SeedTest(
        "dwconvnet",
        "6.2",
        "6.2.1",
        "DWConvNet with each layer: parameters and agreement",
        """\
import torch
from effdl.measure import count_parameters
from effdl.models.dwconv import DWConvNet, dw_conv_block

print(dw_conv_block(32, 32))
torch.manual_seed(43)
mine, solution = DWConvNet(impl="mine"), DWConvNet(impl="solution")
print(f"DWConvNet parameters: {count_parameters(mine):,} (mine), {count_parameters(solution):,} (solution)")
assert count_parameters(mine) == count_parameters(solution) == 520_778
""",
        r"DWConvNet parameters: 520,778",
    ),
)


class SeedTestError(AssertionError):
    """A seed test raised or printed something other than its expected line; the message has its output."""


def run_seed_tests(tests=SEED_TESTS) -> list[dict]:
    """Run the tests in order in one namespace (as notebook cells); [{key, part, question, title, code, output}].

    Raises SeedTestError naming the test, with its output and exception, on the first failure.
    """
    namespace: dict = {"__name__": "__seed_tests__"}
    results = []
    for test in tests:
        buffer = io.StringIO()
        try:
            with contextlib.redirect_stdout(buffer):
                exec(compile(test.code, f"<seed test {test.key}>", "exec"), namespace)  # noqa: S102
        except Exception as err:
            raise SeedTestError(
                f"seed test {test.key!r} (question {test.question}) failed: {type(err).__name__}: {err}\n"
                f"its output:\n{buffer.getvalue()}"
            ) from err
        output = buffer.getvalue()
        if not re.search(test.expect, output, re.MULTILINE):
            raise SeedTestError(f"seed test {test.key!r} did not print /{test.expect}/; its output:\n{output}")
        results.append(
            {
                "label": test.label,
                "key": test.key,
                "part": test.part,
                "question": test.question,
                "title": test.title,
                "code": test.code,
                "output": output,
            }
        )
    return results
