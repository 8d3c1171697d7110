"""How large a difference has to be before the book calls it one.

Scores here are pass rates over a few dozen to a few hundred prompts, so most of their uncertainty
is the test set's own. Two models answering the *same* prompts are compared per prompt (a paired
difference): its standard error is that of the mean of the per-prompt differences. Over several
fine-tuning seeds, the seeds' own spread is added. A difference within ``z`` standard errors
(``z = 2``: about a 95% interval) reads "no measurable difference" (:func:`sdft_lib.book.prose.compare`
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


def rates_tolerance(a: float, n_a: int, b: float, n_b: int, z: float = Z) -> float:
    """The smallest difference of two pass rates (percent, over ``n_a`` and ``n_b`` prompts) that
    counts: ``z`` binomial standard errors of the difference. Within it: no measurable difference."""
    return z * math.sqrt(proportion_se(a, n_a) ** 2 + proportion_se(b, n_b) ** 2)


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


def score_variance(percent: float, n: int | None) -> float:
    """Binomial sampling variance (points²) of a pass rate of ``percent`` over ``n`` prompts;
    NaN when ``n`` is unknown (an lm-eval task scored elsewhere)."""
    if not n or math.isnan(percent):
        return math.nan
    p = min(max(percent / 100, 0.0), 1.0)
    return 1e4 * p * (1 - p) / n


def sampling_variances(scores: dict, target: str | None, kept: Sequence[str]) -> tuple[float, float]:
    """The test sets' sampling variances (points²) of one model's task accuracy (NaN when ``target``
    is not scored) and of its mean kept-skill score (the mean of ``K`` benchmarks: the sum of their
    variances over ``K²``). ``scores`` is ``{benchmark: {"n", "lenient", ...}}`` as
    :func:`sdft_lib.benchmarks.evaluate` returns it. A kept benchmark of unknown size makes the kept
    variance NaN."""
    task = scores.get(target)
    task_var = score_variance(float(task["lenient"]), task.get("n")) if task else math.nan
    kept_var = sum(score_variance(float(scores[b]["lenient"]), scores[b].get("n")) for b in kept)
    return task_var, kept_var / len(kept) ** 2 if kept else math.nan


def mean_se(values: Sequence[float], test_vars: Sequence[float]) -> float:
    """Standard error of the mean of ``values`` (one per fine-tuning seed): the seeds' spread
    (sample variance over k) plus the test sets' sampling variance (its mean over k)."""
    k = len(values)
    if not k:
        return math.nan
    m = sum(values) / k
    seed_var = sum((v - m) ** 2 for v in values) / (k - 1) / k if k > 1 else 0.0
    return math.sqrt(seed_var + sum(test_vars) / k / k)
