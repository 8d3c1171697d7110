"""The book's one verdict: does a method keep more of the other skills than another *at the same
task accuracy*, by more than the uncertainty?

Every chapter that compares SDFT with SFT (or any method with another) calls :func:`matched` on a
frontier summary (:func:`sdft_lib.results.summarize`: one point per method and setting, means over
fine-tuning seeds) and states :func:`words` of the result, so two chapters that read the same runs
cannot say different things.

**What is compared.** Only points at equal task accuracy: a method that learned less of the task is
expected to keep more, so "forgets less" at one learning rate can mean "learned less". A method's
*front* is its settings that no other setting of the same method beats on both axes (a user would
never pick the others), sorted by task accuracy and joined by straight lines. Any point on such a
line is reachable: answer each prompt with one of the two neighbouring models, at random, in the
right proportion. Each point of ``a``'s front is matched with ``b``'s front at the same task
accuracy, and each of ``b``'s with ``a``'s. Points outside the other front's range of task accuracy
are not matched: nothing is extrapolated.

**The uncertainty** of a point's mean kept-skill score has two parts, added as variances:

* the test set's sampling error. Each benchmark is a pass rate over ``n`` prompts (binomial
  variance ``p(1 - p)/n``); the kept score is the mean over ``K`` benchmarks, so its variance is the
  sum of theirs over ``K²``. Averaged over the seeds' runs, it counts once per seed (divided by the
  number of seeds);
* the fine-tuning seeds' spread: their variance over the number of seeds.

An interpolated point carries its two neighbours' variances with the interpolation weights squared.
The difference of two points adds both. This treats the two methods' answers as independent samples,
which overstates the error when they answer the same prompts (their errors are correlated): where
per-prompt answers of two runs are at hand, :func:`sdft_lib.stats.paired_difference` gives the
tighter paired interval. A difference within ``z`` standard errors (``z = 2``: about a 95% interval)
reads "no measurable difference". The error of the *matching* itself (the task accuracy's own
uncertainty) is not propagated.
"""

from __future__ import annotations

import itertools
import math

from .results import best_at, pareto, rows_from_results, summarize
from .stats import Z, mean_se, sampling_variances, score_variance


# ---------------------------------------------------------------------------------------------
# Matching two methods at equal task accuracy
# ---------------------------------------------------------------------------------------------
def front(summary, method: str):
    """``method``'s rows that no other row of ``method`` beats on both task and kept (means; ties
    keep both), sorted by task accuracy. Anchor rows (another method's point, repeated to draw this
    method's curve, such as WiSE-FT's α = 1, the run itself) are reachable by the method, so they
    count."""
    g = summary[summary.method == method]
    pts = list(zip(g.index, g.task, g.kept))
    keep = [i for i, t, k in pts if not any(t2 >= t and k2 >= k and (t2 > t or k2 > k) for _, t2, k2 in pts)]
    return g.loc[keep].sort_values(["task", "kept"])


def _curve(summary, method: str) -> list[tuple]:
    g = front(summary, method)
    return list(zip(g.task, g.kept, g.kept_se, g.setting))


def curve_at(summary, method: str, task: float) -> tuple[float, float]:
    """``method``'s mean kept score at task accuracy ``task`` on its :func:`front`, read off the
    straight segment between the two neighbouring points, and its standard error. (NaN, NaN)
    where the front does not reach ``task``."""
    for (t0, k0, s0, _), (t1, k1, s1, _) in itertools.pairwise(_curve(summary, method)):
        if min(t0, t1) <= task <= max(t0, t1):
            w = 0.0 if t1 == t0 else (task - t0) / (t1 - t0)
            return float(k0 + w * (k1 - k0)), math.sqrt((1 - w) ** 2 * s0**2 + w**2 * s1**2)
    pts = _curve(summary, method)
    if len(pts) == 1 and pts[0][0] == task:
        return float(pts[0][1]), float(pts[0][2])
    return math.nan, math.nan


def _beyond(summary, other: str, task: float, kept: float):
    """Where ``other``'s front does not reach ``task``: the point of it that dominates (``task``,
    ``kept``), more task accuracy and at least as much kept (the front's nearest point above), or
    the point that (``task``, ``kept``) dominates (the front's nearest point below); None when the
    nearest point on either side is a trade-off (more of one, less of the other)."""
    f = front(summary, other)
    above, below = f[f.task > task], f[f.task < task]
    if len(above):
        q = above.iloc[0]  # the least task accuracy above
        return q if q.kept >= kept else None
    if len(below):
        q = below.iloc[-1]  # the most task accuracy below
        return q if kept >= q.kept else None
    return None


