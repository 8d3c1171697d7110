"""How large a difference has to be before the book calls it one.

Scores here are pass rates over a few dozen to a few hundred prompts, so most of their uncertainty
is the test set's own. Two models answering the *same* prompts are compared per prompt (a paired
difference): its standard error is that of the mean of the per-prompt differences. Over several
fine-tuning seeds, the seeds' own spread is added. A difference within ``z`` standard errors
(``z = 2``: about a 95% interval) reads "no measurable difference" (:func:`sdft_lib.prose.compare`
with ``tol=z * se``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Z = 2.0  # standard errors a difference must exceed to count


def proportion_se(percent: float, n: int) -> float:
    """Standard error (in points) of a pass rate of ``percent`` over ``n`` prompts (binomial)."""
    if not n:
        return math.nan
    p = percent / 100
    return 100 * math.sqrt(max(p * (1 - p), 0.0) / n)


def paired_difference(a: Sequence[float], b: Sequence[float], z: float = Z) -> dict:
    """Mean of ``a - b`` over the same prompts (per-prompt scores in [0, 1]), in points, with its
    standard error and the ``z`` interval. ``n`` is the number of prompts."""
    if len(a) != len(b):
        raise ValueError(f"{len(a)} scores against {len(b)}: a paired difference needs the same prompts")
    n = len(a)
    d = [100 * (x - y) for x, y in zip(a, b)]
    mean = sum(d) / n if n else math.nan
    var = sum((x - mean) ** 2 for x in d) / (n - 1) if n > 1 else math.nan
    se = math.sqrt(var / n) if n > 1 else math.nan
    return {"n": n, "diff": mean, "se": se, "low": mean - z * se, "high": mean + z * se}


def seeds_difference(per_seed: Sequence[dict], z: float = Z) -> dict:
    """Combine per-seed paired differences (:func:`paired_difference`, one per fine-tuning seed):
    the mean difference, and a standard error from both the test set (the mean of the per-seed
    variances, over the seeds) and the seeds' spread (their variance, over the seeds)."""
    k = len(per_seed)
    if not k:
        return {"seeds": 0, "diff": math.nan, "se": math.nan, "low": math.nan, "high": math.nan}
    diffs = [p["diff"] for p in per_seed]
    mean = sum(diffs) / k
    test_var = sum(p["se"] ** 2 for p in per_seed) / k / k
    seed_var = sum((x - mean) ** 2 for x in diffs) / (k - 1) / k if k > 1 else 0.0
    se = math.sqrt(test_var + seed_var)
    return {"seeds": k, "diff": mean, "se": se, "low": mean - z * se, "high": mean + z * se}


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (NaN for fewer than two values)."""
    n = len(values)
    if not n:
        return math.nan, math.nan
    m = sum(values) / n
    return m, (math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan)
