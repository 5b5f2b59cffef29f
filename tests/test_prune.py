"""Tests for effdl.compress.prune/slim and effdl.measure: masked convs, L1 pruning vs torch, schedule, slim, costs."""

import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import torch.nn.utils.prune as tprune
from torch import nn

from effdl.compress.prune import (
    PruningHook,
    SparseConv2d,
    SparseConvNet,
    filter_l1_pruning,
    get_sparse_conv2d_layers,
    layer_sparsity,
    model_sparsity,
    oneshot_prune,
    prune_to_sparsity,
    sparse_conv_block,
    sparse_from_dense,
    unstructured_pruning,
)
from effdl.compress.slim import SlimConvNet, export_slim
from effdl.measure import (
    count_macs,
    count_parameters,
    csr_nbytes,
    measure_latency,
    serialized_nbytes,
    sparse_storage_nbytes,
)
from effdl.models import build_model
from effdl.models.convnet import CONVNET_LAYERS, ConvNet

PRUNE = {"structured": filter_l1_pruning, "unstructured": unstructured_pruning}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: intra-op threads only add contention on the shared CPU (measured 20x slower with 2)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _randomise_bn(net, generator):
    """Give every BatchNorm non-trivial eval statistics and affine terms (betas of both signs)."""
    with torch.no_grad():
        for bn in (m for m in net.modules() if isinstance(m, nn.BatchNorm2d)):
            n = bn.num_features
            bn.weight.copy_(torch.rand(n, generator=generator) + 0.5)
            bn.bias.copy_(torch.randn(n, generator=generator) * 0.5)
            bn.running_mean.copy_(torch.randn(n, generator=generator) * 0.2)
            bn.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
    return net


