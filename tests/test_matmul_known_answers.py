"""Known answers for the matmul counter's tables (Part 5): multiply-accumulates, per-layer counts, the study rows."""

from __future__ import annotations

import torch
from torch import nn

from effdl.models.transformer import Transformer
from effdl.studies.matmul_count import count_matmuls, expected_matmuls, matmul_study


def test_linear_calls_and_kernels_carry_the_module_and_its_macs():
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Sequential(nn.Linear(16, 4)))
    result = count_matmuls(model, torch.randn(1, 5, 8))
    # 5 tokens: Linear(8, 16) is 5 * 16 outputs x 8 inputs, Linear(16, 4) is 5 * 4 x 16
    assert [(r.op, r.module, r.macs) for r in result.calls] == [("linear", "0", 640), ("linear", "2.0", 320)]
    assert [(r.op, r.module, r.macs) for r in result.kernels] == [("aten.addmm", "0", 640), ("aten.addmm", "2.0", 320)]
    table = result.by_block()
    assert table.columns.tolist() == ["block", "count", "layers", "macs", "count_per_layer"]
    assert table.to_dict("records") == [{"block": "other", "count": 2, "layers": 1, "macs": 960, "count_per_layer": 2}]


def test_by_block_counts_per_layer_are_integers():
    torch.manual_seed(0)
    model = Transformer(2, 8, 2, 16, input_vocab_size=7, target_vocab_size=9)
    table = count_matmuls(model, torch.randint(7, (1, 3)), torch.randint(9, (1, 2))).by_block()
    assert str(table["count_per_layer"].dtype) == "int64"  # the paper prints "12", not "12.00"
    rows = table.set_index("block")
    assert rows.loc["encoder self-attention", "layers"] == 2
    assert rows.loc["encoder self-attention", ["count", "count_per_layer"]].tolist() == [2 * 11, 11]  # 5h + 1, h = 2
    assert rows.loc["output projection", ["count", "layers", "count_per_layer"]].tolist() == [1, 1, 1]


def test_matmul_study_rows_and_role_macs_match_closed_forms():
    d, h, dff, vocab, lc, lt = 8, 2, 16, 9, 3, 2
    dk = d // h
    notebook = dict(num_layers=1, d_model=d, num_heads=h, dff=dff, input_vocab_size=7, target_vocab_size=vocab,
                    dropout_rate=0.1, context_len=lc, target_len=lt)  # fmt: skip
    totals, roles = matmul_study(notebook, [1, 2], [1])
    assert totals[["model", "num_layers", "num_heads", "convention"]].values.tolist() == [
        ["notebook", 1, 2, "per-head"],
        ["notebook", 1, 2, "fused"],
        ["check", 1, 1, "per-head"],
        ["check", 1, 1, "fused"],
        ["check", 2, 1, "per-head"],
        ["check", 2, 1, "fused"],
    ]
    formulas = [expected_matmuls(n, heads, conv == "fused") for n, heads, conv in
                totals[["num_layers", "num_heads", "convention"]].values]  # fmt: skip
    assert totals["formula"].tolist() == formulas == totals["counted"].tolist() == totals["kernels"].tolist()
    assert totals["matches"].all() and (totals["opaque_calls"] == 0).all()
    check = totals[totals["model"] == "check"]
    assert (check["d_model"] == 8 * check["num_heads"]).all() and (check["dff"] == 16).all()
    assert (check[["input_vocab_size", "target_vocab_size", "context_len", "target_len"]] == [11, 13, 5, 4]).all().all()
    built = Transformer(1, d, h, dff, input_vocab_size=7, target_vocab_size=vocab)
    assert totals.loc[0, "params_total"] == sum(p.numel() for p in built.parameters())

    def attention(lq, lkv):  # (calls, macs) per role of one attention block, per-head convention
        return {
            "Q projection": (h, h * lq * dk * d),
            "K projection": (h, h * lkv * dk * d),
            "V projection": (h, h * lkv * dk * d),
            "scores Q·Kᵀ": (h, h * lq * lkv * dk),
            "softmax·V": (h, h * lq * dk * lkv),
            "output projection W_O": (1, lq * d * d),
        }

    def ffn(length):
        return {"FFN Linear(d_model, dff)": (1, length * dff * d), "FFN Linear(dff, d_model)": (1, length * d * dff)}

    expected = {
        "encoder self-attention": attention(lc, lc),
        "encoder feed-forward": ffn(lc),
        "decoder causal self-attention": attention(lt, lt),
        "decoder cross-attention": attention(lt, lc),
        "decoder feed-forward": ffn(lt),
        "output projection": {"vocabulary projection": (1, lt * vocab * d)},
    }
    per_head = roles[roles["convention"] == "per-head"]
    got = {(b, r): (c, m) for b, r, c, m in per_head[["block", "role", "count", "macs"]].values}
    assert got == {(b, r): v for b, table in expected.items() for r, v in table.items()}
    fused = roles[roles["convention"] == "fused"].set_index(["block", "role"])
    assert fused["macs"].to_dict() == {k: m for k, (_, m) in got.items()}  # same arithmetic, fewer calls
    assert fused.loc[("encoder self-attention", "Q projection"), "count"] == 1
    assert set(roles["convention"]) == {"per-head", "fused"} and len(roles) == 2 * len(got)
