"""PTQ variant names (the file names of rule quantize_model_<net>'s CSVs): their grammar, parser and enumeration.

    fp32                                          the trained model, unquantized
    {granularity}-nearest-{bits}bit               e.g. tensor-nearest-8bit, channel-nearest-2bit
    {granularity}-stochastic-{bits}bit-trial{t}   one seeded stochastic-rounding trial

Torch-free: workflow/rules/quant.smk imports it while Snakemake builds the DAG.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from effdl.plan import registry

GRANULARITIES = tuple(registry.GRANULARITIES)
_G = "|".join(GRANULARITIES)
VARIANT_PATTERN = rf"fp32|({_G})-nearest-[1-8]bit|({_G})-stochastic-[1-8]bit-trial[0-9]+"
FP32_BITS = 32  # the x position of the unquantized model in tables and figures


@dataclass(frozen=True)
class Variant:
    """One PTQ setting: rounding ('fp32' = unquantized), granularity, bit width and stochastic trial."""

    rounding: str
    granularity: str = "none"
    bits: int = FP32_BITS
    trial: int = 0

    @property
    def name(self) -> str:
        """The wildcard string of this variant (inverse of parse_variant)."""
        if self.rounding == "fp32":
            return "fp32"
        name = f"{self.granularity}-{self.rounding}-{self.bits}bit"
        return f"{name}-trial{self.trial}" if self.rounding == "stochastic" else name


def parse_variant(name: str) -> Variant:
    """'channel-stochastic-2bit-trial3' -> Variant('stochastic', 'channel', 2, 3); bad names raise ValueError."""
    if not re.fullmatch(VARIANT_PATTERN, name):
        raise ValueError(
            f"variant {name!r} is not of the form fp32, <tensor|channel>-nearest-<1..8>bit or "
            "<tensor|channel>-stochastic-<1..8>bit-trial<t>. Fix: request one of those files."
        )
    if name == "fp32":
        return Variant("fp32")
    granularity, rounding, bits, *trial = name.split("-")
    return Variant(rounding, granularity, int(bits[:-3]), int(trial[0][5:]) if trial else 0)


def variant_names(granularities, bits, stochastic_bits: int, trials: int) -> list[str]:
    """Every variant of one network's sweep: fp32, nearest at each width, and the stochastic trials."""
    unknown = sorted(set(granularities) - set(GRANULARITIES))
    if unknown:
        raise ValueError(f"unknown granularities {unknown}. Fix: use {GRANULARITIES}.")
    names = ["fp32"]
    for granularity in granularities:
        names += [Variant("nearest", granularity, b).name for b in bits]
        names += [Variant("stochastic", granularity, stochastic_bits, t).name for t in range(trials)]
    return names


def quantize_rule(net: str) -> str:
    """The name of the one job that evaluates every PTQ variant of network `net` (workflow/rules/quant.smk)."""
    return f"quantize_model_{net}"


def quant_networks(quant_cfg: dict) -> list[str]:
    """The networks of the PTQ sweep, in the order quant.smk registers them: the MNIST MLP, then the ConvNet
    when `quant.convnet.enabled`."""
    return ["mnist_mlp"] + (["convnet"] if quant_cfg["convnet"]["enabled"] else [])