def _seeded_net(mode, seed=0):
    torch.manual_seed(seed)
    return _randomise_bn(SparseConvNet(mode=mode), torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("mode", ["structured", "unstructured"])
def test_sparse_conv2d_init_mask_and_forward_match_conv2d(mode):
    torch.manual_seed(0)
    layer = SparseConv2d(16, 8, 3, stride=2, padding=1, mode=mode)
    bound = 1 / math.sqrt(16)
    assert layer._weight.abs().max() <= bound
    assert layer._weight.abs().max() > 0.9 * bound  # the bound uses in_channels only, not in * k * k
    expected_mask_shape = (8,) if mode == "structured" else (8, 16, 3, 3)
    assert tuple(layer._mask.shape) == expected_mask_shape
    assert "_mask" in layer.state_dict() and "_mask" not in dict(layer.named_parameters())
    reference = nn.Conv2d(16, 8, 3, stride=2, padding=1, bias=False)
    reference.weight.data.copy_(layer._weight.data)
    x = torch.randn(2, 16, 9, 9)
    torch.testing.assert_close(layer(x), reference(x))


def test_bad_mode_and_bad_percent_raise():
    with pytest.raises(ValueError, match="unknown pruning mode"):
        SparseConv2d(3, 4, 3, mode="channel")
    with pytest.raises(ValueError, match="unknown pruning mode"):
        PruningHook("global", 0.1, [9])
    net = SparseConvNet(mode="structured")
    with pytest.raises(ValueError, match="mode='unstructured'"):
        unstructured_pruning(net, 0.1)
    with pytest.raises(ValueError, match="prune_percent"):
        filter_l1_pruning(net, 1.5)
    with pytest.raises(ValueError, match="exceeds 100%"):
        PruningHook("structured", 0.3, [1, 2, 3, 4])


def test_sparse_convnet_layer_table_and_shapes():
    net = build_model("sparse_convnet", mode="structured")
    assert isinstance(net, SparseConvNet)
    dense_shapes = [tuple(p.shape) for p in ConvNet().parameters()]
    assert [tuple(p.shape) for p in net.parameters()] == dense_shapes
    layers = get_sparse_conv2d_layers(net)
    assert [(m.in_channels, m.out_channels, m.stride) for m in layers] == list(CONVNET_LAYERS)
    assert isinstance(net.model[0][1], nn.BatchNorm2d) and isinstance(net.model[-1], nn.AdaptiveAvgPool2d)
    assert count_parameters(net) == 1_212_778  # spec §1.2: same parameters as ConvNet
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    block = sparse_conv_block(3, 5, stride=2, mode="unstructured")
    assert [type(m) for m in block] == [SparseConv2d, nn.BatchNorm2d, nn.ReLU]


@pytest.mark.parametrize("amount", [0.1, 0.37, 0.5, 0.9])
def test_oneshot_masks_equal_torch_prune(amount):
    torch.manual_seed(1)
    for mode in ("structured", "unstructured"):
        net = SparseConvNet(mode=mode)
        refs = []
        for layer in get_sparse_conv2d_layers(net):
            ref = nn.Conv2d(layer.in_channels, layer.out_channels, 3, bias=False)
            ref.weight.data.copy_(layer._weight.data)
            n_prune = round(amount * layer._mask.numel())
            if mode == "structured":
                tprune.ln_structured(ref, "weight", amount=n_prune, n=1, dim=0)
            else:
                tprune.l1_unstructured(ref, "weight", amount=n_prune)
            refs.append(ref)
        PRUNE[mode](net, amount)
        for layer, ref in zip(get_sparse_conv2d_layers(net), refs):
            expected = ref.weight_mask[:, 0, 0, 0] if mode == "structured" else ref.weight_mask
            assert torch.equal(layer._mask, expected)
            torch.testing.assert_close(layer.weight, ref.weight, rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["structured", "unstructured"])
def test_cumulative_sparsity_is_exact_after_each_event(mode):
    net = _seeded_net(mode)
    layers = get_sparse_conv2d_layers(net)
    generator = torch.Generator().manual_seed(2)
    for k in range(1, 6):
        with torch.no_grad():  # training moves weights between events; pruned raw weights become the smallest
            for layer in layers:
                layer._weight.mul_(1 + 0.5 * torch.rand(layer._weight.shape, generator=generator))
        masks_before = [layer._mask.clone() for layer in layers]
        sparsities = PRUNE[mode](net, 0.1)
        for layer, before, sparsity in zip(layers, masks_before, sparsities):
            total = layer._mask.numel()
            assert sparsity == layer_sparsity(layer) == round(k * 0.1 * total) / total
            assert torch.all(layer._mask <= before)  # nothing regrows
    assert all(layer_sparsity(layer) == 0.5 for layer in layers)
    assert model_sparsity(net) == 0.5


@pytest.mark.parametrize("mode", ["structured", "unstructured"])
def test_pruned_weights_get_zero_grad_and_stay_zero_under_sgd(mode):
    net = _seeded_net(mode)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x, y = torch.randn(4, 3, 16, 16), torch.randint(0, 10, (4,))  # small input: the pool makes any size work

    def step():
        optimizer.zero_grad()
        F.cross_entropy(net(x), y).backward()
        optimizer.step()

    step()  # fills momentum buffers before pruning, so stale momentum is exercised
    PRUNE[mode](net, 0.3)
    layers = get_sparse_conv2d_layers(net)
    masks = [layer._mask.clone() for layer in layers]
    before = [layer._weight.detach().clone() for layer in layers]
    optimizer.zero_grad()
    F.cross_entropy(net(x), y).backward()
    for layer in layers:
        pruned = (layer.weight.detach() == 0) & (
            layer._mask.view(-1, 1, 1, 1) == 0 if mode == "structured" else layer._mask == 0
        )
        assert pruned.any() and torch.all(layer._weight.grad[pruned] == 0)
    for _ in range(2):
        step()
    for layer, mask, old in zip(layers, masks, before):
        assert torch.equal(layer._mask, mask)
        full_mask = mask.view(-1, 1, 1, 1).expand_as(layer._weight) if mode == "structured" else mask
        assert torch.all(layer.weight[full_mask == 0] == 0)
        assert not torch.equal(layer._weight[full_mask == 1], old[full_mask == 1])  # kept weights still train


@pytest.mark.parametrize("mode", ["structured", "unstructured"])
def test_hook_follows_schedule_and_resumes_from_state_dict(mode):
    schedule = [1, 3, 5]
    hook = PruningHook(mode, 0.1, schedule)
    net = _seeded_net(mode)
    rows = [hook.after_train_epoch(epoch, net) for epoch in range(4)]
    assert [row["prune_event"] for row in rows] == [False, True, False, True]
    assert {f"sparsity_conv{i}" for i in range(1, 10)} <= rows[0].keys()
    first_total = get_sparse_conv2d_layers(net)[0]._mask.numel()
    assert rows[0]["sparsity"] == 0 and rows[1]["sparsity_conv1"] == round(0.1 * first_total) / first_total

    resumed = SparseConvNet(mode=mode)  # a fresh process restoring the checkpoint
    resumed.load_state_dict(net.state_dict())
    for epoch in range(4, 7):
        row_a = hook.after_train_epoch(epoch, net)
        row_b = PruningHook(mode, 0.1, schedule).after_train_epoch(epoch, resumed)
        assert row_a == row_b
    for a, b in zip(get_sparse_conv2d_layers(net), get_sparse_conv2d_layers(resumed)):
        assert torch.equal(a._mask, b._mask)
        total = a._mask.numel()
        assert layer_sparsity(a) == round(3 * 0.1 * total) / total


def test_pruning_works_on_channels_last_models():
    torch.manual_seed(6)
    net = SparseConvNet(mode="unstructured")
    reference = SparseConvNet(mode="unstructured")
    reference.load_state_dict(net.state_dict())
    net.to(memory_format=torch.channels_last)  # what TrainConfig(channels_last=True) does
    unstructured_pruning(net, 0.2)
    unstructured_pruning(reference, 0.2)
    for a, b in zip(get_sparse_conv2d_layers(net), get_sparse_conv2d_layers(reference)):
        assert torch.equal(a._mask, b._mask) and torch.equal(a.weight, b.weight)


def test_slim_export_matches_masked_model_in_eval():
    net = _seeded_net("structured", seed=3)
    for _ in range(5):
        filter_l1_pruning(net, 0.1)
    net.eval()
    slim = export_slim(net)
    assert slim.widths == [out - round(0.5 * out) for _, out, _ in CONVNET_LAYERS]
    assert any(slim.constant_layers)  # positive betas of pruned channels must be folded, not dropped
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(slim(x), net(x), rtol=0, atol=1e-5)
    assert count_parameters(slim) < count_parameters(net) / 3
    assert count_macs(slim) < count_macs(net) / 3

    rebuilt = SlimConvNet(**slim.arch())  # what the exported file stores
    rebuilt.load_state_dict(slim.state_dict())
    torch.testing.assert_close(rebuilt.eval()(x), slim(x), rtol=0, atol=0)
    assert serialized_nbytes(slim.state_dict()) < serialized_nbytes(net.state_dict()) / 3
    with pytest.raises(ValueError, match="structured"):
        export_slim(SparseConvNet(mode="unstructured"))


def test_slim_export_of_unpruned_net_is_the_same_network():
    net = _seeded_net("structured", seed=4).eval()
    slim = export_slim(net)
    assert count_parameters(slim) == count_parameters(net) and not any(slim.constant_layers)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(slim(x), net(x), rtol=0, atol=1e-5)


def test_oneshot_prune_from_dense_network():
    torch.manual_seed(5)
    dense = _randomise_bn(ConvNet(), torch.Generator().manual_seed(5)).eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(sparse_from_dense(dense, "unstructured").eval()(x), dense(x), rtol=0, atol=1e-5)
    state_before = {k: v.clone() for k, v in dense.state_dict().items()}
    for mode in ("structured", "unstructured"):
        pruned = oneshot_prune(dense, mode, 0.5)
        assert not pruned.training and model_sparsity(pruned) == 0.5
    assert all(torch.equal(v, dense.state_dict()[k]) for k, v in state_before.items())  # a copy is pruned
    again = oneshot_prune(pruned, "unstructured", 0.7)
    assert model_sparsity(again) == pytest.approx(0.7, abs=1e-3) and model_sparsity(pruned) == 0.5
    with pytest.raises(ValueError, match="never regrows"):
        prune_to_sparsity(again, 0.2)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_counts_match_references():
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False)
    net = nn.Sequential(conv, nn.Flatten(), nn.Linear(6 * 5 * 5, 7))
    assert count_macs(net, (1, 4, 10, 10)) == 6 * 5 * 5 * 4 * 9 + 150 * 7
    sparse = SparseConv2d(4, 6, 3, mode="unstructured")
    prune_to_sparsity(sparse, 0.5)
    matrix = sparse.weight.detach().reshape(6, -1)
    csr = matrix.to_sparse_csr()
    assert csr_nbytes(sparse.weight) == sum(
        t.numel() * t.element_size() for t in (csr.values(), csr.col_indices(), csr.crow_indices())
    )
    assert count_parameters(sparse, nonzero=True) == int(torch.count_nonzero(matrix)) == 108
    assert count_macs(sparse, (1, 4, 8, 8), nonzero=True) == 64 * 108
    net = SparseConvNet(mode="unstructured")
    unstructured_pruning(net, 0.5)
    layers = get_sparse_conv2d_layers(net)
    others = [
        t
        for m in net.modules()
        if not isinstance(m, SparseConv2d)
        for t in list(m.parameters(recurse=False)) + list(m.buffers(recurse=False))
    ]
    expected = sum(csr_nbytes(m.weight, 4, 2) for m in layers) + sum(t.numel() * t.element_size() for t in others)
    assert sparse_storage_nbytes(net, layers, index_bytes=2) == expected


