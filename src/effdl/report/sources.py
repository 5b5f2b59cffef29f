"""The seed's implementation questions and where the project answers them: objects located in src/ by name.

Torch-free: a source is found by parsing the module's file with `ast` (no import), so the Snakefile, the
code appendix and the notebook builder read the code that is in `src/` at build time, never a copy.

Example:
    >>> snippet = object_source("effdl.compress.quant:quantize")
    >>> snippet.path.name, snippet.text.startswith("def quantize(")
    ('quant.py', True)
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

SRC_ROOT = Path(__file__).resolve().parents[2]  # .../src


@dataclass(frozen=True)
class SeedPart:
    """One part of the seed's handout ("2.1"), in the handout's order."""

    number: str
    title: str


@dataclass(frozen=True)
class Question:
    """An implementation question of the seed and the objects ("module:name") that implement it."""

    number: str  # the seed's numbering, e.g. "2.1.1"
    task: str  # what the seed asks, in a few words
    objects: tuple[str, ...]

    @property
    def part(self) -> str:
        """The seed part the question belongs to ("2.1" for "2.1.1")."""
        return ".".join(self.number.split(".")[:2])


SEED_PARTS = (
    SeedPart("1.1", "learning-rate sweep"),
    SeedPart("1.2", "MultiStep and cosine annealing schedules"),
    SeedPart("2.1", "quantize and dequantize"),
    SeedPart("2.2", "8-, 4- and 2-bit post-training quantization"),
    SeedPart("2.3", "stochastic rounding"),
    SeedPart("3.1", "SparseConvNet"),
    SeedPart("3.2", "SparseConvNet before pruning"),
    SeedPart("3.3", "structured (filter L1) pruning"),
    SeedPart("3.4", "unstructured pruning"),
    SeedPart("4.1", "ResNet-18: pretrained, frozen, LoRA head"),
    SeedPart("4.2", "fine-tuning accuracy"),
    SeedPart("5.1", "the transformer"),
    SeedPart("6.1", "depthwise separable convolution"),
    SeedPart("6.2", "DWConvNet"),
)

# The seed's implementation questions (2.1.1-3, 3.1, 3.3.1, 3.4.1-2, 4.1, 5.1, 6.1-6.2.1) plus the two
# code changes its other parts ask for (2.2.1 quantize every parameter, 2.3.1 stochastic rounding).
QUESTIONS = (
    Question(
        "2.1.1",
        "implement quantize (1-D or 2-D array to uint8 codes)",
        ("effdl.compress.quant:QuantParams", "effdl.compress.quant:quantize"),
    ),
    Question("2.1.2", "implement dequantize", ("effdl.compress.quant:dequantize",)),
    Question(
        "2.1.3",
        "verify quantize/dequantize on the test cases (4x smaller, small error)",
        ("effdl.compress.quant:quantized_nbytes", "effdl.compress.quant:memory_ratio"),
    ),
    Question(
        "2.2.1",
        "quantize and dequantize each parameter of the model",
        (
            "effdl.compress.quant:quantize_state_dict",
            "effdl.compress.quant:dequantize_state_dict",
            "effdl.compress.quant:fake_quantize_state_dict",
        ),
    ),
    Question(
        "2.3.1",
        "stochastic rounding in quantize (the rounding='stochastic' branch of quantize)",
        ("effdl.compress.quant:quantize",),
    ),
    Question(
        "3.1",
        "SparseConvNet from sparse_conv_block and SparseConv2d",
        (
            "effdl.compress.prune:SparseConv2d",
            "effdl.compress.prune:sparse_conv_block",
            "effdl.compress.prune:SparseConvNet",
        ),
    ),
    Question(
        "3.3.1",
        "filter_l1_pruning and the 10%-every-10-epochs schedule",
        (
            "effdl.compress.prune:get_sparse_conv2d_layers",
            "effdl.compress.prune:_importance",
            "effdl.compress.prune:_prune_layer_to",
            "effdl.compress.prune:_prune_additional",
            "effdl.compress.prune:filter_l1_pruning",
            "effdl.compress.prune:PruningHook",
        ),
    ),
    Question(
        "3.4.1",
        "the unstructured SparseConv2d (one mask entry per weight; mode='unstructured')",
        ("effdl.compress.prune:SparseConv2d",),
    ),
    Question("3.4.2", "unstructured_pruning", ("effdl.compress.prune:unstructured_pruning",)),
    Question(
        "4.1",
        "pretrained ResNet-18, frozen earlier layers, LoRA classification layer",
        ("effdl.models.resnet:freeze_modules_", "effdl.models.resnet:build_resnet18", "effdl.compress.lora:LoRALinear"),
    ),
    Question(
        "5.1",
        "the transformer (every TODO of the notebook)",
        (
            "effdl.models.transformer:positional_encoding",
            "effdl.models.transformer:PositionalEmbedding",
            "effdl.models.transformer:BaseAttention",
            "effdl.models.transformer:GlobalSelfAttention",
            "effdl.models.transformer:CrossAttention",
            "effdl.models.transformer:CausalSelfAttention",
            "effdl.models.transformer:FeedForward",
            "effdl.models.transformer:EncoderLayer",
            "effdl.models.transformer:Encoder",
            "effdl.models.transformer:DecoderLayer",
            "effdl.models.transformer:Decoder",
            "effdl.models.transformer:Transformer",
        ),
    ),
    Question(
        "6.1.1",
        "DepthwiseSeparableConvolution without the groups argument",
        ("effdl.models.dwconv:same_padding", "effdl.models.dwconv:DepthwiseSeparableConvolution"),
    ),
    Question(
        "6.1.3",
        "count the parameters of a standard and a depthwise separable convolution",
        ("effdl.measure:count_parameters", "effdl.models.dwconv:param_reduction_factor"),
    ),
    Question(
        "6.2.1",
        "dw_conv_block (depthwise separable conv, BatchNorm, ReLU) and DWConvNet",
        ("effdl.models.dwconv:dw_conv_block", "effdl.models.dwconv:DWConvNet"),
    ),
)


@dataclass(frozen=True)
class Snippet:
    """The source of one top-level function or class: its file, 1-based line range and text."""

    ref: str
    path: Path
    start: int
    end: int
    text: str

    def display_path(self, src_root: Path = SRC_ROOT) -> str:
        """The file relative to the repository root ("src/effdl/compress/quant.py")."""
        try:
            return str(Path("src") / self.path.relative_to(src_root))
        except ValueError:
            return str(self.path)


def module_file(module: str, src_root: Path = SRC_ROOT) -> Path:
    """The .py file of a module under `src_root` (a package's __init__.py), found without importing it."""
    base = src_root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    raise LookupError(f"module {module!r} has no source file under {src_root} (looked for {base}.py)")


def object_source(ref: str, src_root: Path = SRC_ROOT) -> Snippet:
    """Source of the top-level def/class `name` of `module` ("module:name"), decorators included."""
    module, _, name = ref.partition(":")
    if not name:
        raise ValueError(f"object reference {ref!r} must look like 'package.module:name'")
    path = module_file(module, src_root)
    text = path.read_text(encoding="utf-8")
    for node in ast.parse(text, filename=str(path)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            lines = text.splitlines()[start - 1 : node.end_lineno]
            return Snippet(ref, path, start, node.end_lineno, "\n".join(lines) + "\n")
    raise LookupError(f"{path} defines no top-level function or class {name!r} (needed for {ref})")


def question_sources(questions=QUESTIONS, src_root: Path = SRC_ROOT) -> dict[str, list[Snippet]]:
    """{question number: its snippets}; fails on the first object that src/ no longer defines."""
    return {q.number: [object_source(ref, src_root) for ref in q.objects] for q in questions}


def source_files(questions=QUESTIONS, src_root: Path = SRC_ROOT) -> list[str]:
    """The distinct source files the questions' objects live in (inputs of the rules that show them)."""
    files = {module_file(ref.partition(":")[0], src_root) for q in questions for ref in q.objects}
    return sorted(str(path) for path in files)


# --- inlining: an object with every effdl helper it needs, as self-contained code (the notebook's cells) ---


@dataclass(frozen=True)
class InlineBlock:
    """One top-level statement of src/ to inline: its ref ("module:name"), file and source text."""

    ref: str
    path: Path
    text: str


def _module_tree(module: str, src_root: Path) -> tuple[Path, str, ast.Module]:
    path = module_file(module, src_root)
    text = path.read_text(encoding="utf-8")
    return path, text, ast.parse(text, filename=str(path))


def _defined_names(node: ast.stmt) -> list[str]:
    """The names a top-level def, class or assignment binds."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _used_names(node: ast.AST) -> set[str]:
    """Names a statement reads at run time (annotations left out: modules use `from __future__ import annotations`)."""
    skip: set[int] = set()
    for sub in ast.walk(node):
        annotations = []
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = sub.args
            annotations = [sub.returns] + [
                a.annotation for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg) if a
            ]
        elif isinstance(sub, ast.AnnAssign):
            annotations = [sub.annotation]
        for annotation in annotations:
            if annotation is not None:
                skip.update(id(n) for n in ast.walk(annotation))
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and id(n) not in skip}


def inline_closure(
    refs: tuple[str, ...] | list[str], src_root: Path = SRC_ROOT, exclude: set[str] | frozenset = frozenset()
) -> tuple[list[str], list[InlineBlock]]:
    """The code that defines `refs` without importing effdl: (import lines, blocks in dependency order).

    Every top-level function, class or constant of an effdl module that a block reads is inlined before it
    (imports of other effdl modules are followed to their definitions); the other imports of those modules
    (torch, numpy, ...) are returned as lines. Refs in `exclude` (already defined earlier) are left out.
    """
    imports: dict[str, None] = {}
    order: list[InlineBlock] = []
    seen: set[str] = set(exclude)

    def visit(ref: str) -> None:
        if ref in seen:
            return
        seen.add(ref)
        module, _, name = ref.partition(":")
        path, text, tree = _module_tree(module, src_root)
        lines = text.splitlines()
        defs: dict[str, ast.stmt] = {}
        imported: dict[str, tuple[str, ast.stmt]] = {}
        for node in tree.body:
            for bound in _defined_names(node):
                defs.setdefault(bound, node)
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    imported[alias.asname or alias.name] = (f"{node.module}:{alias.name}", node)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    imported[alias.asname or alias.name.split(".")[0]] = ("", node)
        if name not in defs:
            target = imported.get(name)
            if target and target[0].startswith("effdl."):  # a re-export: inline the definition it names
                seen.discard(target[0])
                visit(target[0])
                return
            raise LookupError(f"{path} defines no top-level {name!r} (needed for {ref})")
        node = defs[name]
        for used in sorted(_used_names(node) - {name}):
            if used in defs and defs[used] is not node:
                visit(f"{module}:{used}")
            elif used in imported:
                target, statement = imported[used]
                if target.startswith("effdl."):
                    visit(target)
                    defined = target.partition(":")[2]
                    if used != defined and f"{module}:{used}" not in seen:  # `from effdl.x import A as _B`
                        seen.add(f"{module}:{used}")
                        order.append(InlineBlock(f"{module}:{used}", path, f"{used} = {defined}\n"))
                elif target and not target.startswith("__future__"):
                    source, _, alias_name = target.partition(":")
                    alias = used if used != alias_name else ""
                    imports[f"from {source} import {alias_name}" + (f" as {alias}" if alias else "")] = None
                elif not target:
                    full = next(a.name for a in statement.names if (a.asname or a.name.split(".")[0]) == used)
                    asname = next(a.asname for a in statement.names if (a.asname or a.name.split(".")[0]) == used)
                    imports[f"import {full}" + (f" as {asname}" if asname else "")] = None
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        block = "\n".join(lines[start - 1 : node.end_lineno]) + "\n"
        order.append(InlineBlock(f"{module}:{name}", path, block))

    for ref in refs:
        visit(ref)
    return sorted(imports, key=lambda line: (line.startswith("from "), line)), order
