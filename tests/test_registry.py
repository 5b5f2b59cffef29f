"""One home per list: the schema, run specs, figures and text read effdl.plan.registry, and the text follows the config.

The two extensions of issue 26 are driven here through the report functions on synthetic CSVs whose settings come
from the config plus an overlay (no other edit): `quant.bits: [8, 4, 3, 2]` and a OneCycleLR scheduler.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from effdl.plan import registry
from effdl.plan.config import load_schema, validate_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
BITS_OVERLAY = {"quant": {"bits": [8, 4, 3, 2]}}
ONE_CYCLE_OVERLAY = {
    "schedules": {"schedulers": {"names": ["multistep", "cosine_annealing", "one_cycle"], "one_cycle": {"max_lr": 0.2}}}
}


def merged(base: dict, overlay: dict) -> dict:
    """Snakemake's --configfile merge: mappings merge key by key, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def enums_at(schema: dict, path: tuple = ()) -> dict[tuple, list]:
    """{config path: enum} for every enum in the (inlined) schema."""
    found = {}
    if isinstance(schema, dict):
        if "enum" in schema:
            found[path] = list(schema["enum"])
        for key, value in schema.get("properties", {}).items():
            found.update(enums_at(value, (*path, key)))
        if isinstance(schema.get("items"), dict):
            found.update(enums_at(schema["items"], (*path, "[]")))
    return found


def test_schema_enums_are_the_registry_lists():
    enums = enums_at(load_schema(SCHEMA))
    expected = {
        ("schedules", "lr_sweep", "scheduler"): registry.RUN_SCHEDULERS,
        ("schedules", "schedulers", "names", "[]"): registry.COMPARED_SCHEDULERS,
        ("prune", "sanity", "scheduler"): registry.RUN_SCHEDULERS,
        ("quant", "mnist", "granularities", "[]"): tuple(registry.GRANULARITIES),
        ("quant", "convnet", "granularities", "[]"): tuple(registry.GRANULARITIES),
        ("quant", "batchnorm"): tuple(registry.BATCHNORM_MODES),
    }
    for path, values in expected.items():
        assert enums[path] == list(values), path
    # no schema file spells out a registry list by hand (it would drift from the registry)
    listed = {frozenset(v) for v in registry.ENUMS.values()}
    for path in (REPO / "workflow" / "schemas").glob("*.yaml"):
        raw = enums_at(yaml.safe_load(path.read_text()))
        assert not [p for p, v in raw.items() if frozenset(v) & frozenset().union(*listed)], path


def test_code_lists_are_the_registry_lists():
    from effdl.compress.quant import BATCHNORM_MODES
    from effdl.plan.prune import PRUNE_MODES
    from effdl.plan.quant_variants import GRANULARITIES
    from effdl.plan.spec import SCHEDULERS
    from effdl.report.names import display
    from effdl.report.plotting import _CB, PALETTE

    assert SCHEDULERS == tuple(registry.SCHEDULERS)
    assert BATCHNORM_MODES == tuple(registry.BATCHNORM_MODES)  # compress.quant keeps its own copy (torch side)
    assert PRUNE_MODES == tuple(registry.PRUNE_MODES) and GRANULARITIES == tuple(registry.GRANULARITIES)
    for name, entry in registry.choices().items():
        assert display(name) == entry.display
        if entry.colour is not None:
            assert PALETTE[name] == _CB[entry.colour]
    compared = [registry.SCHEDULERS[n].colour for n in registry.COMPARED_SCHEDULERS]
    assert len(set(compared)) == len(compared)  # compared schedulers never share a colour


@pytest.mark.parametrize("overlay", [BITS_OVERLAY, ONE_CYCLE_OVERLAY], ids=["bits", "one_cycle"])
def test_the_overlays_are_valid_configs(config, overlay):
    validate_config(merged(config, overlay), SCHEMA)