def test_measure_latency_reports_ordered_quantiles():
    result = measure_latency(nn.Conv2d(3, 4, 3), (1, 3, 16, 16), "cpu", warmup=1, repeats=5)
    assert 0 < result["latency_ms_p25"] <= result["latency_ms_median"] <= result["latency_ms_p75"]
    with pytest.raises(ValueError, match="repeats"):
        measure_latency(nn.Conv2d(3, 4, 3), (1, 3, 16, 16), "cpu", repeats=0)


# --- Part 3 report (effdl.report.part3) ----------------------------------------------------------------


def test_event_changes_measure_the_dip_into_and_recovery_after_each_pruning_event():
    from effdl.report.part3 import event_changes

    epochs = pd.DataFrame(
        {
            "mode": "structured",
            "run": "r",
            "epoch": [0, 1, 2, 3, 4],
            "test_acc": [10.0, 50.0, 40.0, 45.0, 47.0],
            "prune_event": [False, False, True, False, True],
        }
    )
    changes = event_changes(epochs)
    assert changes["epoch"].tolist() == [2, 4]
    assert changes["dip"].tolist() == [-10.0, 2.0]  # 50 -> 40, then 45 -> 47
    assert changes.loc[0, "recovery"] == 5.0 and pd.isna(changes.loc[1, "recovery"])  # no epoch after the last


