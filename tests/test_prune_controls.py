"""Tests of Part 3's controls: BatchNorm re-estimation at each pruning event leaves the run's trajectory alone."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from effdl.compress.prune import PruningHook, SparseConvNet
from effdl.compress.prune_controls import BatchNormControlPruningHook, reestimate_batchnorm
from effdl.data import DeviceDataset
from effdl.engine import TrainConfig, train

MEAN, STD = [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]


def test_reestimate_batchnorm_is_the_plain_average_of_the_batch_statistics():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, momentum=0.3))
    weights = {k: v.clone() for k, v in net.state_dict().items() if "running" not in k and "num_batches" not in k}
    batches = [(torch.randn(5, 3, 8, 8) * (i + 1) + i, None) for i in range(4)]
    reestimate_batchnorm(net, iter(batches), num_batches=3)
    conv_out = [net[0](x) for x, _ in batches[:3]]
    expected_mean = torch.stack([o.mean(dim=(0, 2, 3)) for o in conv_out]).mean(0)
    expected_var = torch.stack([o.var(dim=(0, 2, 3), unbiased=True) for o in conv_out]).mean(0)
    assert torch.allclose(net[1].running_mean, expected_mean, atol=1e-5)
    assert torch.allclose(net[1].running_var, expected_var, atol=1e-4)
    assert net[1].momentum == 0.3 and not net.training  # momentum restored, eval mode
    for key, value in weights.items():
        assert torch.equal(net.state_dict()[key], value)  # no parameter moved
    with pytest.raises(ValueError, match="num_batches"):
        reestimate_batchnorm(net, iter(batches), num_batches=0)


def run(packed, bn_batches):
    torch.manual_seed(3)
    model = SparseConvNet(mode="structured")
    cfg = TrainConfig(
        epochs=3, lr=0.05, batch_size=50, eval_batch_size=100, seed=7, scheduler="multistep", milestones=(2,)
    )
    args = ("structured", 0.25, [0, 1])
    hook = BatchNormControlPruningHook(*args, bn_batches=bn_batches) if bn_batches else PruningHook(*args)
    train_set = DeviceDataset.from_packed(packed, "train", "cpu")
    test_set = DeviceDataset.from_packed(packed, "test", "cpu")
    result = train(model, train_set, test_set, cfg, "cpu", mean=MEAN, std=STD, hooks=[hook], log=lambda _: None)
    return model, result


def test_bn_control_columns_do_not_change_the_training_trajectory(tiny_packed, one_torch_thread):
    plain_model, plain = run(tiny_packed, bn_batches=0)
    model, result = run(tiny_packed, bn_batches=2)
    assert [r["iteration"] for r in result.iterations] == [r["iteration"] for r in plain.iterations]
    assert [r["loss"] for r in result.iterations] == [r["loss"] for r in plain.iterations]
    for ours, theirs in zip(result.epochs, plain.epochs):
        assert ours["test_acc"] == theirs["test_acc"] and ours["train_loss"] == theirs["train_loss"]
        assert "test_acc_bn_reestimated" not in theirs  # the control's columns only when asked for
    state, plain_state = model.state_dict(), plain_model.state_dict()
    assert all(torch.equal(state[k], plain_state[k]) for k in state)  # BN buffers included
    events = [r for r in result.epochs if r["prune_event"]]
    assert [r["epoch"] for r in events] == [1, 2]
    for row in events:
        assert 0 <= row["test_acc_before_prune"] <= 100 and 0 <= row["test_acc_bn_reestimated"] <= 100
    quiet = [r for r in result.epochs if not r["prune_event"]]
    assert quiet and all(math.isnan(r["test_acc_bn_reestimated"]) for r in quiet)


def test_bn_control_measures_before_the_event_and_after_reestimation(tiny_packed, one_torch_thread):
    """The 'before' column is the unpruned network's test (as the next epoch would see without pruning)."""
    torch.manual_seed(3)
    model = SparseConvNet(mode="unstructured")
    seen = []

    class Context:
        precision, device = "fp32", torch.device("cpu")

        def test(self, net):
            seen.append(float(sum(m._mask.sum() for m in net.modules() if hasattr(m, "_mask"))))
            return 0.0, 50.0

        def train_batches(self, seed):
            gen = torch.Generator().manual_seed(seed)
            return ((torch.rand(4, 3, 32, 32, generator=gen), None) for _ in range(5))

    hook = BatchNormControlPruningHook("unstructured", 0.5, [0], bn_batches=3)
    hook.attach(Context())
    row = hook.after_train_epoch(0, model)
    assert seen[0] > seen[1]  # tested before pruning, then the pruned copy
    assert row["test_acc_before_prune"] == row["test_acc_bn_reestimated"] == 50.0
    assert all(torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean)) for bn in bns(model))
    with pytest.raises(RuntimeError, match="attach"):
        BatchNormControlPruningHook("unstructured", 0.5, [0], bn_batches=3).after_train_epoch(0, model)
    with pytest.raises(ValueError, match="bn_batches"):
        BatchNormControlPruningHook("unstructured", 0.5, [0], bn_batches=0)


