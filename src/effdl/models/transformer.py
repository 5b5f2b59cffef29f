"""Encoder-decoder transformer of Part 5 (the notebook's modules), with attention written out head by head.

The structure follows "Attention Is All You Need" (Fig. 1) and the module names of the notebook, which
mirror the TensorFlow NMT tutorial: post-norm residual blocks (``LayerNorm(x + sublayer(x))``), sinusoidal
positional encoding added to scaled token embeddings, and a final linear layer returning logits.

Every attention block computes its heads one at a time so that each matrix multiplication is a separate
call that ``effdl.studies.matmul_count`` can see. ``fused_qkv`` only changes how the Q/K/V projections are
executed (one ``d_model x d_model`` matmul each, or one ``d_model x d_k`` matmul per head); the
parameters and the function computed are the same in both modes.

Example::

    model = Transformer(num_layers=4, d_model=512, num_heads=8, dff=2048,
                        input_vocab_size=8000, target_vocab_size=8001)
    logits = model(context, x)  # context (B, L_in) int64, x (B, L_out) int64 -> (B, L_out, 8001)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def positional_encoding(length: int, depth: int) -> torch.Tensor:
    """Sinusoidal table (length, depth): PE[pos, 2i] = sin(pos / 10000^(2i/depth)), PE[pos, 2i+1] = cos(...)."""
    if length < 1 or depth < 1:
        raise ValueError(f"positional_encoding needs length >= 1 and depth >= 1, got ({length}, {depth}).")
    positions = torch.arange(length, dtype=torch.float64)[:, None]  # (length, 1)
    pair_index = torch.div(torch.arange(depth), 2, rounding_mode="floor")  # i for columns 2i and 2i+1
    rates = 1.0 / torch.pow(10000.0, 2.0 * pair_index.to(torch.float64) / depth)  # (depth,)
    angles = positions * rates  # (length, depth)
    table = torch.empty_like(angles)
    table[:, 0::2] = torch.sin(angles[:, 0::2])
    table[:, 1::2] = torch.cos(angles[:, 1::2])
    return table.to(torch.float32)


class PositionalEmbedding(nn.Module):
    """Token embedding scaled by sqrt(d_model) plus the fixed sinusoidal positional encoding."""

    def __init__(self, vocab_size: int, d_model: int, max_len: int = 2048):
        super().__init__()
        self.d_model = d_model
        self.max_len = max_len
        self.embedding = nn.Embedding(vocab_size, d_model)
        # std d_model^-0.5 so that the sqrt(d_model)-scaled embedding has unit variance, like the
        # positional signal (fairseq's choice); torch's N(0, 1) default would drown the positions.
        nn.init.normal_(self.embedding.weight, mean=0.0, std=d_model**-0.5)
        # Not a parameter and not saved: it is a pure function of (max_len, d_model).
        self.register_buffer("pos_encoding", positional_encoding(max_len, d_model), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, L) int64 token ids -> (B, L, d_model)
        length = x.shape[1]
        if length > self.max_len:
            raise ValueError(
                f"sequence length {length} exceeds max_len={self.max_len} of PositionalEmbedding; "
                "build the model with a larger max_len or feed shorter sequences."
            )
        # sqrt(d_model) scale as in the paper and the notebook's tutorial.
        return self.embedding(x) * math.sqrt(self.d_model) + self.pos_encoding[:length]


def _causal_mask(length: int, device: torch.device) -> torch.Tensor:
    """Boolean (length, length) mask, True where query i must not see key j (j > i)."""
    return torch.ones(length, length, dtype=torch.bool, device=device).triu(diagonal=1)


class BaseAttention(nn.Module):
    """Multi-head attention followed by the residual add and LayerNorm (post-norm), computed head by head."""

    def __init__(self, d_model: int, num_heads: int, dropout_rate: float = 0.1, *, fused_qkv: bool = False):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(
                f"d_model={d_model} is not divisible by num_heads={num_heads}; "
                "choose num_heads that divides d_model (d_k = d_model / num_heads)."
            )
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_k = d_model // num_heads
        self.fused_qkv = fused_qkv
        # Rows [i*d_k, (i+1)*d_k) of each projection belong to head i, the layout of
        # nn.MultiheadAttention's in_proj_weight blocks.
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.attn_dropout = nn.Dropout(dropout_rate)  # on the attention weights, as Keras MultiHeadAttention
        self.layernorm = nn.LayerNorm(d_model)

    def _head_projections(self, x_q: torch.Tensor, x_kv: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        """Per-head (q, k, v), each (B, L, d_k); one fused matmul per projection or one per head."""
        if self.fused_qkv:
            q_all, k_all, v_all = self.query(x_q), self.key(x_kv), self.value(x_kv)  # (B, L, d_model)
            return [
                (q_all[..., rows], k_all[..., rows], v_all[..., rows])
                for rows in (slice(i * self.d_k, (i + 1) * self.d_k) for i in range(self.num_heads))
            ]
        heads = []
        for i in range(self.num_heads):
            rows = slice(i * self.d_k, (i + 1) * self.d_k)
            q = F.linear(x_q, self.query.weight[rows], self.query.bias[rows])  # x W_Q^i: (B, Lq, d_k)
            k = F.linear(x_kv, self.key.weight[rows], self.key.bias[rows])  # x W_K^i: (B, Lk, d_k)
            v = F.linear(x_kv, self.value.weight[rows], self.value.bias[rows])  # x W_V^i: (B, Lk, d_k)
            heads.append((q, k, v))
        return heads

    def attend(self, x_q: torch.Tensor, x_kv: torch.Tensor, causal: bool = False) -> torch.Tensor:
        """Multi-head attention output (B, Lq, d_model) before the residual add (no LayerNorm)."""
        mask = _causal_mask(x_q.shape[1], x_q.device) if causal else None
        outputs = []
        for q, k, v in self._head_projections(x_q, x_kv):
            scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.d_k)  # (B, Lq, Lk)
            if mask is not None:
                scores = scores.masked_fill(mask, float("-inf"))
            weights = self.attn_dropout(torch.softmax(scores, dim=-1))
            outputs.append(torch.matmul(weights, v))  # (B, Lq, d_k)
        return self.out(torch.cat(outputs, dim=-1))  # concat heads, then W_O: (B, Lq, d_model)


class GlobalSelfAttention(BaseAttention):
    """Encoder self-attention: Q, K and V all come from x; LayerNorm(x + MHA(x, x, x))."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layernorm(x + self.attend(x, x))