def test_naive_per_event_rounding_uses_each_layers_own_channel_count():
    """The notebook prunes round(p * N) filters per event: with p = 0.25, two events and layers of 3 and 5 channels
    that is 2/3 and 2/5 of the filters, whatever the measured (exact) sparsity says."""
    from effdl.report.part3 import schedule_macros

    sparsity = pd.DataFrame(
        {
            "layer": ["conv1", "conv2", "conv1", "conv2"],
            "event": [1, 1, 2, 2],
            "out_channels": [3, 5, 3, 5],
            "sparsity": [0.25, 0.2, 0.5, 0.4],
        }
    )
    pruned = pd.DataFrame({"epochs_planned": [4]})
    macros = {}
    schedule_macros(macros, pruned, sparsity, 0.25, [1, 2])
    assert macros["PthreeNaiveSparsityRange"] == "between 40.0\\% and 66.7\\%"
    assert macros["PthreeFinalSparsityRange"] == "between 40.0\\% and 50.0\\%"
    assert macros["PthreeFinalSparsityShare"] == "40.0--50.0\\%"


def test_pruning_to_exactly_100_percent_is_allowed_and_past_it_is_refused():
    net = nn.Sequential(SparseConv2d(2, 10, 3, mode="structured"))
    assert filter_l1_pruning(net, 0.6) == [0.6]
    message = r"^pruning another 0.5 would ask for 1.100 of a layer's weights; lower prune_percent or the number of"
    with pytest.raises(ValueError, match=message + " pruning events$"):
        filter_l1_pruning(net, 0.5)
    assert layer_sparsity(net[0]) == 0.6  # a refused call changes nothing
    assert filter_l1_pruning(net, 0.4) == [1.0]


def test_sparse_conv_block_defaults_to_a_structured_3x3_same_conv():
    block = sparse_conv_block(3, 8)
    assert block[0].mode == "structured" and tuple(block[0]._weight.shape) == (8, 3, 3, 3)
    assert block(torch.zeros(1, 3, 5, 5)).shape == (1, 8, 5, 5)
    assert [type(m) for m in block] == [SparseConv2d, nn.BatchNorm2d, nn.ReLU]


def test_prune_to_sparsity_zero_prunes_nothing():
    net = nn.Sequential(SparseConv2d(2, 4, 3, mode="unstructured"))
    assert prune_to_sparsity(net, 0.0) is net and layer_sparsity(net[0]) == 0.0
    with pytest.raises(ValueError, match=r"sparsity must be a fraction in \[0, 1\], got 1.5"):
        prune_to_sparsity(net, 1.5)


def test_pruning_hook_bounds_and_messages():
    PruningHook("structured", 1.0, [0])  # one event of 100 % is allowed
    with pytest.raises(ValueError, match=r"^prune_percent must be in \(0, 1\], got 1.5$"):
        PruningHook("structured", 1.5, [0])
    with pytest.raises(ValueError, match=r"^prune_epochs are 0-based epoch indices \(>= 0\), got \[-1, 2\]$"):
        PruningHook("structured", 0.1, [-1, 2])


def test_sparse_from_dense_names_what_is_wrong_with_the_input():
    with pytest.raises(ValueError, match=r"^Conv2d has no Linear classifier$"):
        sparse_from_dense(nn.Conv2d(3, 4, 3), "structured")
    with pytest.raises(ValueError, match=r"^Sequential does not have ConvNet's 9 conv \+ 9 BatchNorm layers$"):
        sparse_from_dense(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4, 10)), "structured")