def matched(summary, a: str, b: str, z: float = Z):
    """Every point of ``a``'s :func:`front` matched with ``b``'s front at the same task accuracy,
    and every point of ``b``'s with ``a``'s: one row per match with ``task`` (where), ``how``,
    ``a_kept``, ``b_kept``, ``diff`` (``a - b``, points), ``se``, ``low``/``high`` (``z`` standard
    errors) and ``sign`` (+1: ``a`` keeps more beyond the uncertainty, -1: ``b`` does, 0: no
    measurable difference). Anchor rows are not matched (they belong to another method).

    ``how`` is ``"same task accuracy"``, or ``"dominates"`` where the other front does not reach
    the point's task accuracy but one of its points has more task accuracy *and* at least as much
    kept (or the point has both over the other's nearest point below): a point beaten on both axes
    is beaten at any task accuracy it could be matched at. ``a_task`` and ``b_task`` say where each
    side of the match stands (equal unless ``how`` is ``"dominates"``)."""
    import pandas as pd

    rows = []
    for own, other, sign_of in ((a, b, 1), (b, a, -1)):
        g = front(summary, own)
        g = g[~_anchor(g)]
        for r in g.itertuples():
            k, s = curve_at(summary, other, r.task)
            how, other_task = "same task accuracy", r.task
            if math.isnan(k):
                q = _beyond(summary, other, r.task, r.kept)
                if q is None:
                    continue
                k, s, how, other_task = float(q.kept), float(q.kept_se), "dominates", float(q.task)
            a_kept, b_kept = (r.kept, k) if sign_of == 1 else (k, r.kept)
            a_se, b_se = (r.kept_se, s) if sign_of == 1 else (s, r.kept_se)
            diff, se = a_kept - b_kept, math.sqrt(a_se**2 + b_se**2)
            a_task, b_task = (r.task, other_task) if sign_of == 1 else (other_task, r.task)
            rows.append(
                {
                    "task": r.task,
                    "a_task": a_task,
                    "b_task": b_task,
                    "how": how,
                    "point": f"{own} {r.setting}",
                    "a_kept": a_kept,
                    "b_kept": b_kept,
                    "diff": diff,
                    "se": se,
                    "low": diff - z * se,
                    "high": diff + z * se,
                    "sign": 0 if math.isnan(se) or abs(diff) <= z * se else (1 if diff > 0 else -1),
                }
            )
    cols = [
        "task",
        "a_task",
        "b_task",
        "how",
        "point",
        "a_kept",
        "b_kept",
        "diff",
        "se",
        "low",
        "high",
        "sign",
    ]
    return pd.DataFrame(rows, columns=cols).sort_values("task").reset_index(drop=True)


def _anchor(summary):
    import pandas as pd

    return summary.anchor.astype(bool) if "anchor" in summary else pd.Series(False, index=summary.index)


def verdict(summary, a: str, b: str, z: float = Z) -> dict:
    """The verdict of ``a`` against ``b`` at matched task accuracy, from :func:`matched`:

    * ``"more"``: ``a`` keeps more than ``b`` beyond the uncertainty at some matched point, and
      less at none; ``"less"``: the reverse; ``"mixed"``: more at some, less at others;
    * ``"same"``: no matched point differs beyond the uncertainty;
    * ``"apart"``: the two curves share no task accuracy, so they cannot be matched;
    * ``"none"`` (from :func:`sdft_vs_sft` only): there is nothing to compare.

    With it: the headline match (the one furthest from zero in standard errors), the task
    accuracy ranges of both curves, and the table of matches."""
    m = matched(summary, a, b, z)
    rng = {
        name: (float(g.task.min()), float(g.task.max())) if len(g) else (math.nan, math.nan)
        for name, g in ((a, summary[summary.method == a]), (b, summary[summary.method == b]))
    }
    out = {"a": a, "b": b, "z": z, "matches": m, "a_range": rng[a], "b_range": rng[b]}
    if m.empty:
        return {**out, "kind": "apart", "headline": None}
    signs = set(m.sign)
    kind = "mixed" if {1, -1} <= signs else "more" if 1 in signs else "less" if -1 in signs else "same"
    zs = (m["diff"] / m["se"]).abs().fillna(0.0)
    return {**out, "kind": kind, "headline": m.loc[zs.idxmax()].to_dict()}