class CrossAttention(BaseAttention):
    """Decoder cross-attention: Q from the decoder x, K and V from the encoder context."""

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.layernorm(x + self.attend(x, context))


class CausalSelfAttention(BaseAttention):
    """Decoder self-attention in which position i attends only to positions <= i."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layernorm(x + self.attend(x, x, causal=True))


class FeedForward(nn.Module):
    """Position-wise Linear(d_model, dff) -> ReLU -> Linear(dff, d_model) -> Dropout, then residual and LayerNorm."""

    def __init__(self, d_model: int, dff: int, dropout_rate: float = 0.1):
        super().__init__()
        self.seq = nn.Sequential(
            nn.Linear(d_model, dff),
            nn.ReLU(),
            nn.Linear(dff, d_model),
            nn.Dropout(dropout_rate),
        )
        self.layer_norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer_norm(x + self.seq(x))


class EncoderLayer(nn.Module):
    """GlobalSelfAttention then FeedForward."""

    def __init__(self, *, d_model: int, num_heads: int, dff: int, dropout_rate: float = 0.1, fused_qkv: bool = False):
        super().__init__()
        self.self_attention = GlobalSelfAttention(
            d_model=d_model, num_heads=num_heads, dropout_rate=dropout_rate, fused_qkv=fused_qkv
        )
        self.ffn = FeedForward(d_model, dff, dropout_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.self_attention(x))


class Encoder(nn.Module):
    """PositionalEmbedding, dropout, then num_layers EncoderLayers: (B, L_in) ids -> (B, L_in, d_model)."""

    def __init__(
        self,
        num_layers: int,
        d_model: int,
        num_heads: int,
        dff: int,
        vocab_size: int,
        dropout_rate: float = 0.1,
        *,
        fused_qkv: bool = False,
    ):
        super().__init__()
        self.d_model = d_model
        self.num_layers = num_layers
        self.pos_embedding = PositionalEmbedding(vocab_size=vocab_size, d_model=d_model)
        self.dropout = nn.Dropout(dropout_rate)
        self.enc_layers = nn.ModuleList(
            EncoderLayer(d_model=d_model, num_heads=num_heads, dff=dff, dropout_rate=dropout_rate, fused_qkv=fused_qkv)
            for _ in range(num_layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.pos_embedding(x))
        for layer in self.enc_layers:
            x = layer(x)
        return x


class DecoderLayer(nn.Module):
    """CausalSelfAttention, then CrossAttention to the encoder output, then FeedForward."""

    def __init__(self, d_model: int, num_heads: int, dff: int, dropout_rate: float = 0.1, *, fused_qkv: bool = False):
        super().__init__()
        attention_kwargs = dict(d_model=d_model, num_heads=num_heads, dropout_rate=dropout_rate, fused_qkv=fused_qkv)
        self.causal_self_attention = CausalSelfAttention(**attention_kwargs)
        self.cross_attention = CrossAttention(**attention_kwargs)
        self.ffn = FeedForward(d_model, dff, dropout_rate)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = self.causal_self_attention(x)
        x = self.cross_attention(x, context)
        return self.ffn(x)


class Decoder(nn.Module):
    """PositionalEmbedding, dropout, then num_layers DecoderLayers attending to the encoder output."""

    def __init__(
        self,
        num_layers: int,
        d_model: int,
        num_heads: int,
        dff: int,
        vocab_size: int,
        dropout_rate: float = 0.1,
        *,
        fused_qkv: bool = False,
    ):
        super().__init__()
        self.d_model = d_model
        self.num_layers = num_layers
        self.pos_embedding = PositionalEmbedding(vocab_size=vocab_size, d_model=d_model)
        self.dropout = nn.Dropout(dropout_rate)
        self.dec_layers = nn.ModuleList(
            DecoderLayer(d_model, num_heads, dff, dropout_rate, fused_qkv=fused_qkv) for _ in range(num_layers)
        )

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        # x: (B, L_out) ids, context: (B, L_in, d_model) -> (B, L_out, d_model)
        x = self.dropout(self.pos_embedding(x))
        for layer in self.dec_layers:
            x = layer(x, context)
        return x


class Transformer(nn.Module):
    """Encoder-decoder transformer; forward(context, x) returns logits (B, L_out, target_vocab_size)."""

    def __init__(
        self,
        num_layers: int,
        d_model: int,
        num_heads: int,
        dff: int,
        input_vocab_size: int,
        target_vocab_size: int,
        dropout_rate: float = 0.1,
        *,
        fused_qkv: bool = False,
    ):
        super().__init__()
        self.encoder = Encoder(num_layers, d_model, num_heads, dff, input_vocab_size, dropout_rate, fused_qkv=fused_qkv)
        self.decoder = Decoder(
            num_layers, d_model, num_heads, dff, target_vocab_size, dropout_rate, fused_qkv=fused_qkv
        )
        # Raw logits: the softmax the notebook's text mentions belongs to the loss (cross-entropy).
        self.final_layer = nn.Linear(d_model, target_vocab_size)

    def forward(self, context: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # context: (B, L_in) source ids, x: (B, L_out) target ids (shifted right) -> (B, L_out, target_vocab)
        if context.dtype != torch.long or x.dtype != torch.long:
            raise TypeError(
                f"Transformer expects int64 token ids, got context {context.dtype} and x {x.dtype}; "
                "pass LongTensors (e.g. tokens.long())."
            )
        encoded = self.encoder(context)
        return self.final_layer(self.decoder(x, encoded))
