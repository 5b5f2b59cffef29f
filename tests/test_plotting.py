"""Tests of effdl.report.plotting helpers that decide what a figure shows."""

from __future__ import annotations

import pandas as pd

from effdl.report.plotting import hue_order


def test_hue_order_is_numeric_when_every_setting_is_a_number():
    assert hue_order(pd.Series(["10", "0.1", "2", "1e-4", "0.1"])) == ["1e-4", "0.1", "2", "10"]
    assert hue_order(pd.Series(["multistep", "cosine_annealing"])) == ["cosine_annealing", "multistep"]


def test_one_colour_per_method_across_figures():
    from effdl.report.plotting import PALETTE, legend_label, palette_for

    part1 = palette_for(["multistep", "cosine_annealing"])
    pruning = palette_for(["baseline", "structured", "unstructured"])
    oneshot = palette_for(["structured", "unstructured"])
    assert pruning["baseline"] == part1["multistep"]  # the Part 1.2 MultiStep ConvNet is Part 3's baseline
    assert oneshot == {k: pruning[k] for k in oneshot}
    assert palette_for(["1.0"])["1.0"] == PALETTE["lr 1"] == palette_for(["1"])["1"]
    assert len(set(palette_for(["a", "b", "multistep"]).values())) == 3  # unknown values get unused colours
    assert legend_label("cosine_annealing") == "cosine annealing" and legend_label("1.0") == "lr 1"


def test_footer_prints_at_seven_points():
    import matplotlib.pyplot as plt

    from effdl.report.plotting import TEXT_WIDTH_IN, footer_size

    fig = plt.figure(figsize=(9, 3))
    assert footer_size(fig) * TEXT_WIDTH_IN / 9 == 7.0
    assert footer_size(fig, print_width=0.5) == 2 * footer_size(fig)
    plt.close(fig)


def test_provenance_caption_names_what_the_rows_record_and_leaves_out_what_they_do_not():
    from effdl.report.plotting import provenance_caption

    rows = pd.DataFrame(
        {
            "data_source": ["cifar10"] * 2,
            "device": ["cpu"] * 2,
            "precision": ["bf16", "fp32"],
            "epochs_planned": [5, 5],
            "seed": [43, 44],
            "git_commit": ["abc123"] * 2,
        }
    )
    caption = provenance_caption(rows)
    assert (
        caption
        == "data: CIFAR-10 | device: cpu | precision: bf16, fp32 | epochs: 5 | seeds: 2 (43, 44) | commit abc123"
    )
    ptq_rows = rows.drop(columns="precision")
    assert "precision" not in provenance_caption(ptq_rows) and "?" not in provenance_caption(ptq_rows)
    assert provenance_caption(rows[["seed"]]) == "seeds: 2 (43, 44)"
    # a footer names the data, never a path of the machine that built the runs
    local = rows.assign(data_source="imagefolder:../shared/data/cifar10-jpeg.tar.gz")
    footer = provenance_caption(local)
    assert footer.startswith("data: CIFAR-10 (local copy) |") and "/" not in footer
