"""How results are shown: one colour, marker and line style per method across the whole book
(:data:`STYLE`), the frontier figure (:func:`plot`) and its table (:func:`table`), from the summary
of :func:`sdft_lib.results.summarize`."""

from __future__ import annotations

from .results import METHOD_NAMES  # the variants' names as methods: sft is SFT

# One colour and marker per method across the whole book (chapters 4, 5, 7, the labs). A method
# applied to SFT's or SDFT's runs (WiSE-FT, LiNeS) takes its base's colour, lighter, and its own
# line style, so a reader can tell both what was rescaled and how.
STYLE = {
    "seed": {"color": "black", "marker": "*", "linestyle": "none"},
    "SFT": {"color": "#1f77b4", "marker": "o", "linestyle": "-"},
    "SDFT": {"color": "#d62728", "marker": "s", "linestyle": "-"},
    "on-policy": {"color": "#2ca02c", "marker": "D", "linestyle": "-"},
    "replay": {"color": "#9467bd", "marker": "^", "linestyle": "-"},
    "WiSE-FT (SFT)": {"color": "#7fb2e5", "marker": "v", "linestyle": "--"},
    "WiSE-FT (SDFT)": {"color": "#f08a8b", "marker": "v", "linestyle": "--"},
    "LiNeS (SFT)": {"color": "#7fb2e5", "marker": "P", "linestyle": ":"},
    "LiNeS (SDFT)": {"color": "#f08a8b", "marker": "P", "linestyle": ":"},
    # the weights themselves: every one (full fine-tuning) or half of them (HFT)
    "full FT": {"color": "#8c564b", "marker": "X", "linestyle": "-"},
    "HFT": {"color": "#e377c2", "marker": "p", "linestyle": "-"},
    # a soft prompt for the task (ProMoT's two stages; its first alone), per-matrix learning rates
    "ProMoT": {"color": "#17becf", "marker": "<", "linestyle": "none"},
    "prompt tuning": {"color": "#9edae5", "marker": ">", "linestyle": "none"},
    "TempBalance": {"color": "#bcbd22", "marker": "8", "linestyle": "none"},
    # one model (or one per draw) merged from every seed's run: a point, no curve
    "soup (SFT)": {"color": "#7fb2e5", "marker": "h", "linestyle": "none"},
    "soup (SDFT)": {"color": "#f08a8b", "marker": "h", "linestyle": "none"},
    "selection (SFT)": {"color": "#7fb2e5", "marker": "d", "linestyle": "none"},
    "selection (SDFT)": {"color": "#f08a8b", "marker": "d", "linestyle": "none"},
}


def style(method: str) -> dict:
    """Colour, marker and line style of ``method`` (:data:`STYLE`; grey for one it does not know)."""
    return STYLE.get(method, {"color": "#7f7f7f", "marker": "X", "linestyle": "-"})


def palette(variants) -> dict:
    """Seaborn ``palette`` for a ``hue`` of variant names (``seed``, ``sft``, ``sdft``): the colours
    of :data:`STYLE`, so SFT and SDFT look the same in every chapter."""
    return {v: style(METHOD_NAMES.get(v, v))["color"] for v in variants}


def plot(summary, ax, target: str | None = None, title: str | None = None) -> None:
    """Every method's frontier on ``ax``: mean task accuracy (x) against mean kept-skill accuracy (y)
    with one standard error both ways (the seeds' spread and the test sets' sampling error), a
    method's settings joined in order of ``x``, each curve named at its last point (no legend to
    hide the data); the seed is a black star. Colours and markers: :data:`STYLE`."""
    methods = [m for m in summary.method.unique() if m != "seed"]
    for m in methods:
        g = summary[summary.method == m].sort_values("x")
        st = style(m)
        ax.errorbar(
            g.task,
            g.kept,
            xerr=g.task_se,
            yerr=g.kept_se,
            marker=st["marker"],
            color=st["color"],
            linestyle=st["linestyle"],
            capsize=2,
            markersize=5,
            linewidth=1.4,
            label=m,
        )
    seed = summary[summary.method == "seed"]
    if len(seed):
        ax.scatter(seed.task, seed.kept, marker="*", s=160, color="black", zorder=5, label="seed")
        ax.annotate(
            "seed", (seed.task.iloc[0], seed.kept.iloc[0]), xytext=(6, -10), textcoords="offset points"
        )
    ax.set(
        xlabel=f"task ({target}) accuracy (%)" if target else "task accuracy (%)",
        ylabel="mean accuracy on the kept skills (%)",
        xlim=(-5, 105),
        ylim=(-5, 105),
        title=title or "Every method on one frontier (mean ± SE)",
    )
    _label_curves(summary, methods, ax)


def _label_curves(summary, methods, ax) -> None:
    """Name each curve beside its highest-task point, nudging labels apart vertically so that two
    curves ending at the same place do not print over each other."""
    ends = []
    for m in methods:
        g = summary[(summary.method == m) & ~(summary.anchor if "anchor" in summary else False)]
        g = g if len(g) else summary[summary.method == m]
        end = g.loc[g.task.idxmax()]
        ends.append([m, float(end.task), float(end.kept)])
    ends.sort(key=lambda e: e[2])
    placed: list[tuple[float, float]] = []
    for m, x, y in ends:
        ty = y
        while any(abs(ty - py) < 4.5 and abs(x - px) < 25 for px, py in placed):
            ty += 4.5
        placed.append((x, ty))
        ax.annotate(
            m,
            (x, y),
            xytext=(x + 2, ty),
            textcoords="data",
            fontsize=8,
            color=style(m)["color"],
            va="center",
            arrowprops={"arrowstyle": "-", "color": style(m)["color"], "lw": 0.6} if ty != y else None,
        )


def table(summary):
    """The frontier as a readable table: mean ± standard error (the seeds' spread and the test sets'
    sampling error, as on the figure), seeds, and the cost columns."""
    import pandas as pd

    return pd.DataFrame(
        {
            "method": summary.method,
            "setting": summary.setting,
            "seeds": summary.seeds,
            "task % (± SE)": [f"{m:.1f} ± {s:.1f}" for m, s in zip(summary.task, summary.task_se)],
            "kept % (± SE)": [f"{m:.1f} ± {s:.1f}" for m, s in zip(summary.kept, summary.kept_se)],
            "data s": summary.data_seconds.round(1),
            "train s": summary.train_seconds.round(1),
            "tokens gen.": summary.tokens_generated.round().astype(int),
            "tokens trained": summary.tokens_trained.round().astype(int),
        }
    ).set_index(["method", "setting"])


__all__ = ["STYLE", "palette", "plot", "style", "table"]
