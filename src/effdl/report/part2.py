"""Part 2's report: PTQ results summarised over checkpoints and trials, the paper's tables and macros (the figure:
effdl.report.part2_figure).

Torch-free, so that aggregate_quant and the TeX rule start fast (only seed_test_case_sizes imports
effdl.compress.quant, lazily).
"""

from __future__ import annotations

import re
import sys

import numpy as np
import pandas as pd

from effdl.plan.quant_variants import GRANULARITIES
from effdl.report import answers, words
from effdl.report.results import format_result, lookup, part2_results, quant_setting
from effdl.report.stats import compare_units, t_interval
from effdl.report.summaries import mean_ci, mean_pm
from effdl.report.texgen import escape, fmt, macro_name, signed

PROVENANCE_COLUMNS = (
    "seed",
    "device",
    "torch_version",
    "torchvision_version",
    "git_commit",
    "config_hash",
    "data_source",
    "data_sha256",
)


def _joined(values) -> str:
    return ";".join(sorted({str(v) for v in values if not pd.isna(v)}))


def summarize_ptq(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (net, granularity, rounding, bits): accuracy mean/std/min/max over checkpoints x trials, its 95%
    t-interval over trained models (their trials averaged) and the mean within-model trial sd,
    its change against the same checkpoint's fp32 accuracy, sizes, and the provenance columns joined."""
    fp32 = rows[rows["rounding"] == "fp32"].set_index(["net", "checkpoint"])["test_acc"]
    if fp32.index.duplicated().any():
        raise ValueError("more than one fp32 row per (net, checkpoint). Fix: aggregate each variant once.")
    rows = rows.assign(fp32_acc=[fp32.get((n, c), np.nan) for n, c in zip(rows["net"], rows["checkpoint"])])
    rows = rows.assign(delta_acc=rows["test_acc"] - rows["fp32_acc"])
    keys = ["net", "granularity", "rounding", "bits"]
    out = []
    for key, group in rows.groupby(keys, sort=True):
        acc = group["test_acc"]
        out.append(
            {
                **dict(zip(keys, key)),
                "batchnorm": _joined(group["batchnorm"]),
                "n": len(group),
                "checkpoints": group["checkpoint"].nunique(),
                "trials": group["trial"].nunique(),
                "acc_mean": acc.mean(),
                "acc_std": acc.std(),
                # the interval is over trained models (trials of one model averaged first); trials' own spread
                # is trial_sd, reported separately
                "acc_ci": t_interval(group.groupby("checkpoint")["test_acc"].mean()).half_width,
                "trial_sd": group.groupby("checkpoint")["test_acc"].std().mean()
                if group["trial"].nunique() > 1
                else np.nan,
                "acc_min": acc.min(),
                "acc_max": acc.max(),
                "fp32_acc_mean": group["fp32_acc"].mean(),
                "delta_mean": group["delta_acc"].mean(),
                "delta_std": group["delta_acc"].std(),
                "fp32_bytes": group["fp32_bytes"].mean(),
                "uint8_bytes": group["uint8_bytes"].mean(),
                "packed_bytes": group["packed_bytes"].mean(),
                "ratio_uint8": (group["fp32_bytes"] / group["uint8_bytes"]).mean(),
                "ratio_packed": (group["fp32_bytes"] / group["packed_bytes"]).mean(),
                "n_test": group["n_test"].max(),
                **{col: _joined(group[col]) for col in PROVENANCE_COLUMNS if col in group},
            }
        )
    return pd.DataFrame(out)


def seed_test_case_sizes(n: int = 100) -> dict[str, float]:
    """Sizes behind question 2.1.4 for the notebook's first test case (arange(n)), counted three ways."""
    from effdl.compress.quant import memory_ratio, quantize  # lazily: effdl.compress.quant imports torch

    x = np.arange(n)
    q, params = quantize(x)
    return {
        "n": n,
        "fp32_bytes": n * 4,
        "uint8_bytes": q.nbytes,
        "param_bytes": params.nbytes,
        "ratio_payload": memory_ratio(x, q, params),
        "getsizeof_fp32": sys.getsizeof(x.astype(np.float32)),
        "getsizeof_uint8": sys.getsizeof(q),
        "ratio_getsizeof": sys.getsizeof(x.astype(np.float32)) / sys.getsizeof(q),
    }


NET_LABELS = {"mnist_mlp": "MNIST MLP", "convnet": "CIFAR-10 ConvNet"}
NET_SHORT = {"mnist_mlp": "MNIST", "convnet": "ConvNet"}  # table cells


def _setting_label(row) -> str:
    if row.rounding == "fp32":
        return "fp32"
    return f"{row.bits}-bit" + (" stochastic" if row.rounding == "stochastic" else "")


def part2_table(summary: pd.DataFrame, results: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's table: per net and setting, accuracy and change vs fp32 per granularity, and the packed size
    (accuracies from Part 2's tidy `results`, effdl.report.results.part2_results, printed by its formatter)."""
    results = part2_results(summary) if results is None else results
    rows = []
    order = {"fp32": 0, "nearest": 1, "stochastic": 2}
    settings = summary.assign(order=summary["rounding"].map(order)).sort_values(
        ["net", "order", "bits"], ascending=[False, True, False]
    )
    for (net, rounding, _bits), group in settings.groupby(["net", "rounding", "bits"], sort=False):
        present = set(summary.loc[summary["net"] == net, "granularity"]) - {"none"}
        cells = {"model": NET_SHORT.get(net, escape(net)), "setting": _setting_label(group.iloc[0])}
        for granularity in GRANULARITIES:
            match = group[group["granularity"].isin([granularity, "none"])]
            acc_col, delta_col = f"{granularity} (\\%)", f"{granularity} $\\Delta$"
            if match.empty or granularity not in present:
                cells[acc_col] = cells[delta_col] = "--"
                continue
            m = match.iloc[0]
            setting = quant_setting(m.granularity, m.rounding, m.bits)
            cells[acc_col] = format_result(lookup(results, experiment=net, setting=setting, metric="test_acc"))
            cells[delta_col] = "--" if rounding == "fp32" else signed(m.delta_mean, plus=True)
        size = group[group["granularity"].isin(["tensor", "none"])]
        size = size.iloc[0] if not size.empty else group.iloc[0]
        cells["size (kB)"] = fmt(size.packed_bytes / 1000, 1)
        cells["fp32/size"] = fmt(size.ratio_packed, 2)
        rows.append(cells)
    return pd.DataFrame(rows)


def packed_table(packed: pd.DataFrame) -> pd.DataFrame:
    """On-disk sizes of the fp32 state_dict file and the bit-packed files, one row per net and width."""
    rows = []
    for row in packed.sort_values(["net", "bits"], ascending=[False, False]).itertuples():
        rows.append(
            {
                "model": NET_SHORT.get(row.net, escape(row.net)),
                "bits": int(row.bits),
                "fp32 file (kB)": fmt(row.fp32_file_bytes / 1000, 1),
                "packed file (kB)": fmt(row.packed_file_bytes / 1000, 1),
                "ratio": fmt(row.fp32_file_bytes / row.packed_file_bytes, 2),
                "bit-exact": "yes" if row.bit_exact else "no",
                "acc from file (\\%)": fmt(row.test_acc_from_file, 2),
            }
        )
    return pd.DataFrame(rows)


NET_TAGS = {"mnist_mlp": "Mnist", "convnet": "Convnet"}
TEXT_NET = "mnist_mlp"  # the network answers 2.1-2.2 quote (training length, sizes, files, other widths)
GRANULARITY_NET = "convnet"  # the network answer 2.3 compares per-channel with per-tensor scales on
BATCHNORM_SENTENCES = {
    "keep": "BatchNorm weights, biases and running statistics all stay fp32 (at deployment they fold into the "
    "preceding convolution).",
    "params": "BatchNorm weight and bias are parameters and are quantized like every other parameter (the "
    "problem set's ``each parameter''); the running mean and variance are buffers and stay fp32.",
    "all": "BatchNorm weight and bias and also the running mean and variance are quantized, each per tensor.",
}


def _per_checkpoint(rows: pd.DataFrame, granularity: str | None, rounding: str, bits: int | None) -> pd.Series:
    """Test accuracy per checkpoint (mean over its trials): the unit a paired test pairs on."""
    mask = rows["rounding"] == rounding
    if granularity is not None:
        mask &= rows["granularity"] == granularity
    if bits is not None:
        mask &= rows["bits"] == bits
    return rows.loc[mask].groupby("checkpoint")["test_acc"].mean()


def paired_word(a: pd.Series, b: pd.Series) -> str:
    """The comparison word of per-checkpoint accuracies paired on the checkpoint (each model against its own
    parent): stats.compare_units, the same function the claims table's verdicts call."""
    return compare_units(a.to_dict(), b.to_dict()).word


def _accs(rows: pd.DataFrame, granularity: str, rounding: str, bits: int) -> pd.Series:
    return rows.loc[
        (rows["granularity"] == granularity) & (rows["rounding"] == rounding) & (rows["bits"] == bits), "test_acc"
    ]


def nearest_widths(summary: pd.DataFrame) -> list[int]:
    """The round-to-nearest bit widths the results hold (config quant.bits), widest first."""
    nearest = summary.loc[summary["rounding"] == "nearest", "bits"]
    return sorted({int(b) for b in nearest}, reverse=True)


def width_list_macros(summary: pd.DataFrame) -> dict[str, str]:
    """Part 2.2's lists, following quant.bits: '8, 4 and 2 bits' (\\PtwoBitsText) and, per network, its per-tensor
    round-to-nearest accuracy at every width (\\PtwoMnistWidthsSentence), so a width added to the config is
    named in the text."""
    widths = nearest_widths(summary)
    m = {"PtwoBitsText": words.join_words([str(b) for b in widths]) + (" bit" if widths == [1] else " bits")}
    for net in sorted(set(summary["net"]) & {TEXT_NET}):  # the text lists the widths of the MLP only
        net_rows = summary[summary["net"] == net]
        rows = net_rows[(net_rows["rounding"] == "nearest") & (net_rows["granularity"] == "tensor")]
        by_bits = {int(r.bits): r for r in rows.itertuples()}
        parts = [f"{b}-bit {mean_pm(by_bits[b].acc_mean, by_bits[b].acc_ci)}\\%" for b in widths if b in by_bits]
        m[macro_name("Ptwo", NET_TAGS.get(net, net), "widths sentence")] = (
            f"round to nearest per tensor, {words.join_words(parts)}" if parts else "no round-to-nearest result"
        )
    return m


def part2_macros(
    summary: pd.DataFrame,
    rows: pd.DataFrame,
    packed: pd.DataFrame,
    *,
    mnist: dict,
    seed_batch_size: int = 1,
    results: pd.DataFrame | None = None,
) -> dict[str, str]:
    """Macros named \\Ptwo... for every number and comparison word the Part 2 text quotes.

    Per net (tag Mnist/Convnet): fp32 accuracy; per width of round-to-nearest per tensor the accuracy, change vs
    fp32 and word vs fp32 (`...BEightVsFp`); the stochastic setting under width-free names (`...StochAcc`,
    `...StochVsNearest`, ...); the MNIST MLP's packed files, the ConvNet's per-channel vs per-tensor sentence.
    Only what the paper quotes: the other settings are the table's, from the tidy results.
    """
    results = part2_results(summary) if results is None else results

    def acc(net: str, variant) -> str:  # a variant's accuracy as Part 2's tidy results print it
        setting = quant_setting(variant.granularity, variant.rounding, variant.bits)
        return format_result(lookup(results, experiment=net, setting=setting, metric="test_acc"))

    m: dict[str, str] = {}
    sizes = seed_test_case_sizes()
    m["PtwoCaseBytesFp"] = fmt(int(sizes["fp32_bytes"]))
    m["PtwoCaseBytesCodes"] = fmt(int(sizes["uint8_bytes"]))
    m["PtwoCaseBytesParams"] = fmt(int(sizes["param_bytes"]))
    m["PtwoCaseRatio"] = fmt(sizes["ratio_payload"], 2)
    m["PtwoCaseGetsizeofFp"] = fmt(int(sizes["getsizeof_fp32"]))
    m["PtwoCaseGetsizeofCodes"] = fmt(int(sizes["getsizeof_uint8"]))
    m["PtwoCaseGetsizeofRatio"] = fmt(sizes["ratio_getsizeof"], 2)
    m["PtwoMnistOrder"] = (
        "in a new random order every epoch (the notebook's DataLoader does not shuffle)"
        if mnist.get("shuffle", True)
        else "in MNIST's original order every epoch, unshuffled as the notebook's DataLoader"
    )
    m["PtwoMnistHidden"] = str(int(mnist["hidden"]))
    m["PtwoMnistLr"] = f"{mnist['lr']:g}"
    m["PtwoMnistGamma"] = f"{mnist['gamma']:g}"
    m["PtwoBatchSentence"] = (
        f"but with batch size {int(mnist['batch_size'])} instead of the notebook's {int(seed_batch_size)}, for speed "
        f"({int(mnist['batch_size']) // int(seed_batch_size)} times fewer Adam steps: a different recipe, whose "
        "accuracies are not the notebook's)"
        if int(mnist["batch_size"]) != int(seed_batch_size)
        else f"with the notebook's batch size {int(seed_batch_size)}"
    )
    m["PtwoConvnetIncluded"] = "1" if "convnet" in set(summary["net"]) else "0"
    m["PtwoCaseN"] = str(int(sizes["n"]))
    m["PtwoCaseHeaderBytes"] = str(int(sizes["getsizeof_uint8"] - sizes["uint8_bytes"]))
    m.update(width_list_macros(summary))
    modes = sorted(set(summary["batchnorm"].dropna()))
    m["PtwoBatchnormSentence"] = " ".join(BATCHNORM_SENTENCES[mode] for mode in modes)
    for net in sorted(summary["net"].unique()):
        tag = NET_TAGS.get(net, net)
        rows_net, summ = rows[rows["net"] == net], summary[summary["net"] == net]
        fp = summ[summ["rounding"] == "fp32"].iloc[0]
        fp_parents = _per_checkpoint(rows_net, None, "fp32", None)
        m[macro_name("Ptwo", tag, "fp acc")] = acc(net, fp)
        m[macro_name("Ptwo", tag, "seeds text")] = words.count(int(fp.checkpoints), "model")
        m[macro_name("Ptwo", tag, "test images")] = fmt(int(fp.n_test))
        if net == TEXT_NET:
            m[macro_name("Ptwo", tag, "epochs text")] = words.count(int(rows_net["epochs_planned"].max()), "epoch")
            m[macro_name("Ptwo", tag, "fp bytes")] = fmt(int(fp.fp32_bytes))
        # the text quotes per-width numbers of round-to-nearest per tensor only (answers 2.2.2-2.2.4 and the
        # other widths' sentence); the table prints the other settings from the tidy results
        for s in summ[(summ["rounding"] == "nearest") & (summ["granularity"] == "tensor")].itertuples():
            base = ("Ptwo", tag, s.granularity, s.rounding, f"b{s.bits}")
            m[macro_name(*base, "acc")] = acc(net, s)
            m[macro_name(*base, "delta")] = signed(s.delta_mean, plus=True)
            if s.bits == 8:  # question 2.1's memory ratio is that of 8-bit (uint8) codes
                m[macro_name(*base, "ratio")] = fmt(s.ratio_uint8, 3)
            word = paired_word(_per_checkpoint(rows_net, "tensor", "nearest", s.bits), fp_parents)
            m[macro_name("Ptwo", tag, f"b{s.bits}", "vs fp")] = answers.versus(word, "fp32", "model")
        stochastic = summ[(summ["rounding"] == "stochastic") & (summ["granularity"] == "tensor")]
        if not stochastic.empty:
            s = stochastic.iloc[0]
            trial_accs = _accs(rows_net, "tensor", "stochastic", s.bits)
            nearest_accs = _accs(rows_net, "tensor", "nearest", s.bits)
            m[macro_name("Ptwo", tag, "stoch bits")] = str(int(s.bits))
            m[macro_name("Ptwo", tag, "stoch acc")] = acc(net, s)
            m[macro_name("Ptwo", tag, "stoch min")] = fmt(s.acc_min, 2)
            m[macro_name("Ptwo", tag, "stoch max")] = fmt(s.acc_max, 2)
            m[macro_name("Ptwo", tag, "stoch trials sentence")] = (
                "One stochastic-rounding trial per model draws its rounding noise from its own seed."
                if int(s.trials) == 1
                else f"Each of the {int(s.trials)} stochastic-rounding trials per model draws its rounding noise "
                "from its own seed."
            )
            m[macro_name("Ptwo", tag, "stoch nearest acc")] = mean_ci(nearest_accs) if len(nearest_accs) else "n/a"
            m[macro_name("Ptwo", tag, "stoch gap")] = signed(trial_accs.mean() - nearest_accs.mean(), plus=True)
            word = paired_word(
                _per_checkpoint(rows_net, "tensor", "stochastic", s.bits),
                _per_checkpoint(rows_net, "tensor", "nearest", s.bits),
            )
            m[macro_name("Ptwo", tag, "stoch vs nearest")] = (
                answers.versus(word, "banker's rounding", "model")
                if len(nearest_accs)
                else "not compared with banker's rounding"
            )
        nearest = summ[summ["rounding"] == "nearest"]
        low = int(nearest["bits"].min()) if not nearest.empty else 0
        per_tensor, per_channel = _accs(rows_net, "tensor", "nearest", low), _accs(rows_net, "channel", "nearest", low)
        if len(per_tensor) and len(per_channel):
            word = paired_word(
                _per_checkpoint(rows_net, "channel", "nearest", low),
                _per_checkpoint(rows_net, "tensor", "nearest", low),
            )
            versus = answers.versus(word, "per-tensor accuracy", "model")
            sentence = f"At {low} bits, per-channel accuracy was {versus}."
        else:
            only = _joined(summ.loc[summ["granularity"] != "none", "granularity"])
            sentence = f"This run configured only per-{only} scales, so the two granularities are not compared."
        if net == GRANULARITY_NET:
            m[macro_name("Ptwo", tag, "granularity sentence")] = sentence
    for net, files in packed[packed["net"] == TEXT_NET].groupby("net"):
        tag = NET_TAGS.get(net, net)
        smallest = files.loc[files["bits"].idxmin()]
        m[macro_name("Ptwo", tag, "file fp kB")] = fmt(smallest.fp32_file_bytes / 1000, 1)
        m[macro_name("Ptwo", tag, "file bits")] = str(int(smallest.bits))
        m[macro_name("Ptwo", tag, "file kB")] = fmt(smallest.packed_file_bytes / 1000, 1)
        m[macro_name("Ptwo", tag, "file ratio")] = fmt(smallest.fp32_file_bytes / smallest.packed_file_bytes, 2)
    if TEXT_NET in set(summary["net"]):
        m[macro_name("Ptwo", NET_TAGS[TEXT_NET], "other widths sentence")] = other_widths_sentence(summary, m, TEXT_NET)
    m["PtwoPackedBitExact"] = "yes" if bool(packed["bit_exact"].all()) else "no"
    m["PtwoDevice"] = escape(_joined(rows["device"]))
    return m


SEED_WIDTHS = (8, 4, 2)  # the widths the problem set's questions 2.2.2-2.2.4 each ask about in their own answer


OTHER_WIDTHS_WORDS = 7  # what answer 2.2.3 (about 40 words, 43 when its own comparison is untested) leaves of 50


def tex_words(tex: str) -> int:
    """Words of a TeX snippet as the word limits count them: math is one word, commands are none."""
    text = re.sub(r"\\[A-Za-z]+\*?", " ", re.sub(r"\$[^$]*\$", " x ", tex))
    return sum(1 for token in re.sub(r"[{}\\~]", " ", text).split() if re.search(r"[A-Za-z0-9]", token))


def other_widths_sentence(summary: pd.DataFrame, m: dict[str, str], net: str, budget: int = OTHER_WIDTHS_WORDS) -> str:
    """The configured round-to-nearest widths the problem set does not ask about (quant.bits beyond 8, 4 and 2),
    as one sentence for answer 2.2.3: the longest of 'b-bit: acc (change points, comparison with fp32)',
    'b-bit: acc (change points)', 'Also b-bit acc and ...' and 'Table 2 also lists ...' within `budget` words;
    '' when there is none. `m` holds the per-width macros part2_macros made."""
    tag = NET_TAGS.get(net, net)
    rows = summary[(summary["net"] == net) & (summary["rounding"] == "nearest") & (summary["granularity"] == "tensor")]
    extra = [b for b in sorted({int(b) for b in rows["bits"]}, reverse=True) if b not in SEED_WIDTHS]
    if not extra:
        return ""
    acc = {b: m[macro_name("Ptwo", tag, "tensor", "nearest", f"b{b}", "acc")] for b in extra}
    delta = {b: m[macro_name("Ptwo", tag, "tensor", "nearest", f"b{b}", "delta")] for b in extra}
    versus = {b: m[macro_name("Ptwo", tag, f"b{b}", "vs fp")] for b in extra}
    mean = {b: fmt(float(rows.loc[rows["bits"] == b, "acc_mean"].iloc[0]), 2) for b in extra}
    candidates = [
        " ".join(f"{b}-bit: {acc[b]}\\% ({delta[b]} points, {versus[b]})." for b in extra),
        " ".join(f"{b}-bit: {acc[b]}\\% ({delta[b]} points)." for b in extra),
        f"Also {words.join_words([f'{b}-bit {mean[b]}' for b in extra])}\\%.",
    ]
    fallback = f"The table also lists {words.join_words([str(b) for b in extra])} bits."
    return next((c for c in candidates if tex_words(c) <= budget), fallback)