def test_an_unknown_scheduler_is_refused_naming_the_registry_list(config):
    from effdl.plan.config import ConfigError

    with pytest.raises(ConfigError, match="one_cycle"):  # the message lists the registry's values
        validate_config(merged(config, {"schedules": {"schedulers": {"names": ["onecycle"]}}}), SCHEMA)


def test_scheduler_settings_reach_only_their_scheduler(config):
    from effdl.plan.spec import TrainConfig, scheduler_settings

    section = merged(config, ONE_CYCLE_OVERLAY)["schedules"]["schedulers"]
    assert scheduler_settings("one_cycle", section) == {"max_lr": 0.2}
    assert scheduler_settings("multistep", section) == {}  # existing runs' specs (and caches) are unchanged
    cfg = TrainConfig(epochs=2, lr=0.1, scheduler="one_cycle", **scheduler_settings("one_cycle", section))
    assert cfg.max_lr == 0.2 and cfg.steps_per_batch


# --- 3-bit: quant.bits from the config reaches the CSV summary, the table, the figure and the text -------------


def ptq_rows(bits: list[int], granularities: list[str], stochastic_bits: int) -> pd.DataFrame:
    """Synthetic quantization.csv rows of two MLP checkpoints at the configured widths."""
    rows = []
    for seed, fp32 in ((43, 97.0), (44, 96.5)):
        common = {
            "net": "mnist_mlp",
            "checkpoint": f"part2/mnist_mlp_seed{seed}",
            "seed": seed,
            "batchnorm": "params",
            "epochs_planned": 4,
            "device": "cpu",
            "fp32_bytes": 400,
            "n_test": 1000,
            "uint8_bytes": 108,
            "trial": 0,
        }
        rows.append({**common, "rounding": "fp32", "granularity": "none", "bits": 32, "test_acc": fp32})
        for granularity in granularities:
            for b in bits:
                acc = fp32 - 40.0 / b**2 - (seed - 43) * 0.1
                rows.append({**common, "rounding": "nearest", "granularity": granularity, "bits": b, "test_acc": acc})
                rows[-1]["packed_bytes"] = 8 + 400 * b // 32
            for trial in range(2):
                rows.append(
                    {
                        **common,
                        "rounding": "stochastic",
                        "granularity": granularity,
                        "bits": stochastic_bits,
                        "trial": trial,
                        "test_acc": fp32 - 20 - trial,
                        "packed_bytes": 33,
                    }
                )
    return pd.DataFrame(rows)


def test_a_bit_width_added_in_the_config_reaches_table_figure_and_text(config):
    from effdl.report.part2 import (
        OTHER_WIDTHS_WORDS,
        part2_macros,
        part2_table,
        summarize_ptq,
        tex_words,
    )
    from effdl.report.part2_figure import quantization_figure

    quant = merged(config, BITS_OVERLAY)["quant"]
    rows = ptq_rows(quant["bits"], quant["mnist"]["granularities"], quant["stochastic"]["bits"])
    summary = summarize_ptq(rows)
    assert 3 in set(summary.loc[summary["rounding"] == "nearest", "bits"])
    assert "3-bit" in list(part2_table(summary)["setting"])
    packed = pd.DataFrame(
        [{"net": "mnist_mlp", "bits": 2, "fp32_file_bytes": 1000, "packed_file_bytes": 200, "bit_exact": True}]
    )
    macros = part2_macros(summary, rows, packed, mnist=quant["mnist"])
    assert macros["PtwoBitsText"] == "8, 4, 3 and 2 bits"
    assert "3-bit" in macros["PtwoMnistWidthsSentence"] and "PtwoMnistTensorNearestBThreeAcc" in macros
    # the answer speaks about the new width, its accuracy and its change, within the words answer 2.2.3 leaves
    other = macros["PtwoMnistOtherWidthsSentence"]
    assert other.startswith("3-bit: ") and macros["PtwoMnistTensorNearestBThreeAcc"] in other
    assert macros["PtwoMnistTensorNearestBThreeDelta"] in other and tex_words(other) <= OTHER_WIDTHS_WORDS
    fig = quantization_figure(summary, rows)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["2-bit", "3-bit", "4-bit", "8-bit"]
    # the seed's widths alone: the text says so, with no stray width
    seed_rows = ptq_rows(config["quant"]["bits"], ["tensor"], 2)
    seed_macros = part2_macros(summarize_ptq(seed_rows), seed_rows, packed, mnist=quant["mnist"])
    assert seed_macros["PtwoBitsText"] == "8, 4 and 2 bits" and "3-bit" not in seed_macros["PtwoMnistWidthsSentence"]
    assert seed_macros["PtwoMnistOtherWidthsSentence"] == ""  # the seed's widths each have their own answer
    several = ptq_rows([8, 6, 4, 3, 2], ["tensor"], 2)
    listed = part2_macros(summarize_ptq(several), several, packed, mnist=quant["mnist"])["PtwoMnistOtherWidthsSentence"]
    assert listed.startswith("Also 6-bit ") and " and 3-bit " in listed and tex_words(listed) <= OTHER_WIDTHS_WORDS
    many = ptq_rows([8, 7, 6, 5, 4, 3, 2], ["tensor"], 2)
    named = part2_macros(summarize_ptq(many), many, packed, mnist=quant["mnist"])["PtwoMnistOtherWidthsSentence"]
    assert named == "The table also lists 7, 6, 5 and 3 bits."


