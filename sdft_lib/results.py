"""One shape of results for every chapter: a row per model (a method at one setting and one
fine-tuning seed) with its task accuracy, its mean score on the kept skills, the test sets'
sampling variances of both, and its cost; one summary over seeds; one Pareto front; and the facts
the pages state, computed here and unit-tested (``findings``).

Chapter 4's evaluation writes ``results.csv`` and ``sweep.csv`` (a row per model and benchmark);
:func:`rows_from_results` turns them into these rows. Chapter 7 makes its rows with :func:`row`
from each method's scores. Both then go through :func:`summarize`: the mean over seeds, the sample
standard deviation (NaN for one seed: a spread is not measured by one run), and the standard error
that counts the seeds' spread and the test sets' sampling error (:func:`sdft_lib.stats.mean_se`),
the one spread every figure, table and verdict uses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def task_and_kept(scores: dict, target: str | None, kept: Sequence[str]) -> tuple[float, float]:
    """Task accuracy (NaN without a task benchmark) and the mean score on the kept skills (0-100)
    of one model's scores (``{benchmark: {"lenient", "n", ...}}``)."""
    task = float(scores[target]["lenient"]) if target in scores else math.nan
    return task, float(sum(scores[b]["lenient"] for b in kept) / len(kept)) if kept else math.nan


def row(
    method: str,
    setting: str,
    x: float,
    seed: int,
    scores: dict,
    target: str | None,
    kept: Sequence[str],
    cost: dict,
    anchor: bool = False,
) -> dict:
    """One model: a method at one setting and one fine-tuning seed. ``x`` orders a method's settings
    (learning rate, replay ratio, α). ``anchor``: the point is another method's, repeated to draw
    this method's curve (WiSE-FT's α = 0 is the seed and α = 1 the run; replay's ratio 0 is SFT);
    rankings leave it out."""
    from .stats import sampling_variances

    task, kept_mean = task_and_kept(scores, target, kept)
    task_var, kept_var = sampling_variances(scores, target, kept)
    return {
        "method": method,
        "setting": setting,
        "x": x,
        "seed": seed,
        "task": task,
        "kept": kept_mean,
        "task_var": task_var,
        "kept_var": kept_var,
        "anchor": anchor,
        "data_seconds": cost.get("data_seconds", 0.0),
        "train_seconds": cost.get("train_seconds", 0.0),
        "tokens_generated": cost.get("tokens_generated", 0),
        "tokens_trained": cost.get("tokens_trained", 0),
    }


METHOD_NAMES = {"seed": "seed", "sft": "SFT", "sdft": "SDFT"}


def rows_from_results(df, target: str | None, names: dict | None = None) -> list[dict]:
    """``results.csv`` or ``sweep.csv`` (one row per model and benchmark) as :func:`row`\\ s: one per
    model, its method named by ``names`` (:data:`METHOD_NAMES` by default), its setting by learning
    rate (and epochs, when the table has several). Every benchmark but ``target`` is a kept skill."""
    names = names or METHOD_NAMES
    kept = [b for b in df.benchmark.unique() if b != target]
    several_epochs = df.epochs.dropna().nunique() > 1
    has_n = "n" in df
    out = []
    for (variant, lr, ep, seed), g in df.groupby(
        ["variant", "learning_rate", "epochs", "seed"], sort=False, dropna=False
    ):
        scores = {
            r.benchmark: {"lenient": r.score, "n": int(r.n) if has_n and r.n == r.n else None}
            for r in g.itertuples()
        }
        setting = (
            "the seed" if variant == "seed" else f"lr {lr:g}" + (f", {ep:g} ep" if several_epochs else "")
        )
        x = 0.0 if lr is None or math.isnan(lr) else lr
        out.append(row(names.get(variant, variant), setting, x, seed, scores, target, kept, {}))
    return out


def runs(rows):
    """The fine-tuned models of ``rows``, one per line, with ``forgetting``: the seed's kept-skill
    score minus the model's (NaN without the seed among the rows)."""
    import pandas as pd

    df = pd.DataFrame(rows)
    seed = df[df.method == "seed"]
    seed_kept = float(seed.kept.mean()) if len(seed) else math.nan
    out = df[df.method != "seed"].reset_index(drop=True)
    return out.assign(forgetting=seed_kept - out.kept)


def summarize(rows):
    """Per (method, setting): seeds, mean and sample standard deviation (NaN for one seed) of task
    and kept, their standard errors (the seeds' spread and the test sets' sampling error:
    :func:`sdft_lib.stats.mean_se`), ``forgetting`` (the seed's kept-skill score minus the mean, with
    its standard deviation, when the seed is among the rows) and the mean compute."""
    import pandas as pd

    from .stats import mean_se

    df = pd.DataFrame(rows)
    sd = lambda x: float(x.std(ddof=1)) if len(x) > 1 else math.nan
    seed = df[df.method == "seed"]
    seed_kept = float(seed.kept.mean()) if len(seed) else math.nan
    out = []
    for (method, setting), g in df.groupby(["method", "setting"], sort=False):
        out.append(
            {
                "method": method,
                "setting": setting,
                "x": g["x"].iloc[0],
                "seeds": g["seed"].nunique(),
                "anchor": bool(g["anchor"].any()) if "anchor" in g else False,
                "task": g.task.mean(),
                "task_sd": sd(g.task),
                "kept": g.kept.mean(),
                "kept_sd": sd(g.kept),
                # rows without the test sets' variances (older tables) count the seeds' spread alone
                "task_se": mean_se(list(g.task), list(g["task_var"]) if "task_var" in g else [0.0] * len(g)),
                "kept_se": mean_se(list(g.kept), list(g["kept_var"]) if "kept_var" in g else [0.0] * len(g)),
                "forgetting": seed_kept - g.kept.mean(),
                "forgetting_sd": sd(g.kept) if len(seed) else math.nan,  # the seed's score is one number
                "data_seconds": g.data_seconds.mean(),
                "train_seconds": g.train_seconds.mean(),
                "tokens_generated": g.tokens_generated.mean(),
                "tokens_trained": g.tokens_trained.mean(),
            }
        )
    return pd.DataFrame(out)


def pareto(summary) -> list[int]:
    """Index labels of the rows no other row beats on both task and kept (means; ties keep both).
    Anchor rows (another method's point, repeated) are left out."""
    if "anchor" in summary:
        summary = summary[~summary.anchor]
    pts = list(zip(summary.index, summary.task, summary.kept))
    return [
        i for i, t, k in pts if not any((t2 >= t and k2 >= k) and (t2 > t or k2 > k) for _, t2, k2 in pts)
    ]


def best_at(summary, threshold: float):
    """Per method, its point with the most kept skill among those reaching ``threshold`` task
    accuracy (mean over seeds); methods with none are left out, and so are anchor rows (another
    method's point, repeated). Sorted best first."""
    ok = summary[(summary.task >= threshold) & ~(summary.anchor if "anchor" in summary else False)]
    if ok.empty:
        return ok
    return ok.loc[ok.groupby("method", sort=False)["kept"].idxmax()].sort_values("kept", ascending=False)