def bns(net):
    return [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]


def control_epochs():
    """Two seeds x two modes, events after epochs 1 and 2 of 3, with the BatchNorm control's columns."""
    import pandas as pd

    rows = []
    for mode, drop in (("structured", 20.0), ("unstructured", 4.0)):
        for seed in (1, 2):
            for epoch in (1, 2, 3):
                event = epoch < 3
                before = 50.0 + epoch + seed
                rows.append(
                    {
                        "mode": mode,
                        "run": f"{mode}_seed{seed}",
                        "seed": seed,
                        "epoch": epoch,
                        "prune_event": event,
                        "test_acc": before - drop if event else before,
                        "test_acc_before_prune": before if event else None,
                        "test_acc_bn_reestimated": before - drop / 4 if event else None,
                    }
                )
    return pd.DataFrame(rows)


def test_bn_control_table_and_sentence_report_what_reestimation_recovers():
    from effdl.report.part3_controls import bn_control_macros, bn_control_table

    epochs = control_epochs()
    table = bn_control_table(epochs)
    assert list(table["Mode"]) == ["structured", "structured", "unstructured", "unstructured"]
    assert list(table["After epoch"]) == ["1", "2", "1", "2"]
    first = table.iloc[0]  # structured, epoch 1: before 52.5, after 32.5, re-estimated 47.5 (mean of seeds)
    assert first["before"].startswith("52.50") and first["after, stale BN"].startswith("32.50")
    assert first["after, BN re-estimated"].startswith("47.50")
    m = {}
    bn_control_macros(m, epochs, 20)
    assert m["PthreeCtlBnBatches"] == "20"
    assert "Structured events changed test accuracy by $-20.0$" in m["PthreeCtlBnSentence"]
    assert "$+15.0$, 75\\% of the drop" in m["PthreeCtlBnSentence"]
    m = {}
    bn_control_macros(m, epochs.assign(test_acc_bn_reestimated=epochs["test_acc_before_prune"] + 1), 20)
    assert "more than the drop" in m["PthreeCtlBnSentence"]  # re-estimation overshoots: no share above 100 %
    m = {}
    bn_control_macros(m, epochs.drop(columns=["test_acc_bn_reestimated"]), 0)
    assert "not run" in m["PthreeCtlBnSentence"]


def test_unpruned_control_pairs_on_the_seed_and_the_modes_pair_per_seed():
    import pandas as pd

    from effdl.report.part3_controls import control_macros

    pruned = pd.DataFrame(
        {
            "mode": ["structured"] * 3 + ["unstructured"] * 3,
            "seed": [1, 2, 3] * 2,
            "final_test_acc": [55.0, 57.0, 53.0, 58.0, 59.5, 57.0],
        }
    )
    unpruned = pd.DataFrame({"seed": [1, 2, 3], "final_test_acc": [60.0, 62.0, 58.5]})
    baseline = pd.DataFrame({"seed": [1, 2, 3], "final_test_acc": [52.0, 50.0, 54.0]})
    m = control_macros(
        pruned=pruned, pruned_epochs=control_epochs(), unpruned=unpruned, baseline=baseline, bn_batches=20
    )
    # -5, -5, -5.5: paired, significant
    assert "structured pruning ends lower than it" in m["PthreeCtlUnprunedSentence"]
    assert "paired t-test" in m["PthreeCtlUnprunedSentence"] and "Welch t-test" in m["PthreeCtlUnprunedSentence"]
    assert "$-3.0$ (seed 1), $-2.5$ (seed 2), $-4.0$ (seed 3)" in m["PthreeCtlPairedSentence"]
    assert "90\\% CI" in m["PthreeCtlPairedSentence"]
    m = control_macros(
        pruned=pruned, pruned_epochs=control_epochs(), unpruned=pd.DataFrame(), baseline=baseline, bn_batches=20
    )
    assert "not run" in m["PthreeCtlUnprunedSentence"]


def test_the_pruning_figure_draws_the_unpruned_control_when_it_ran():
    import matplotlib.pyplot as plt
    import pandas as pd

    from effdl.report.part3 import LABELS, pruning_figure

    pruned = control_epochs().assign(sparsity=0.25)
    baseline = pd.DataFrame({"seed": [1, 2] * 3, "run": ["b1", "b2"] * 3, "epoch": [1, 1, 2, 2, 3, 3]}).assign(
        test_acc=lambda d: 50.0 + d["epoch"]
    )
    unpruned = baseline.assign(run=lambda d: "u" + d["run"], test_acc=lambda d: d["test_acc"] + 3)
    for extra, expected in ((None, False), (unpruned, True)):
        fig = pruning_figure(pruned, baseline, extra)
        labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert (LABELS["sparse_convnet"] in labels) is expected and LABELS["baseline"] in labels
        plt.close(fig)