def test_the_paper_names_the_widths_and_schedulers_through_macros():
    part1 = (REPO / "paper" / "sections" / "part1.tex").read_text()
    part2 = (REPO / "paper" / "sections" / "part2.tex").read_text()
    assert "8, 4 and 2 bits" not in part2 and "\\PtwoBitsText" in part2 and "\\PtwoMnistWidthsSentence" in part2
    assert "\\PtwoMnistOtherWidthsSentence" in part2.split("\\begin{answer}{2.2.3}")[1].split("\\end{answer}")[0]
    assert "MultiStep versus cosine annealing" not in part1 and "\\PoneSchedulersText" in part1
    assert "\\PoneSchedTrends" in part1 and "\\PoneSchedulersHow" in part1


# --- OneCycleLR: a configured extra scheduler reaches the figure, the table and the answer ----------------------


def part1_frames(lrs: list[float], schedulers: list[str], seeds: list[int], epochs: int = 4, batches: int = 5):
    """Synthetic Part 1 summary/epochs/iters CSVs for the configured rates, schedulers and seeds."""
    summaries, epoch_rows, iter_rows = (
        {"lr": [], "scheduler": []},
        {"lr": [], "scheduler": []},
        {"lr": [], "scheduler": []},
    )
    plans = [("lr", lr, "none", 0.1 * lr) for lr in lrs] + [("scheduler", 0.1, s, 1.0) for s in schedulers]
    for k, (by, lr, scheduler, slope) in enumerate(plans):
        for seed in seeds:
            run = f"{by}_{lr}_{scheduler}_{seed}"
            accs = [10 + slope * 10 * e + k + 0.3 * seed % 3 for e in range(1, epochs + 1)]
            common = {"run": run, "lr": lr, "scheduler": scheduler, "seed": seed}
            summaries[by].append(
                {
                    **common,
                    "batch_size": 128,
                    "params_total": 1000,
                    "epochs_planned": epochs,
                    "n_train": 640,
                    "n_test": 100,
                    "device": "cpu",
                    "precision": "fp32",
                    "data_source": "synthetic.tar.gz",
                    "final_test_acc": accs[-1],
                    "diverged": False,
                    "total_time_s": 10.0 + seed % 2,
                }
            )
            rates = [lr * (0.1 if scheduler == "multistep" and e > 2 else 1) for e in range(1, epochs + 1)]
            for e, (acc, rate) in enumerate(zip(accs, rates), start=1):
                epoch_rows[by].append({**common, "epoch": e, "test_acc": acc, "epoch_lr": rate, "train_loss": 2 / e})
            for i in range(epochs * batches):
                loss = 2.3 * np.exp(-i / 10)
                iter_rows[by].append({**common, "iteration": i, "epoch_float": i / batches, "loss": loss})
    return [pd.DataFrame(d[key]) for key in ("lr", "scheduler") for d in (summaries, epoch_rows, iter_rows)]


