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
        caption == "data: cifar10 | device: cpu | precision: bf16, fp32 | epochs: 5 | seeds: 2 (43, 44) | commit abc123"
    )
    ptq_rows = rows.drop(columns="precision")
    assert "precision" not in provenance_caption(ptq_rows) and "?" not in provenance_caption(ptq_rows)
    assert provenance_caption(rows[["seed"]]) == "seeds: 2 (43, 44)"


def _curves(seeds: int) -> pd.DataFrame:
    rows = [
        {"setting": s, "seed": 43 + k, "epoch": e, "test_acc": 99.0 + (k - 1) * 3.0 if s == "a" else 50.0 + k}
        for s in ("a", "b")
        for k in range(seeds)
        for e in (1, 2, 3)
    ]
    return pd.DataFrame(rows)


def test_few_seeds_draw_each_seed_and_the_mean_without_a_band():
    import matplotlib.pyplot as plt

    from effdl.report.plotting import ci_lineplot, set_style

    set_style()
    fig, ax = plt.subplots()
    ci_lineplot(ax, _curves(3), "epoch", "test_acc", "setting")
    assert not ax.collections  # no filled band
    assert len(ax.lines) >= 2 * 3 + 2  # three thin seed lines and a mean per setting
    assert any("n = 3 seeds" in t.get_text() for t in ax.texts)  # and the figure says n
    plt.close(fig)


def test_a_band_over_many_seeds_stays_inside_the_metrics_range():
    import matplotlib.pyplot as plt

    from effdl.report.plotting import ci_lineplot, set_style

    set_style()
    fig, ax = plt.subplots()
    ci_lineplot(ax, _curves(5), "epoch", "test_acc", "setting")  # setting a: mean 102-ish, t-band far above 100
    assert ax.collections
    for band in ax.collections:
        ys = [v[1] for path in band.get_paths() for v in path.vertices]
        assert max(ys) <= 100.0 + 1e-9
    plt.close(fig)
