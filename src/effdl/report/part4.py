"""Part 4's figure, table and paper numbers, derived from the fine-tuning runs' CSVs only."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from effdl.plan.finetune import RANDOM_INIT_LABEL, VARIANTS
from effdl.report import answers, words
from effdl.report.names import source_kind
from effdl.report.plotting import ci_lineplot, set_style
from effdl.report.results import format_result, lookup, part4_results
from effdl.report.stats import ranked_best, relation
from effdl.report.summaries import compare_settings, over_seeds
from effdl.report.texgen import escape, fmt, macro_name

RESNET18_FEATURES = 512  # inputs of ResNet-18's classifier
IMAGENET_CLASSES = 1000


def data_name(data_sources) -> str:
    """'CINIC-10' for the real data set, else say plainly what stands in for it."""
    sources = sorted(set(data_sources))
    if all("cinic" in s.lower() for s in sources):
        return "CINIC-10"
    return "CIFAR-10 standing in for CINIC-10" if all("cifar" in s.lower() for s in sources) else ", ".join(sources)


def weights_label(frame: pd.DataFrame) -> str:
    """The runs' starting weights (one label; mixed labels are reported as such)."""
    labels = sorted(frame["weights"].unique())
    return labels[0] if len(labels) == 1 else "mixed: " + "; ".join(labels)


def head_parameters(num_classes: int, lora_r: int) -> dict[str, int]:
    """Trainable classifier parameters: a plain head (W and b) against a LoRA adapter (A and B)."""
    return {
        "plain": RESNET18_FEATURES * num_classes + num_classes,
        "lora": lora_r * (RESNET18_FEATURES + num_classes),
    }


def _versus(word: str, other: str, summary: pd.DataFrame | None = None, this: str | None = None) -> str:
    """A clause after the model's name: 'gives an accuracy higher than \\texttt{pt\\_net}'s', as TeX; with one
    seed (no test possible) the two accuracies side by side instead."""
    name = f"\\texttt{{{escape(other)}}}"
    if word != "untested":
        return f"gives an accuracy {relation(word)} {name}'s"
    if summary is None or this is None:
        return f"was not tested against {name} (one seed)"
    a = summary.loc[summary["variant"] == this, "final_test_acc"].replace([np.inf, -np.inf], np.nan).mean()
    b = summary.loc[summary["variant"] == other, "final_test_acc"].replace([np.inf, -np.inf], np.nan).mean()
    if pd.isna(a) or pd.isna(b):
        return f"was not compared with {name} (no finite accuracy on one side)"
    return f"gives {fmt(a, 2)}\\,\\% against {name}'s {fmt(b, 2)}\\,\\% (fewer than two seeds, so no test)"


def finetune_figure(epochs: pd.DataFrame):
    """Test accuracy against epoch for the three models on one axis; epoch 0 is before fine-tuning."""
    set_style()
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    order = [v for v in VARIANTS if v in set(epochs["variant"])]
    # distinct dashes and markers keep overlapping curves (common at epoch 0) distinguishable
    ci_lineplot(
        ax,
        epochs,
        "epoch",
        "test_acc",
        "variant",
        hue_order=order,
        style="variant",
        style_order=order,
        markers=True,
        dashes=True,
    )
    ax.set(xlabel="epoch (0 = before fine-tuning)", ylabel="test accuracy (%)")
    ax.set_xticks(sorted(epochs["epoch"].unique()))
    ax.legend(title=None)
    weights = weights_label(epochs)
    title = f"Part 4.2: ResNet-18 on {data_name(epochs['data_source'])}\n({weights})"
    ax.set_title(title, color="firebrick" if weights == RANDOM_INIT_LABEL else "black")
    return fig


def model_row(label: str, run: pd.Series, results: pd.DataFrame, experiment: str, setting: str) -> dict:
    """A Part 4 table row: parameters of `run` (total, trainable), and from the tidy `results` (part4_results)
    the mean epoch time and the accuracy before and after fine-tuning of `setting`."""
    total, trainable = int(run["params_total"]), int(run["params_trainable"])

    def result(metric: str) -> pd.Series:
        return lookup(results, experiment=experiment, setting=setting, metric=metric)

    return {
        "model": label,
        "total params": fmt(total),
        "trainable params": f"{fmt(trainable)} ({100 * trainable / total:.1f}\\%)",
        "s / epoch": fmt(float(result("epoch_time_s")["mean"]), 1),
        "acc. before (\\%)": format_result(result("pre_finetune_acc")),
        "acc. after (\\%)": format_result(result("final_test_acc")),
    }