def words(v: dict) -> str:
    """The verdict as one sentence (Markdown), the same wherever it is stated."""
    a, b, z = v["a"], v["b"], v["z"]
    h = v["headline"]
    if v["kind"] == "none":
        return f"no verdict on {a} against {b}: {v['why']}."
    if v["kind"] == "apart":
        (a0, a1), (b0, b1) = v["a_range"], v["b_range"]
        if math.isnan(a0) or math.isnan(b0):
            return f"{a} and {b} cannot be compared: one of them has no points in this run."
        side = (
            f"{a} learned less of the task than {b} at every setting"
            if a1 < b0
            else f"{a} learned more of the task than {b} at every setting"
        )
        return (
            f"{a} and {b} cannot be compared at matched task accuracy in this run: {side} "
            f"({a} {a0:.1f}-{a1:.1f}%, {b} {b0:.1f}-{b1:.1f}%), so the curves share no task accuracy."
        )
    if h["how"] == "dominates":  # the fronts do not meet; one point beats the other on both axes
        where = f"with {a} at {h['a_task']:.1f}% task accuracy and {b} at {h['b_task']:.1f}%"
    else:
        where = f"at {h['task']:.1f}% task accuracy"
    interval = f"{h['diff']:+.1f} points, {z:g}-SE interval {h['low']:+.1f} to {h['high']:+.1f}"
    if v["kind"] == "same":
        return (
            f"at matched task accuracy, {a} and {b} keep the same share of the other skills within the "
            f"uncertainty: **no measurable difference** ({a} − {b} {where}: {interval})."
        )
    if v["kind"] == "mixed":
        m = v["matches"]
        up = ", ".join(f"{t:.0f}%" for t in m[m.sign == 1].task)
        down = ", ".join(f"{t:.0f}%" for t in m[m.sign == -1].task)
        return (
            f"at matched task accuracy the answer depends on where the curves are compared: {a} keeps "
            f"more than {b} at {up} task accuracy and less at {down}."
        )
    more = v["kind"] == "more"
    winner, loser = (a, b) if more else (b, a)
    return (
        f"at matched task accuracy, **{winner} keeps more of the other skills than {loser}** "
        f"beyond the uncertainty ({a} − {b} {where}: {interval})."
    )


def ranking(summary, threshold: float, z: float = Z):
    """The methods that reach ``threshold`` task accuracy, each at its point that keeps the most
    (:func:`sdft_lib.results.best_at`), best first, with two columns of honesty: ``reaches``
    says whether the task accuracy clears the threshold beyond ``z`` standard errors or only
    within them, and ``vs best`` whether the kept score is below the best's beyond the uncertainty
    ("tied with the best" otherwise)."""
    ranked = best_at(summary, threshold).copy()
    if ranked.empty:
        return ranked.assign(reaches=[], vs_best=[])
    top = ranked.iloc[0]
    ranked["reaches"] = [
        "clearly" if t - z * s > threshold else "within the uncertainty"
        for t, s in zip(ranked.task, ranked.task_se)
    ]
    ranked["vs_best"] = [
        "best"
        if i == 0
        else (
            "below the best" if top.kept - k > z * math.sqrt(top.kept_se**2 + s**2) else "tied with the best"
        )
        for i, (k, s) in enumerate(zip(ranked.kept, ranked.kept_se))
    ]
    return ranked


def point_difference(a, b, on: str = "kept", z: float = Z) -> dict:
    """``a - b`` of two summary points (rows of :func:`sdft_lib.results.summarize`) on ``on``
    (``"kept"`` or ``"task"``), with its standard error and ``sign`` (+1, -1, or 0 within ``z``
    standard errors). Unmatched: say what each point's task accuracy is beside it."""
    diff = float(a[on] - b[on])
    se = math.sqrt(float(a[f"{on}_se"]) ** 2 + float(b[f"{on}_se"]) ** 2)
    sign = 0 if math.isnan(se) or abs(diff) <= z * se else (1 if diff > 0 else -1)
    return {"diff": diff, "se": se, "low": diff - z * se, "high": diff + z * se, "sign": sign}


