"""The plan of a hyperparameter search (`model.search`), apart from running it: which points of
the grid are tried, and which trial wins. Pure: values in, values out.

The grid is the product of each parameter's values, in the order `mlgate.yaml` lists them. A
grid of at most `trials` points is tried whole; a larger one is sampled without replacement,
seeded by `split.seed`, and the sample is tried in grid order, so the same config and seed give
the same trials on every machine.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Mapping, Sequence

from mlgate.core.vocab import LOWER_IS_BETTER, MetricName


def grid_size(params: Mapping[str, Sequence[object]]) -> int:
    """The number of points in the grid."""
    return math.prod(len(values) for values in params.values())


def point(params: Mapping[str, Sequence[object]], index: int) -> dict[str, int]:
    """The grid point at `index` as one value index per parameter (the last parameter varies
    fastest, as in `itertools.product`)."""
    chosen: dict[str, int] = {}
    for key in reversed(list(params)):
        index, chosen[key] = divmod(index, len(params[key]))
    return {key: chosen[key] for key in params}


def plan(params: Mapping[str, Sequence[object]], trials: int, seed: int) -> list[dict[str, int]]:
    """The trials to run: the whole grid when it has at most `trials` points, else `trials`
    points sampled with `seed`; each a value index per parameter, in grid order."""
    size = grid_size(params)
    if size <= trials:
        indices = list(range(size))
    else:
        indices = sorted(_sample(size, trials, random.Random(seed)))
    return [point(params, i) for i in indices]


def _sample(size: int, k: int, rng: random.Random) -> list[int]:
    """`k` distinct indices below `size`, never building the grid: `sample` draws from a range
    lazily, but only from one below 2**63; past that, distinct draws of `randrange`."""
    if size < sys.maxsize:
        return rng.sample(range(size), k)
    drawn: dict[int, None] = {}
    while len(drawn) < k:  # k is at most 10,000 of more than 2**63 points: repeats are rare
        drawn[rng.randrange(size)] = None
    return list(drawn)


def summarize(scores: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and (population) standard deviation of the defined fold scores; None when none is."""
    defined = [s for s in scores if s is not None and math.isfinite(s)]
    if len(defined) < len(scores) or not defined:
        return None, None  # a metric undefined on any fold ranks the trial last
    mean = math.fsum(defined) / len(defined)
    std = math.sqrt(math.fsum((s - mean) ** 2 for s in defined) / len(defined))
    return mean, std


def greater_is_better(metric: MetricName) -> bool:
    """The metric's direction."""
    return metric not in LOWER_IS_BETTER


def winner(means: Sequence[float | None], metric: MetricName) -> int | None:
    """The index of the best mean (the first of equals, so ties go to the earlier trial), or
    None when no trial scored."""
    sign = 1.0 if greater_is_better(metric) else -1.0
    best: int | None = None
    for i, mean in enumerate(means):
        if mean is None:
            continue
        if best is None or sign * mean > sign * float(means[best] or 0.0):
            best = i
    return best