def finetune_table(summary: pd.DataFrame, epochs: pd.DataFrame, results: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per model: parameters (total, trainable), time per epoch, accuracy before and after (the last
    three from Part 4's tidy `results`, computed here when not given)."""
    results = part4_results(summary, epochs) if results is None else results
    rows = []
    for variant in [v for v in VARIANTS if v in set(summary["variant"])]:
        run = summary[summary["variant"] == variant].iloc[0]
        rows.append(model_row(f"\\texttt{{{escape(variant)}}}", run, results, "finetune", variant))
    return pd.DataFrame(rows)


def finetune_macros(
    summary: pd.DataFrame,
    epochs: pd.DataFrame,
    num_classes: int,
    lora_r: int,
    lora_alpha: float,
    results: pd.DataFrame | None = None,
) -> dict[str, str]:
    """Macros named \\Pfour... for every number and comparison the Part 4 text quotes; accuracies printed from
    Part 4's tidy `results` (effdl.report.results.part4_results, computed here when not given)."""
    results = part4_results(summary, epochs) if results is None else results
    m: dict[str, str] = {}
    weights = weights_label(summary)
    m["PfourWeights"] = escape(weights)
    random = weights == RANDOM_INIT_LABEL
    m["PfourWeightsShort"] = "random initialisation" if random else "ImageNet \\texttt{IMAGENET1K\\_V1}"
    m["PfourInitSentence"] = (
        "\\texttt{pt\\_net} is \\texttt{torchvision.models.resnet18} with a random initialisation: no "
        "\\texttt{IMAGENET1K\\_V1} weights file was available and the configuration allowed a random start, so "
        "these runs measure training from scratch, not transfer."
        if random
        else "\\texttt{pt\\_net} is \\texttt{torchvision.models.resnet18} with the \\texttt{IMAGENET1K\\_V1} "
        "weights, loaded through torchvision's own API from its cache under \\texttt{\\$TORCH\\_HOME} or from a "
        "local file named in the configuration; either file must match the sha256 prefix that torchvision "
        "publishes in the weights' file name (\\texttt{src/effdl/models/resnet.py})."
    )
    m["PfourHeadOrigin"] = "randomly initialised" if random else "pretrained"
    m["PfourHeadChoice"] = (
        f"We keep the first {num_classes} rows of the {m['PfourHeadOrigin']} classifier instead. On the logits the "
        "labels select this is the notebook's starting point, and the model outputs a distribution over "
        "CINIC-10's classes, as users of a 10-class classifier expect."
        if num_classes != IMAGENET_CLASSES
        else "We keep the full head, as the notebook does."
    )
    m["PfourPrecision"] = escape(answers.precision_text(summary))
    m["PfourEpochsText"] = words.count(int(summary["epochs_planned"].max()), "epoch")
    m["PfourSeedsText"] = words.count(int(summary["seed"].nunique()), "seed")
    m["PfourRandomInitNote"] = (
        "\\textbf{These runs start from a random initialisation, not from ImageNet weights}: no "
        "weights file was available, and the configuration allowed a random start. "
        if weights == RANDOM_INIT_LABEL
        else ""
    )
    m["PfourData"] = escape(data_name(summary["data_source"]))
    m["PfourDataSource"] = escape(", ".join(sorted({source_kind(s) for s in summary["data_source"].unique()})))
    m["PfourTrainImages"] = fmt(int(summary["n_train"].iloc[0]))
    m["PfourTestImages"] = fmt(int(summary["n_test"].iloc[0]))
    m["PfourLr"] = f"{summary['lr'].iloc[0]:g}"
    m["PfourDevice"] = escape(", ".join(sorted(summary["device"].unique())))
    m["PfourNumClasses"] = str(num_classes)
    m["PfourLoraR"] = str(lora_r)
    m["PfourLoraAlpha"] = f"{lora_alpha:g}"
    m["PfourLoraScaling"] = f"{lora_alpha / lora_r:g}"

    head = head_parameters(num_classes, lora_r)
    imagenet_head = head_parameters(IMAGENET_CLASSES, lora_r)
    m["PfourHeadPlain"], m["PfourHeadLora"] = fmt(head["plain"]), fmt(head["lora"])
    m["PfourImagenetHeadPlain"], m["PfourImagenetHeadLora"] = fmt(imagenet_head["plain"]), fmt(imagenet_head["lora"])

    final = over_seeds(summary, ["variant"], "final_test_acc").set_index("variant")
    times = results[(results["experiment"] == "finetune") & (results["metric"] == "epoch_time_s")]
    seconds = times.set_index("setting")["mean"]  # mean wall time of an epoch (training and test pass) per model
    for variant in final.index:
        run = summary[summary["variant"] == variant].iloc[0]
        row = lookup(results, experiment="finetune", setting=variant, metric="final_test_acc")
        m[macro_name("Pfour", "acc", variant)] = format_result(row)
        if variant == "pt_net":  # the text quotes the pretrained network's accuracy before fine-tuning
            pre = lookup(results, experiment="finetune", setting=variant, metric="pre_finetune_acc")
            m[macro_name("Pfour", "pre acc", variant)] = fmt(float(pre["mean"]), 2)
        if variant == "net_freeze":  # and what freezing leaves trainable; the table has the other counts
            m[macro_name("Pfour", "trainable", variant)] = fmt(int(run["params_trainable"]))
            m[macro_name("Pfour", "trainable share", variant)] = (
                f"{100 * run['params_trainable'] / run['params_total']:.1f}"
            )
    m["PfourTotal"] = fmt(int(summary.loc[summary["variant"] == "pt_net", "params_total"].iloc[0]))
    if {"pt_net", "net_freeze"} <= set(final.index):
        speedup = fmt(float(seconds["pt_net"] / seconds["net_freeze"]), 2)
        times = f"{fmt(float(seconds['net_freeze']), 1)} against {fmt(float(seconds['pt_net']), 1)}\\,s"
        m["PfourFreezeSpeedSentence"] = (  # a slower frozen epoch (a loaded machine) must not read "0.74x as fast"
            f"makes an epoch {speedup}$\\times$ as fast ({times}), because no gradients flow below \\texttt{{layer4}}"
            if seconds["pt_net"] > seconds["net_freeze"]
            else f"did not make an epoch faster in this run ({times}), although no gradients flow below "
            "\\texttt{layer4}"
        )
        m["PfourFreezeVsFull"] = _versus(
            compare_settings(summary, "variant", "net_freeze", "pt_net", paired=True), "pt_net", summary, "net_freeze"
        )
    if {"net_freeze", "net_freeze_lora"} <= set(final.index):
        word = compare_settings(summary, "variant", "net_freeze_lora", "net_freeze", paired=True)
        m["PfourLoraVsFreeze"] = _versus(word, "net_freeze", summary, "net_freeze_lora")
    full_rank = min(RESNET18_FEATURES, num_classes)
    m["PfourLoraRankPhrase"] = (
        f"already reaches the full rank {full_rank} of such a matrix, so LoRA restricts nothing"
        if lora_r >= full_rank
        else f"is restricted to rank {lora_r} of a possible {full_rank}"
    )
    groups = {v: summary.loc[summary["variant"] == v, "final_test_acc"].tolist() for v in final.index}
    best, clear = ranked_best(groups)
    name = f"\\texttt{{{escape(str(best))}}}"
    tied = [v for v in final.index if abs(final.loc[v, "mean"] - final["mean"].max()) < 1e-9]
    if len(tied) > 1:
        names = " and ".join(f"\\texttt{{{escape(str(v))}}}" for v in tied)
        m["PfourBestSentence"] = f"{names} tie for the highest accuracy"
    elif summary["seed"].nunique() < 2:
        m["PfourBestSentence"] = f"the highest is {name} (one seed, so no ranking is claimed)"
    else:
        m["PfourBestSentence"] = (
            f"{name} is best (Welch t-test against each other model)"
            if clear
            else f"the highest mean is {name}, not significantly above every other model"
        )
    return m
