"""Tests of the Part 5 transformer, its matmul counter and the toy reversal task (CPU, a few seconds)."""

import math

import pytest
import torch
from torch import nn

from effdl.models.transformer import (
    CausalSelfAttention,
    CrossAttention,
    GlobalSelfAttention,
    PositionalEmbedding,
    Transformer,
    positional_encoding,
)
from effdl.studies.matmul_count import (
    count_matmuls,
    count_transformer_matmuls,
    expected_matmuls,
    expected_matmuls_by_block,
)
from effdl.studies.seq2seq import (
    BOS,
    ToyTaskConfig,
    evaluate_reversal,
    greedy_decode,
    reversal_batch,
    sequence_keys,
    train_reversal,
    warmup_cosine,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: see conftest.py


SMALL = dict(num_layers=2, d_model=16, num_heads=4, dff=32, input_vocab_size=11, target_vocab_size=13)


def small_model(fused_qkv=False, dropout_rate=0.1, seed=0):
    torch.manual_seed(seed)
    return Transformer(**SMALL, dropout_rate=dropout_rate, fused_qkv=fused_qkv)


def random_tokens(vocab, shape, seed):
    return torch.randint(vocab, shape, generator=torch.Generator().manual_seed(seed))


# --- positional encoding -------------------------------------------------------------------------


def test_positional_encoding_matches_formula():
    length, depth = 2048, 256  # the notebook's plot
    table = positional_encoding(length, depth)
    assert table.shape == (length, depth) and table.dtype == torch.float32
    for pos in (0, 1, 37, 2047):
        for i in (0, 5, 127):
            angle = pos / 10000 ** (2 * i / depth)
            assert table[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert table[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


def test_positional_embedding_shape_and_length_check():
    layer = PositionalEmbedding(vocab_size=10, d_model=16, max_len=20)
    assert layer(random_tokens(10, (2, 5), seed=0)).shape == (2, 5, 16)  # notebook Cell 5.5
    with pytest.raises(ValueError, match="max_len"):
        layer(random_tokens(10, (2, 21), seed=0))


# --- full model ----------------------------------------------------------------------------------


def test_notebook_full_model_shape_on_meta_device():
    # The notebook's test (Cell 5.14) at its exact size; on the meta device only shapes are computed.
    with torch.device("meta"):
        model = Transformer(4, 512, 8, 2048, input_vocab_size=8000, target_vocab_size=8001, dropout_rate=0.1)
        context = torch.randint(8000, (64, 201))
        x = torch.randint(8001, (64, 200))
    model.eval()
    with torch.no_grad():
        assert model(context, x).shape == (64, 200, 8001)


def test_notebook_full_width_model_runs_on_cpu():
    # Same architecture with real numbers, batch 2 to stay fast on a CPU.
    torch.manual_seed(0)
    model = Transformer(4, 512, 8, 2048, input_vocab_size=8000, target_vocab_size=8001).eval()
    with torch.no_grad():
        logits = model(random_tokens(8000, (2, 201), seed=1), random_tokens(8001, (2, 200), seed=2))
    assert logits.shape == (2, 200, 8001)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("fused_qkv", [False, True])
def test_decoder_is_causal(fused_qkv):
    model = small_model(fused_qkv).eval()
    context, x = random_tokens(11, (3, 7), seed=1), random_tokens(13, (3, 6), seed=2)
    t = 3
    changed = x.clone()
    changed[:, t:] = (changed[:, t:] + 1) % 13  # alter every token from position t on
    with torch.no_grad():
        before, after = model(context, x), model(context, changed)
    torch.testing.assert_close(before[:, :t], after[:, :t])
    assert not torch.allclose(before[:, t:], after[:, t:])  # later positions do see the change


def test_context_changes_every_position():
    model = small_model().eval()
    context, x = random_tokens(11, (2, 7), seed=1), random_tokens(13, (2, 6), seed=2)
    other = context.clone()
    other[:, -1] = (other[:, -1] + 1) % 11  # the last source token is visible to every target position
    with torch.no_grad():
        diff = (model(context, x) - model(other, x)).abs().amax(dim=-1)  # (B, L_out)
    assert (diff > 0).all()


def test_eval_is_deterministic_and_train_uses_dropout():
    model = small_model()
    context, x = random_tokens(11, (2, 7), seed=1), random_tokens(13, (2, 6), seed=2)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(context, x), model(context, x))
        model.train()
        assert not torch.equal(model(context, x), model(context, x))


def test_fused_and_per_head_projections_compute_the_same_function():
    per_head, fused = small_model(fused_qkv=False).eval(), small_model(fused_qkv=True, seed=1).eval()
    fused.load_state_dict(per_head.state_dict())
    context, x = random_tokens(11, (2, 7), seed=1), random_tokens(13, (2, 6), seed=2)
    with torch.no_grad():
        torch.testing.assert_close(fused(context, x), per_head(context, x))


# --- attention against torch's reference -----------------------------------------------------------


@pytest.mark.parametrize("fused_qkv", [False, True])
@pytest.mark.parametrize("kind", ["global", "causal", "cross"])
def test_attention_matches_nn_multihead_attention(kind, fused_qkv):
    d_model, num_heads = 16, 4
    torch.manual_seed(0)
    cls = {"global": GlobalSelfAttention, "causal": CausalSelfAttention, "cross": CrossAttention}[kind]
    ours = cls(d_model=d_model, num_heads=num_heads, dropout_rate=0.0, fused_qkv=fused_qkv).eval()
    with torch.no_grad():  # non-trivial LayerNorm affine so that it is part of the comparison
        ours.layernorm.weight.uniform_(0.5, 1.5)
        ours.layernorm.bias.uniform_(-0.5, 0.5)
    reference = nn.MultiheadAttention(d_model, num_heads, batch_first=True).eval()
    with torch.no_grad():
        reference.in_proj_weight.copy_(torch.cat([ours.query.weight, ours.key.weight, ours.value.weight]))
        reference.in_proj_bias.copy_(torch.cat([ours.query.bias, ours.key.bias, ours.value.bias]))
        reference.out_proj.weight.copy_(ours.out.weight)
        reference.out_proj.bias.copy_(ours.out.bias)

    generator = torch.Generator().manual_seed(1)
    x = torch.randn(3, 6, d_model, generator=generator)
    context = torch.randn(3, 9, d_model, generator=generator)
    with torch.no_grad():
        if kind == "global":
            got, expected_attn = ours(x), reference(x, x, x, need_weights=False)[0]
        elif kind == "causal":
            mask = torch.ones(6, 6, dtype=torch.bool).triu(1)  # True = may not attend
            got, expected_attn = ours(x), reference(x, x, x, attn_mask=mask, need_weights=False)[0]
        else:
            got, expected_attn = ours(x, context), reference(x, context, context, need_weights=False)[0]
    torch.testing.assert_close(got, ours.layernorm(x + expected_attn), rtol=1e-5, atol=1e-5)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="divisible"):
        Transformer(1, 10, 3, 8, 5, 5)
    model = small_model()
    with pytest.raises(TypeError, match="int64"):
        model(torch.zeros(1, 3), torch.zeros(1, 3, dtype=torch.long))


# --- matmul counter ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fused_qkv", [False, True])
@pytest.mark.parametrize("num_layers,num_heads", [(1, 1), (2, 4), (3, 2)])
def test_counted_matmuls_match_closed_form(num_layers, num_heads, fused_qkv):
    result = count_transformer_matmuls(
        num_layers,
        num_heads,
        d_model=8 * num_heads,
        dff=16,
        input_vocab_size=9,
        target_vocab_size=7,
        context_len=5,
        target_len=4,
        fused_qkv=fused_qkv,
    )
    N, h = num_layers, num_heads
    closed_form = N * (6 * h + 16) + 1 if fused_qkv else N * (15 * h + 7) + 1
    assert result.total == expected_matmuls(N, h, fused_qkv) == closed_form
    counted = dict(zip(result.by_block()["block"], result.by_block()["count"]))
    assert counted == expected_matmuls_by_block(N, h, fused_qkv)
    # The ATen kernels that ran agree block by block with the Python-level calls.
    kernels = result.kernels_by_block()
    assert dict(zip(kernels["block"], kernels["count"])) == counted
    assert not result.opaque_calls


def test_counter_roles_per_attention_block():
    h = 4
    result = count_transformer_matmuls(
        1, h, d_model=16, dff=8, input_vocab_size=5, target_vocab_size=5, context_len=3, target_len=3
    )
    roles = result.by_role()
    cross = roles[roles["block"] == "decoder cross-attention"].set_index("role")["count"].to_dict()
    # Per-head convention: h each of Q, K, V, Q·Kᵀ and softmax·V, one W_O.
    assert cross == {
        "Q projection": h,
        "K projection": h,
        "V projection": h,
        "scores Q·Kᵀ": h,
        "softmax·V": h,
        "output projection W_O": 1,
    }
    assert "other" not in set(roles["role"]) and "other" not in set(roles["block"])


def test_counter_sees_matmuls_hidden_in_torch_modules():
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    x = torch.randn(1, 3, 8)
    result = count_matmuls(mha, x, x, x)
    assert "multi_head_attention_forward" in result.opaque_calls
    assert result.kernel_total > result.total  # the kernels reveal what the Python-level view misses
    assert mha.training  # the counter restores the training flag


# --- toy task ---------------------------------------------------------------------------------------


def test_reversal_batch_layout():
    context, decoder_input, target = reversal_batch(5, 6, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert torch.equal(target, context.flip(1))
    assert (decoder_input[:, 0] == BOS).all()
    assert torch.equal(decoder_input[:, 1:], target[:, :-1])
    keys = sequence_keys(torch.tensor([[0, 4, 2], [9, 9, 9]]))
    assert keys.tolist() == [42, 999]


class ReversingOracle(nn.Module):
    """Predicts the reversed context at every step (one-hot logits, shifted by `shift` classes), ignoring x."""

    def __init__(self, shift: int = 0):
        super().__init__()
        self.shift = shift

    def forward(self, context, x):
        reversed_context = context.flip(1)[:, : x.shape[1]]
        return nn.functional.one_hot(reversed_context, BOS + 1).float().roll(self.shift, dims=-1)


def test_greedy_decode_follows_an_oracle():
    context = torch.randint(10, (4, 5), generator=torch.Generator().manual_seed(0))
    assert torch.equal(greedy_decode(ReversingOracle(), context, 5), context.flip(1))


def test_evaluate_reversal_known_answers():
    context, decoder_input, target = reversal_batch(8, 5, torch.Generator().manual_seed(3), torch.device("cpu"))
    right = evaluate_reversal(ReversingOracle(), context, decoder_input, target)
    # one-hot logits over 11 tokens (10 digits and BOS), 1 on the target: loss log(e + 10) - 1
    assert right["eval_loss"] == pytest.approx(math.log(math.e + 10) - 1, rel=1e-6)
    assert (right["tf_token_acc"], right["greedy_token_acc"], right["greedy_seq_acc"]) == (100.0, 100.0, 100.0)
    wrong = evaluate_reversal(ReversingOracle(shift=1), context, decoder_input, target)
    assert wrong["eval_loss"] == pytest.approx(math.log(math.e + 10), rel=1e-6)
    assert (wrong["tf_token_acc"], wrong["greedy_token_acc"], wrong["greedy_seq_acc"]) == (0.0, 0.0, 0.0)


def test_evaluate_reversal_token_and_sequence_accuracy_differ():
    """Half the positions right in every sequence: token accuracy 50 %, sequence accuracy 0 %."""

    class HalfRight(ReversingOracle):
        def forward(self, context, x):
            logits = super().forward(context, x)
            logits[:, 1::2] = logits[:, 1::2].roll(1, dims=-1)  # odd positions predict the wrong digit
            return logits

    context, decoder_input, target = reversal_batch(6, 4, torch.Generator().manual_seed(4), torch.device("cpu"))
    result = evaluate_reversal(HalfRight(), context, decoder_input, target)
    assert (result["tf_token_acc"], result["greedy_token_acc"], result["greedy_seq_acc"]) == (50.0, 50.0, 0.0)


def test_warmup_cosine_known_values():
    assert [warmup_cosine(s, 4, 12) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert warmup_cosine(4, 4, 12) == 1.0 and warmup_cosine(8, 4, 12) == pytest.approx(0.5)
    assert warmup_cosine(12, 4, 12) == pytest.approx(0.0, abs=1e-12) and warmup_cosine(20, 4, 12) == 0.0


def test_toy_training_reduces_loss():
    cfg = ToyTaskConfig(
        seq_len=4,
        num_layers=1,
        d_model=16,
        num_heads=2,
        dff=32,
        steps=60,
        batch_size=32,
        warmup_steps=10,
        eval_every=30,
        eval_size=64,
        lr=3e-3,
    )
    result = train_reversal(cfg, torch.device("cpu"), log=lambda _: None)
    assert [row["step"] for row in result.history] == [30, 60]
    assert result.history[-1]["train_loss"] < 0.9 * math.log(BOS + 1)  # below a uniform guess
    assert result.final["greedy_token_acc"] >= 20.0  # 31 % here; chance is 10 % (ten digits)
    assert result.num_params == sum(p.numel() for p in result.model.parameters())


def test_toy_config_rejects_unknown_and_invalid_settings():
    with pytest.raises(TypeError, match="stepz"):
        ToyTaskConfig.from_dict({"stepz": 10})
    with pytest.raises(ValueError, match="num_heads"):
        ToyTaskConfig(d_model=10, num_heads=4)