def _reads(d: dict, z: float, more: str, less: str, same: str) -> str:
    """A :func:`point_difference` in words: ``more`` or ``less`` beyond ``z`` standard errors, else
    ``same``."""
    from .book.prose import compare

    return compare(d["diff"], 0.0, more=more, less=less, same=same, tol=z * d["se"])


def merge_words(summary, base: str, setting: str, z: float = Z) -> str:
    """What merging ``base``'s runs did (the frontier chapter): its soup and its parameter selection
    (methods ``soup (<base>)`` and ``selection (<base>)``) against the runs themselves (``base`` at
    ``setting``, the mean over seeds) on the task and the kept skills, and selection against the
    soup; a difference within ``z`` standard errors reads as none."""

    def point(method, at=None):
        g = summary[(summary.method == method) & ((summary.setting == at) if at else True)]
        return g.iloc[0] if len(g) else None

    runs, soup, sel = point(base, setting), point(f"soup ({base})"), point(f"selection ({base})")
    if runs is None or soup is None or sel is None:
        return f"{base}'s runs were not merged (one fine-tuning seed)"

    def versus(a, b, what_b):
        parts = []
        for on, noun in (("task", "task"), ("kept", "kept skills")):
            d = point_difference(a, b, on, z)
            parts.append(
                f"{noun} {_reads(d, z, 'higher', 'lower', 'within the noise')} ({d['diff']:+.1f} points)"
            )
        return f"against {what_b}: {parts[0]}, {parts[1]}"

    return (
        f"{base}'s soup ({soup.task:.1f}% task, {soup.kept:.1f}% kept) {versus(soup, runs, 'its runs')}; "
        f"parameter selection ({sel.task:.1f}%, {sel.kept:.1f}%) {versus(sel, runs, 'the runs')}, "
        f"and {versus(sel, soup, 'the soup')}"
    )


def by_setting(summary, a: str = "SDFT", b: str = "SFT", z: float = Z):
    """``a`` against ``b`` at every setting both were run at (the frontier chapter's LoRA-capacity
    axis: one learning rate, so the same training, not a matched task accuracy): both methods' task
    and kept scores, ``a - b`` on each with its ``z``-standard-error margin, and what the kept
    difference reads (a difference inside the margin reads as none)."""
    import pandas as pd

    def at(method, setting):
        return summary[(summary.method == method) & (summary.setting == setting)].iloc[0]

    def reads(d, better, same):  # "SDFT keeps more", "SFT keeps more", or ``same`` inside the margin
        return _reads(d, z, f"{a} {better}", f"{b} {better}", same)

    both = [s for s in summary[summary.method == a].setting if s in set(summary[summary.method == b].setting)]
    out = []
    for setting in both:
        pa, pb = at(a, setting), at(b, setting)
        dt, dk = point_difference(pa, pb, "task", z), point_difference(pa, pb, "kept", z)
        out.append(
            {
                "setting": setting,
                f"{b} task": float(pb.task),
                f"{a} task": float(pa.task),
                "task diff": dt["diff"],
                "task ±": z * dt["se"],
                f"{b} kept": float(pb.kept),
                f"{a} kept": float(pa.kept),
                "kept diff": dk["diff"],
                "kept ±": z * dk["se"],
                "sign": dk["sign"],
                "task reads": reads(dt, "learning more of the task", "the same task accuracy"),
                "reads": reads(dk, "keeps more", "no measurable difference"),
            }
        )
    return pd.DataFrame(out)


def by_setting_words(table) -> str:
    """One sentence on :func:`by_setting`'s table: the reading holds at every setting, or which
    setting reads what."""
    if not len(table):
        return "no setting was run for both methods"
    each = "; ".join(
        f"at {r.setting}, {r.reads} ({r['kept diff']:+.1f} ± {r['kept ±']:.1f} points), with "
        f"{r['task reads']} ({r['task diff']:+.1f} ± {r['task ±']:.1f})"
        for _, r in table.iterrows()
    )
    head = "the same at every setting" if table.sign.nunique() == 1 else "it depends on the setting"
    return f"{head}: {each}"


