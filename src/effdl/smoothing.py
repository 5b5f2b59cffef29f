"""The seed's moving average of a loss curve, in NumPy: torch-free, so the report's figures and words use it too."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def moving_average(a: Sequence[float], n: int = 100) -> np.ndarray:
    """Simple moving average with window n, as the seed: output k is mean(a[k : k+n]), length len(a)-n+1 (float64;
    empty when `a` is shorter than one window)."""
    a = np.asarray(a, dtype=np.float64)
    if n < 1:
        raise ValueError(f"moving_average window must be >= 1, got {n}")
    if len(a) < n:
        return a[:0]
    cumsum = np.cumsum(np.concatenate([np.zeros(1), a]))
    return (cumsum[n:] - cumsum[:-n]) / n
