"""Tests of effdl.report.plotting helpers that decide what a figure shows."""

from __future__ import annotations

import pandas as pd
from conftest import REPO

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


def test_every_text_prints_at_seven_points_or_more(tmp_path):
    # a wide figure with the small legend and tick fonts that once printed at about 5 pt (Figure 3, Part 2)
    import matplotlib.pyplot as plt

    from effdl.report.plotting import MIN_PRINTED_PT, printed_scale, save_figure, set_style, visible_texts

    set_style()
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 3.4))
    for ax in axes:
        ax.plot([1, 2, 3], [3, 1, 2], label="per tensor, nearest (banker's)")
        ax.legend(fontsize=5)
        ax.set(xlabel="bit width", ylabel="test accuracy (%)")
    fig.legend(["shared legend"], loc="upper center", fontsize=5, bbox_to_anchor=(1.2, 1.0))  # widens the bbox
    assert min(t.get_fontsize() for t in visible_texts(fig)) * printed_scale(fig) < MIN_PRINTED_PT
    save_figure(fig, tmp_path / "f.pdf", caption="data: CIFAR-10 | seeds: 2 (43, 44)", print_width=0.85)
    scale = printed_scale(fig, 0.85)
    printed = [t.get_fontsize() * scale for t in visible_texts(fig)]
    assert min(printed) >= MIN_PRINTED_PT - 1e-6 and (tmp_path / "f.pdf").stat().st_size > 0


def test_figure_print_widths_match_the_paper():
    # save_figure sizes fonts for the width the paper shows a figure at, so the two must agree
    import re

    shown = {}
    for tex in (REPO / "paper" / "sections").glob("*.tex"):
        for width, name in re.findall(
            r"\\includegraphics\[width=([0-9.]*)\\linewidth\]\{([a-z_]+)\.pdf\}", tex.read_text()
        ):
            shown[name] = float(width or 1.0)
    assert len(shown) >= 9
    for name, width in shown.items():
        script = (
            (REPO / "workflow" / "scripts" / f"plot_{name}.py").read_text()
            if (REPO / "workflow" / "scripts" / f"plot_{name}.py").exists()
            else None
        )
        if script is None:  # Part 1's two figures come from one script
            script = (REPO / "workflow" / "scripts" / "plot_training_curves.py").read_text()
        found = re.findall(r"print_width=([0-9.]+)", script)
        assert [float(w) for w in found] == ([] if width == 1.0 else [width]), name


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
    # the figure says n once, in its footer, not inside the panel (where it collided with legends)
    from effdl.report.plotting import seed_notes

    ci_lineplot(fig.add_subplot(2, 1, 2), _curves(3), "epoch", "test_acc", "setting")
    assert seed_notes(fig) == "n = 3 seeds: thin lines each seed, thick the mean" and not ax.texts
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


def test_the_seed_note_goes_into_the_saved_figures_footer_once(tmp_path):
    import matplotlib.pyplot as plt

    from effdl.report.plotting import ci_lineplot, save_figure, set_style

    set_style()
    fig, axes = plt.subplots(1, 2)
    for ax in axes:
        ci_lineplot(ax, _curves(3), "epoch", "test_acc", "setting")
    save_figure(fig, tmp_path / "f.png", "data: synthetic")
    footer = fig.texts[-1].get_text()
    assert footer == "data: synthetic | n = 3 seeds: thin lines each seed, thick the mean"