def sdft_vs_sft(sweep, target: str, z: float = Z) -> dict:
    """The book's headline verdict: SDFT against SFT at matched task accuracy, over every point of
    the evaluation chapter's sweep (``sweep.csv``). Chapters 4, 5 and 7 all call this on the same
    table, so they state the same verdict."""
    if target is None or target not in set(sweep.benchmark) or not {"sft", "sdft"} <= set(sweep.variant):
        why = (
            "this run has no benchmark of the task itself"
            if target is None
            else "SFT or SDFT was not evaluated"
        )
        return {"a": "SDFT", "b": "SFT", "z": z, "kind": "none", "why": why, "headline": None}
    return verdict(summarize(rows_from_results(sweep, target)), "SDFT", "SFT", z)


SHORT = {
    "more": "keeps more than {b}",
    "less": "keeps less than {b}",
    "same": "no measurable difference",
    "mixed": "more at some task accuracies, less at others",
    "apart": "no task accuracy in common",
}


def against(summary, b: str = "SDFT", z: float = Z):
    """Every other method (not the seed) against ``b`` by :func:`verdict`: one row each, the kind
    in short words and the headline match's numbers."""
    import pandas as pd

    out = []
    for m in [m for m in summary.method.unique() if m not in ("seed", b)]:
        v = verdict(summary, m, b, z)
        h = v["headline"] or {}
        out.append(
            {
                "method": m,
                f"against {b}": SHORT[v["kind"]].format(b=b),
                "headline match": h.get("how", ""),
                "at task %": h.get("task", math.nan),
                "kept difference": h.get("diff", math.nan),
                "2-SE low": h.get("low", math.nan),
                "2-SE high": h.get("high", math.nan),
                "matched points": len(v["matches"]),
            }
        )
    return pd.DataFrame(out)


def findings(summary, setting: str, share: float = 0.9, z: float = Z) -> dict:
    """What the frontier's table says, as facts: the task accuracy a method must reach (``share`` of
    SFT's at ``setting``), the methods that reach it ranked (:func:`ranking`), the best and those
    tied with it, those that reach it only within the uncertainty, SDFT's rank among them (None if it
    never reaches it), and the points of the Pareto front (``"method (setting)"``)."""
    sft = summary[(summary.method == "SFT") & (summary.setting == setting)].iloc[0]
    threshold = share * sft.task
    ranked = ranking(summary[summary.method != "seed"], threshold, z)
    names = list(ranked.method)
    label = lambda r: f"{r.method} ({r.setting})"
    return {
        "threshold": float(threshold),
        "sft_task": float(sft.task),
        "methods": int(summary.method.nunique() - ("seed" in set(summary.method))),
        "ranked": ranked,
        "best": ranked.iloc[0] if names else None,
        "tied": [label(r) for r in ranked.itertuples() if r.vs_best == "tied with the best"],
        "near": [label(r) for r in ranked.itertuples() if r.reaches != "clearly"],
        "sdft_rank": names.index("SDFT") + 1 if "SDFT" in names else None,
        "pareto": [label(r) for r in summary.loc[pareto(summary)].itertuples()],
    }


def findings_words(f: dict) -> dict[str, str]:
    """:func:`findings` in the words the frontier chapter glues (``best``, ``order``, ``near``,
    ``sdft_rank``, ``sdft_best``, ``pareto``)."""
    ranked, best = f["ranked"], f["best"]
    if best is None:
        none = "(no method reaches it)"
        return {
            "best": none,
            "order": none,
            "near": none,
            "sdft_rank": none,
            "sdft_best": none,
            "pareto": ", ".join(f["pareto"]),
        }
    tied = f["tied"]
    return {
        "best": f"**{best.method}** ({best.setting}: {best.kept:.1f}% kept, {best.task:.1f}% task)"
        + (
            f", tied within the uncertainty with {', '.join(tied)}"
            if tied
            else ", ahead of every other beyond the uncertainty"
        ),
        "order": ", ".join(f"{r.method} ({r.setting}) {r.kept:.1f}%" for r in ranked.itertuples()),
        "near": "none" if not f["near"] else ", ".join(f["near"]),
        "sdft_rank": f"ranks {f['sdft_rank']} of {len(ranked)}" if f["sdft_rank"] else "never reaches it",
        "sdft_best": "SDFT is the best of them here"
        if f["sdft_rank"] == 1
        else "another method keeps more of the other skills at this task accuracy",
        "pareto": ", ".join(f["pareto"]),
    }


