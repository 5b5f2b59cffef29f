"""Toy sequence-to-sequence task for the Part 5 transformer: reverse a sequence of digits.

The source is ``seq_len`` random digits 0-9; the target is the same digits reversed. The decoder is
trained with teacher forcing (input = BOS followed by the target shifted right) and evaluated both
teacher-forced and by greedy autoregressive decoding on a held-out set, which is the stricter number:
every token must come from the model's own earlier predictions. Data are generated on the fly from a
seeded generator, so no data set is needed.

Example::

    cfg = ToyTaskConfig.from_dict({"steps": 300, "seq_len": 8})
    result = train_reversal(cfg, device=torch.device("cpu"))
    result.final["greedy_token_acc"]  # percent
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from effdl.models.transformer import Transformer
from effdl.plan.spec import dataclass_from_dict

NUM_DIGITS = 10  # source vocabulary: the digits 0-9
BOS = NUM_DIGITS  # target vocabulary: the digits plus a begin-of-sequence token
# Adam settings of "Attention Is All You Need"; warm-up matters for post-norm transformers.
ADAM_BETAS = (0.9, 0.98)
ADAM_EPS = 1e-9


@dataclass(frozen=True)
class ToyTaskConfig:
    """Model and training settings of the digit-reversal task; unknown keys raise TypeError."""

    seq_len: int = 10
    num_layers: int = 2
    d_model: int = 64
    num_heads: int = 4
    dff: int = 128
    dropout_rate: float = 0.1
    fused_qkv: bool = True
    steps: int = 1500
    batch_size: int = 64
    lr: float = 1e-3
    warmup_steps: int = 100
    eval_every: int = 250
    eval_size: int = 1000
    seed: int = 0

    def __post_init__(self):
        problems = []
        if not 1 <= self.seq_len <= 18:
            problems.append(f"seq_len must lie in 1..18 (sequences are keyed as int64 numbers), got {self.seq_len}")
        if self.d_model % self.num_heads != 0:
            problems.append(f"num_heads={self.num_heads} must divide d_model={self.d_model}")
        if min(self.steps, self.batch_size, self.eval_every, self.eval_size, self.num_layers) < 1:
            problems.append("steps, batch_size, eval_every, eval_size and num_layers must be >= 1")
        if not self.lr > 0 or self.warmup_steps < 0 or not 0 <= self.dropout_rate < 1:
            problems.append("need lr > 0, warmup_steps >= 0 and 0 <= dropout_rate < 1")
        if problems:
            raise ValueError("invalid toy-task settings: " + "; ".join(problems) + ". Fix: change them in the config.")

    @classmethod
    def from_dict(cls, settings: dict) -> ToyTaskConfig:
        """Build from a plain dict (e.g. a rule's params); unknown keys raise TypeError naming them."""
        return dataclass_from_dict(cls, settings, "toy-task")


@dataclass
class ToyResult:
    """Outcome of train_reversal: evaluation rows over training, the final row, and the model."""

    history: list[dict] = field(default_factory=list)
    final: dict = field(default_factory=dict)
    model: nn.Module | None = None
    num_params: int = 0
    train_time_s: float = 0.0  # optimisation steps only; the periodic evaluations are excluded


def reversal_batch(
    batch_size: int, seq_len: int, generator: torch.Generator, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One batch (context, decoder input, target), each (batch_size, seq_len) int64 on device."""
    context = torch.randint(NUM_DIGITS, (batch_size, seq_len), generator=generator, device=generator.device)
    context = context.to(device)
    target = context.flip(1)
    bos = torch.full((batch_size, 1), BOS, dtype=torch.long, device=device)
    decoder_input = torch.cat([bos, target[:, :-1]], dim=1)  # teacher forcing: shift right
    return context, decoder_input, target


def sequence_keys(digits: torch.Tensor) -> torch.Tensor:
    """Each row of digits read as a base-10 integer (B,), to test membership of whole sequences."""
    powers = NUM_DIGITS ** torch.arange(digits.shape[1] - 1, -1, -1, device=digits.device, dtype=torch.long)
    return (digits * powers).sum(dim=1)


@torch.no_grad()
def greedy_decode(model: nn.Module, context: torch.Tensor, length: int) -> torch.Tensor:
    """Autoregressive argmax decoding from BOS: (B, L_in) -> (B, length) predicted target tokens."""
    tokens = torch.full((context.shape[0], 1), BOS, dtype=torch.long, device=context.device)
    for _ in range(length):
        next_token = model(context, tokens)[:, -1].argmax(dim=-1, keepdim=True)  # (B, 1)
        tokens = torch.cat([tokens, next_token], dim=1)
    return tokens[:, 1:]


@torch.no_grad()
def evaluate_reversal(
    model: nn.Module, context: torch.Tensor, decoder_input: torch.Tensor, target: torch.Tensor
) -> dict:
    """Loss and accuracies (percent) on a held-out batch: teacher-forced and greedy token/sequence accuracy."""
    was_training = model.training
    model.eval()
    logits = model(context, decoder_input)  # (B, L, vocab)
    loss = F.cross_entropy(logits.flatten(0, 1), target.flatten()).item()
    tf_token_acc = (logits.argmax(-1) == target).float().mean().item() * 100
    greedy_correct = greedy_decode(model, context, target.shape[1]) == target  # (B, L) bool
    model.train(was_training)
    return {
        "eval_loss": loss,
        "tf_token_acc": tf_token_acc,
        "greedy_token_acc": greedy_correct.float().mean().item() * 100,
        "greedy_seq_acc": greedy_correct.all(dim=1).float().mean().item() * 100,
    }


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """LR multiplier: linear warm-up to 1 over warmup_steps, then cosine decay to 0 at total_steps."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def build_toy_model(cfg: ToyTaskConfig) -> Transformer:
    """The Transformer of the toy task: digits in, digits plus BOS out."""
    return Transformer(
        cfg.num_layers,
        cfg.d_model,
        cfg.num_heads,
        cfg.dff,
        input_vocab_size=NUM_DIGITS,
        target_vocab_size=NUM_DIGITS + 1,
        dropout_rate=cfg.dropout_rate,
        fused_qkv=cfg.fused_qkv,
    )


def train_reversal(cfg: ToyTaskConfig, device: torch.device, log: Callable[[str], None] = print) -> ToyResult:
    """Train build_toy_model(cfg) on fresh random batches with Adam and evaluate every eval_every steps."""
    torch.manual_seed(cfg.seed)
    model = build_toy_model(cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=ADAM_BETAS, eps=ADAM_EPS)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, cfg.warmup_steps, cfg.steps)
    )
    # Train and held-out streams come from different seeds; the overlap is measured, not assumed.
    train_generator = torch.Generator(device="cpu").manual_seed(cfg.seed)
    eval_generator = torch.Generator(device="cpu").manual_seed(cfg.seed + 1_000_003)
    eval_batch = reversal_batch(cfg.eval_size, cfg.seq_len, eval_generator, device)
    eval_keys = sequence_keys(eval_batch[0])
    seen = torch.zeros_like(eval_keys, dtype=torch.bool)

    result = ToyResult(model=model, num_params=sum(p.numel() for p in model.parameters()))
    loss_sum = torch.zeros((), device=device)  # accumulated on the device: one host sync per evaluation
    start, eval_time = time.perf_counter(), 0.0
    model.train()
    for step in range(1, cfg.steps + 1):
        context, decoder_input, target = reversal_batch(cfg.batch_size, cfg.seq_len, train_generator, device)
        seen |= torch.isin(eval_keys, sequence_keys(context))
        logits = model(context, decoder_input)
        loss = F.cross_entropy(logits.flatten(0, 1), target.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        loss_sum += loss.detach()
        if step % cfg.eval_every == 0 or step == cfg.steps:
            interval = step - (result.history[-1]["step"] if result.history else 0)
            train_time = time.perf_counter() - start - eval_time  # training only, evaluations excluded
            eval_start = time.perf_counter()
            row = {
                "step": step,
                "train_loss": (loss_sum / interval).item(),
                "lr_now": optimizer.param_groups[0]["lr"],  # scheduled rate at this step (cfg.lr is the peak)
                "train_time_s": train_time,
                **evaluate_reversal(model, *eval_batch),
            }
            eval_time += time.perf_counter() - eval_start
            loss_sum.zero_()
            result.history.append(row)
            log(
                f"step {step}/{cfg.steps}  train loss {row['train_loss']:.4f}  eval loss {row['eval_loss']:.4f}  "
                f"greedy token acc {row['greedy_token_acc']:.2f}%  seq acc {row['greedy_seq_acc']:.2f}%  "
                f"({row['train_time_s']:.1f} s training)"
            )
    result.train_time_s = result.history[-1]["train_time_s"]
    result.final = {
        **result.history[-1],
        "eval_time_s": eval_time,
        "num_params": result.num_params,
        "adam_betas": ", ".join(f"{b:g}" for b in ADAM_BETAS),
        "input_vocab_size": NUM_DIGITS,
        "target_vocab_size": NUM_DIGITS + 1,
        "eval_seen_in_training_pct": seen.float().mean().item() * 100,
    }
    return result