def test_a_configured_one_cycle_scheduler_is_plotted_tabulated_and_named(config):
    from effdl.report.part1 import part1_figure, part1_macros, part1_table

    schedules = merged(config, ONE_CYCLE_OVERLAY)["schedules"]
    sweep, sweep_epochs, sweep_iters, sched, sched_epochs, sched_iters = part1_frames(
        schedules["lr_sweep"]["lrs"], schedules["schedulers"]["names"], config["seeds"]
    )
    macros = part1_macros(
        sweep, sched, sweep_epochs, sched_epochs, sweep_iters=sweep_iters, sched_iters=sched_iters, window=3
    )
    assert macros["PoneSchedulersText"] == "MultiStep, cosine annealing and OneCycleLR"
    assert macros["PoneSchedulersAll"] == "All three schedulers"
    assert "OneCycleLR: " in macros["PoneSchedTrends"] and "OneCycleLR raises it" in macros["PoneSchedulersHow"]
    assert "OneCycleLR" in list(part1_table(sweep, sched)["setting"])
    fig = part1_figure(sched_iters, sched_epochs, "schedulers", "scheduler", 3)
    legend = [t.get_text() for ax in fig.axes for leg in [ax.get_legend()] if leg for t in leg.get_texts()]
    assert "OneCycleLR" in legend and "OneCycleLR" in fig._suptitle.get_text()
    # the default two schedulers read as before
    default = part1_frames(config["schedules"]["lr_sweep"]["lrs"], config["schedules"]["schedulers"]["names"], [43])
    sweep, sweep_epochs, sweep_iters, sched, sched_epochs, sched_iters = default
    two = part1_macros(
        sweep, sched, sweep_epochs, sched_epochs, sweep_iters=sweep_iters, sched_iters=sched_iters, window=3
    )
    assert (
        two["PoneSchedulersText"] == "MultiStep versus cosine annealing"
        and two["PoneSchedulersAll"] == "Both schedulers"
    )
    from effdl.report import words

    ms_epochs = sched_epochs[sched_epochs["scheduler"] == "multistep"]
    drops, factor = words.lr_drops(ms_epochs), words.lr_drop_factor(ms_epochs)
    assert drops and factor  # the synthetic runs drop the rate, so the sentence names the drops
    multistep = f"MultiStep divides the rate by {factor:.3g} {words.epochs_phrase(drops)}"
    # the sentence the paper had before it was generated
    assert two["PoneSchedulersHow"] == f"{multistep}, cosine annealing decays it smoothly to zero"


def test_the_scheduler_answer_keeps_its_word_limit_with_one_seed(config):
    """With one seed the comparison prints both accuracies and no verdict; 1.2.3 still fits its 50 words."""
    from paper_checks import ANSWER, count_words, expand

    from effdl.report.part1 import part1_macros

    schedules = config["schedules"]
    sweep, sweep_epochs, sweep_iters, sched, sched_epochs, sched_iters = part1_frames(
        schedules["lr_sweep"]["lrs"], schedules["schedulers"]["names"], [43]
    )
    macros = part1_macros(
        sweep, sched, sweep_epochs, sched_epochs, sweep_iters=sweep_iters, sched_iters=sched_iters, window=3
    )
    assert "(one seed: untested)" in macros["PoneSchedCompare"]
    (question, limit, body), *_ = [
        a for a in ANSWER.findall((REPO / "paper/sections/part1.tex").read_text()) if a[0] == "1.2.3"
    ]
    assert count_words(expand(body, macros)) <= int(limit)