def _point(record: dict, method: str, setting: str) -> dict | None:
    return next((p for p in record["points"] if p["method"] == method and p["setting"] == setting), None)


def across_worlds(records, setting: str) -> dict:
    """Several teaching worlds' records (``frontier.world_study``, one per world seed) side by side:

    * ``table``: one row per world: SFT's and SDFT's task and kept scores at ``setting`` (mean over the
      fine-tuning seeds), SDFT − SFT kept, the matched-accuracy verdict in short words, the best
      method of the ranking and SDFT's rank in it;
    * ``spread``: for SFT and SDFT at ``setting``, the standard deviation *across worlds* of the
      worlds' means beside the mean standard deviation *across fine-tuning seeds* within a world;
    * ``held`` and ``flipped``: each conclusion the chapter draws in one world (the verdict, the best
      method, SDFT's rank, which of the two keeps more at ``setting``), stated as holding in every
      world or as differing between them, with each world's value."""
    import pandas as pd

    rows = []
    for r in records:
        sft, sdft = _point(r, "SFT", setting), _point(r, "SDFT", setting)
        rows.append(
            {
                "world": r["world"],
                "SFT task": sft["task"],
                "SFT kept": sft["kept"],
                "SDFT task": sdft["task"],
                "SDFT kept": sdft["kept"],
                "SDFT − SFT kept": sdft["kept"] - sft["kept"],
                "matched verdict": SHORT.get(r["verdict"]["kind"], r["verdict"]["kind"]).format(b="SFT"),
                "best method": r["best_method"] or "none reaches it",
                "SDFT's rank": r["sdft_rank"] if r["sdft_rank"] else "does not reach it",
                "methods ranked": len(r["ranking"]),
            }
        )
    table = pd.DataFrame(rows)

    def sd(xs):
        xs = [x for x in xs if x is not None and not math.isnan(x)]
        return float(pd.Series(xs).std(ddof=1)) if len(xs) > 1 else math.nan

    spread = []
    for m in ("SFT", "SDFT"):
        pts = [_point(r, m, setting) for r in records]
        for on in ("task", "kept"):
            within = [p[f"{on}_sd"] for p in pts if p[f"{on}_sd"] is not None]
            spread.append(
                {
                    "method": m,
                    "score": on,
                    "mean over worlds": float(sum(p[on] for p in pts) / len(pts)),
                    "sd across worlds": sd([p[on] for p in pts]),
                    "sd across seeds (mean within a world)": sum(within) / len(within)
                    if within
                    else math.nan,
                }
            )
    keeps_more = ["SDFT" if d > 0 else "SFT" if d < 0 else "neither" for d in table["SDFT − SFT kept"]]
    claims = [
        ("SDFT against SFT at matched task accuracy", list(table["matched verdict"])),
        ("the best method at the threshold", list(table["best method"])),
        ("SDFT's rank at the threshold", [str(x) for x in table["SDFT's rank"]]),
        (f"which keeps more at {setting} (unmatched)", keeps_more),
    ]
    held, flipped = [], []
    for claim, values in claims:
        if len(set(values)) == 1:
            held.append(f"{claim}: {values[0]}")
        else:
            flipped.append(f"{claim}: " + ", ".join(f"world {w}: {v}" for w, v in zip(table.world, values)))
    return {
        "table": table,
        "spread": pd.DataFrame(spread),
        "held": held,
        "flipped": flipped,
        "worlds": len(rows),
    }


def across_worlds_words(a: dict) -> dict[str, str]:
    """:func:`across_worlds`'s conclusions as the chapter glues them: ``held`` and ``flipped``."""
    n = a["worlds"]
    return {
        "held": "; ".join(a["held"]) if a["held"] else f"none of them held in all {n} worlds",
        "flipped": "; ".join(a["flipped"]) if a["flipped"] else f"none: every one held in all {n} worlds",
    }


__all__ = [
    "across_worlds",
    "across_worlds_words",
    "against",
    "curve_at",
    "findings",
    "findings_words",
    "front",
    "matched",
    "mean_se",
    "point_difference",
    "ranking",
    "rows_from_results",
    "sampling_variances",
    "score_variance",
    "sdft_vs_sft",
    "verdict",
    "words",
]
