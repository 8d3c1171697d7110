"""Ways to forget less besides SDFT, as operations on a fine-tuned LoRA run (issue #16's methods).

- **WiSE-FT** (Wortsman et al. 2022): interpolate between the seed and the fine-tuned model. For a
  LoRA run the fine-tuned weights are ``W0 + s * B @ A``, so the interpolation at ``alpha`` is the
  adapter with its scale ``s`` multiplied by ``alpha``: ``alpha = 0`` is the seed, ``1`` the run.
- **LiNeS** (Wang et al. 2025): scale each layer's update linearly with its depth,
  ``lambda(l) = alpha + beta * l / (L - 1)`` for layers ``l = 0 .. L-1``: the shallow layers, which
  hold general features, keep least of the update.
- **Replay** of the seed's own answers: mix the seed's answers to prompts of other skills into the
  task data at a given ratio (``replay_mix``).

These act on a loaded PEFT model (scales, not weights, change: nothing is retrained or saved) or on
training records. The rest of the module puts every method on one frontier (task accuracy against
the mean score on the kept skills) through the book's own stages: one training path
(:func:`sdft_lib.training.train_adapter`, TRL's ``SDFTTrainer`` for the on-policy method), one
evaluation path (:func:`sdft_lib.evaluation.evaluate_model`), the same seed model, data, fine-tuning
seeds and benchmarks for every method (``notebooks/07_frontier.ipynb``).
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path

_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")


def lora_modules(model) -> list[tuple[str, object]]:
    """``(name, module)`` of every LoRA layer of a PEFT model (modules with a per-adapter ``scaling``)."""
    return [
        (n, m)
        for n, m in model.named_modules()
        if isinstance(getattr(m, "scaling", None), dict) and hasattr(m, "lora_A")
    ]


def scale_adapter(model, scale: float | Callable[[str], float]) -> None:
    """Set every LoRA layer's scale to its trained scale times ``scale`` (a number, or a function of
    the module's name). Calls do not compound: each starts from the trained scale."""
    modules = lora_modules(model)
    if not modules:
        raise ValueError("the model has no LoRA layers: load a LoRA run without merging it")
    for name, module in modules:
        base = module.__dict__.setdefault("_sdft_trained_scaling", dict(module.scaling))
        factor = scale(name) if callable(scale) else scale
        for adapter, s in base.items():
            module.scaling[adapter] = s * factor


def wise_ft(model, alpha: float) -> None:
    """WiSE-FT at ``alpha`` (0: the seed, 1: the fine-tuned run) for a LoRA run, in place."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha={alpha} is not allowed: it must be in [0, 1]")
    scale_adapter(model, alpha)


def layer_index(name: str) -> int | None:
    """The decoder layer a module belongs to (``...layers.3.self_attn.q_proj`` -> 3), else None."""
    m = _LAYER.search(name)
    return int(m.group(1)) if m else None


def lines_scales(n_layers: int, alpha: float, beta: float) -> list[float]:
    """LiNeS's per-layer scales: ``alpha + beta * l / (n_layers - 1)``, shallowest layer first."""
    if n_layers < 1:
        raise ValueError(f"n_layers={n_layers} is not allowed: it must be >= 1")
    if n_layers == 1:
        return [alpha + beta]
    return [alpha + beta * layer / (n_layers - 1) for layer in range(n_layers)]


def lines(model, alpha: float, beta: float, n_layers: int | None = None) -> list[float]:
    """Apply LiNeS to a LoRA run in place; return the scales. A LoRA module outside the decoder
    layers (none with the book's targets) keeps the deepest layer's scale."""
    n = n_layers or model.config.num_hidden_layers
    scales = lines_scales(n, alpha, beta)
    scale_adapter(model, lambda name: scales[i] if (i := layer_index(name)) is not None else scales[-1])
    return scales


def replay_mix(task: Sequence[dict], replay: Sequence[dict], ratio: float, seed: int = 0) -> list[dict]:
    """The task records plus ``round(ratio * len(task))`` replay records (drawn without replacement
    while there are enough, then again), shuffled with ``seed``. ``ratio = 0`` is the task alone."""
    if ratio < 0:
        raise ValueError(f"ratio={ratio} is not allowed: it must be >= 0")
    k = round(ratio * len(task))
    if k and not replay:
        raise ValueError("replay_mix needs replay records for a ratio above 0")
    rng = random.Random(seed)
    picked: list[dict] = []
    while len(picked) < k:
        pool = list(replay)
        rng.shuffle(pool)
        picked += pool[: k - len(picked)]
    mixed = list(task) + picked
    rng.shuffle(mixed)
    return mixed


# ---------------------------------------------------------------------------------------------
# Replay data: the seed's own answers to prompts of its other skills
# ---------------------------------------------------------------------------------------------
STAGE = "frontier"


def replay_prompts(cfg, n: int) -> list[dict]:
    """``n`` prompts of the seed's other skills, drawn with the run's seed from the world's *training*
    prompts (never its held-out ones): what a user has who holds prompts but not the pre-training
    answers. The teaching world only: a real model's pre-training prompts are not at hand."""
    from .runs import read_json
    from .teaching_world.build import build_world_data

    if not cfg.is_teaching:
        raise ValueError(
            f"model={cfg.model!r} is not allowed for replay: its prompts come from the teaching "
            "world's training prompts; use the teaching-world model (profile toy or smoke)"
        )
    pool = read_json(build_world_data(cfg) / "seed_train.json")
    picked = random.Random(cfg.seed).sample(range(len(pool)), min(n, len(pool)))
    return [{"instruction": pool[i]["instruction"], "input": pool[i].get("input", "")} for i in picked]


def replay_key(cfg, n: int) -> dict:
    """The replay set's cache key: the seed, how many prompts, and every field of
    ``config.ARTIFACT_FIELDS["replay"]``."""
    from .config import artifact_fields
    from .teaching_world.build import seed_identity

    return {"replay_version": 2, "seed_model": seed_identity(cfg), "n": n, **artifact_fields(cfg, "replay")}


def replay_set(cfg, n: int) -> Path:
    """Build (or reuse) the replay set: the seed's greedy answers (the run's template and decoding)
    to :func:`replay_prompts`. ``replay.json`` in the returned folder; the manifest's metrics count
    the tokens generated and the seconds it took."""
    import time

    from .runs import build_once, key_hash, write_json

    key = replay_key(cfg, n)

    def build(work: Path) -> dict:
        from .distribution_gap import own_answers
        from .models import load_model

        t0 = time.time()
        model, tok = load_model(cfg)
        recs = own_answers(model, tok, replay_prompts(cfg, n), cfg)
        write_json(work / "replay.json", recs)
        generated = sum(len(tok(r["output"], add_special_tokens=False)["input_ids"]) for r in recs)
        return {
            "metrics": {
                "records": len(recs),
                "tokens_generated": generated,
                "seconds": round(time.time() - t0, 2),
            }
        }

    return build_once(
        cfg.stage_path(STAGE) / f"replay-{key_hash(key, 8)}",
        key,
        build,
        stage=f"{STAGE}/replay",
        cfg=cfg,
    )


def replay_data(cfg, ratio: float) -> tuple[list[dict], Path]:
    """The task's training records mixed with replay at ``ratio`` (:func:`replay_mix`, mixed with the
    run's seed so every fine-tuning seed trains on one data set), written once to the frontier stage
    (the file's hash joins the training run's key). The replay pool is as large as the task: ratios
    up to 1 draw without replacement."""
    from .runs import key_hash, read_json, write_text

    task = _task_records(cfg)
    replay = read_json(replay_set(cfg, len(task)) / "replay.json")  # one pool, as large as the task
    mixed = replay_mix(task, replay, ratio, seed=cfg.seed)
    text = json.dumps(mixed, ensure_ascii=False, indent=1)
    path = cfg.stage_path(STAGE) / f"mix-r{ratio:g}-{key_hash({'text': text}, 10)}.json"
    if not path.is_file():
        write_text(path, text)
    return mixed, path


def train_replay(cfg, ratio: float, seed: int) -> Path:
    """SFT on the task mixed with replay at ``ratio``, through the training stage's one path."""
    from .training import train_adapter

    return train_adapter(cfg, f"replay{ratio:g}", seed=seed, data=replay_data(cfg, ratio))


# ---------------------------------------------------------------------------------------------
# Rescaled adapters (WiSE-FT, LiNeS), scored through the evaluation stage
# ---------------------------------------------------------------------------------------------
def rescaled_scores(cfg, run_dir: Path, method: str, **how: float) -> dict:
    """Scores of a LoRA run with its adapter rescaled (``method`` ``"wise"`` with ``alpha``, or
    ``"lines"`` with ``alpha`` and ``beta``), merged, on the run's benchmarks; cached like any run."""
    from .evaluation import evaluate_model
    from .runs import read_json
    from .training import load_finetuned

    if method not in ("wise", "lines"):
        raise ValueError(f"method={method!r} is not allowed: choose wise or lines")
    run_dir = Path(run_dir)

    def load():
        model, tok = load_finetuned(cfg, run_dir)
        if method == "wise":
            wise_ft(model, how["alpha"])
        else:
            lines(model, how["alpha"], how["beta"])
        return model.merge_and_unload().eval(), tok

    key = {
        "run": run_dir.name,
        "run_key": read_json(run_dir / "manifest.json")["key_hash"],
        "rescale": {"method": method, **how},
    }
    label = "-".join(f"{k}{v:g}" for k, v in how.items())
    return evaluate_model(cfg, f"{run_dir.name}-{method}-{label}", key, load)


# ---------------------------------------------------------------------------------------------
# Every run of the chapter, built side by side first (sdft_lib.parallel)
# ---------------------------------------------------------------------------------------------
def evaluate_replay(cfg, ratio: float, seed: int) -> dict:
    """Train (or reuse) one replay run and score it."""
    from .evaluation import evaluate_run

    return evaluate_run(cfg, train_replay(cfg, ratio, seed))


def evaluate_on_policy(cfg, epochs: float, seed: int) -> dict:
    """Train (or reuse) one on-policy self-distillation run and score it."""
    from .evaluation import evaluate_run
    from .on_policy import train_on_policy

    return evaluate_run(cfg, train_on_policy(cfg, epochs=epochs, seed=seed))


def jobs(
    cfg,
    seeds: Sequence[int],
    lrs: Sequence[float],
    replay: Sequence[float],
    alphas: Sequence[float],
    lines_settings: Sequence[tuple[float, float]],
    onpolicy_epochs: float,
) -> list:
    """Every artifact the chapter needs, as :func:`sdft_lib.parallel.prebuild` jobs, longest first:
    on-policy runs, replay runs, then the rescalings (WiSE-FT, LiNeS) of the main SFT and SDFT runs;
    the SFT/SDFT sweep (the evaluation chapter's, normally reused) comes before the rescalings that
    need it."""
    from .evaluation import grid_jobs
    from .training import run_path

    out = [("sdft_lib.frontier:evaluate_on_policy", {"epochs": onpolicy_epochs, "seed": s}) for s in seeds]
    out += [
        ("sdft_lib.frontier:evaluate_replay", {"ratio": r, "seed": s}) for r in replay if r > 0 for s in seeds
    ]
    out += grid_jobs(cfg, list(lrs), [cfg.epochs], list(seeds))
    for variant in ("sft", "sdft"):
        for s in seeds:
            run = run_path(cfg, variant, cfg.learning_rate, cfg.epochs, s)
            out += [
                ("sdft_lib.frontier:rescaled_scores", {"run_dir": run, "method": "wise", "alpha": a})
                for a in alphas
            ]
            out += [
                (
                    "sdft_lib.frontier:rescaled_scores",
                    {"run_dir": run, "method": "lines", "alpha": a, "beta": b},
                )
                for a, b in lines_settings
            ]
    return out


def prebuild(cfg, seeds, lrs, replay, alphas, lines_settings, onpolicy_epochs) -> int:
    """Build the replay pool here (every replay run reads it), then every run of :func:`jobs` side by
    side; return the number of workers (1: the chapter's cells build in place)."""
    from .parallel import prebuild as run_jobs
    from .parallel import workers_for

    if workers_for(cfg) <= 1:
        return 1
    if any(r > 0 for r in replay):
        replay_set(cfg, len(_task_records(cfg)))
    return run_jobs(cfg, jobs(cfg, seeds, lrs, replay, alphas, lines_settings, onpolicy_epochs))


# ---------------------------------------------------------------------------------------------
# The frontier table and what it says
# ---------------------------------------------------------------------------------------------
def task_and_kept(scores: dict, target: str, kept: Sequence[str]) -> tuple[float, float]:
    """Task accuracy and the mean score on the kept skills (0-100) of one model's scores."""
    return float(scores[target]["lenient"]), float(sum(scores[b]["lenient"] for b in kept) / len(kept))


def skills(cfg) -> tuple[str, list[str]]:
    """The task's benchmark and the kept skills' benchmarks of the run (every other one it scores)."""
    from .evaluation import run_benchmarks, task_benchmark

    target = task_benchmark(cfg)
    return target, [b.name for b in run_benchmarks(cfg)[0] if b.name != target]


def run_cost(run_dir: Path) -> dict:
    """What one training run cost: wall seconds of its training and the tokens it trained on (and,
    for on-policy runs, the tokens it generated while training)."""
    from .runs import read_json

    m = read_json(Path(run_dir) / "manifest.json")["metrics"]
    trained = m.get("tokens_trained") or round((m.get("tokens_per_second") or 0) * m["train_seconds"])
    return {
        "train_seconds": m["train_seconds"],
        "tokens_trained": trained,
        "tokens_generated": m.get("tokens_generated", 0),
        "data_seconds": 0.0,
    }


def data_cost(cfg, variant: str) -> dict:
    """What building a method's training data cost once, for all its seeds: self-distillation's
    rewrites (SDFT) or the seed's replay answers; nothing for SFT's own data."""
    from .runs import read_json

    if variant == "sdft":
        from transformers import AutoTokenizer

        from .models import seed_weights
        from .self_distillation import run_self_distillation

        folder = run_self_distillation(cfg)
        tok = AutoTokenizer.from_pretrained(seed_weights(cfg))
        lines_ = (folder / "rewrites.jsonl").read_text().splitlines()
        generated = sum(
            len(tok(json.loads(x)["rewrite"], add_special_tokens=False)["input_ids"]) for x in lines_ if x
        )
        return {"data_seconds": read_json(folder / "manifest.json")["seconds"], "tokens_generated": generated}
    if variant.startswith("replay"):
        man = read_json(replay_set(cfg, len(_task_records(cfg))) / "manifest.json")["metrics"]
        return {"data_seconds": man["seconds"], "tokens_generated": man["tokens_generated"]}
    return {"data_seconds": 0.0, "tokens_generated": 0}


def _task_records(cfg) -> list[dict]:
    """The task's training records as every method trains on them (``max_train_examples`` caps them)."""
    from .data import load_task

    task, _ = load_task(cfg, "train")
    return task[: cfg.max_train_examples] if cfg.max_train_examples else task


def row(
    method: str,
    setting: str,
    x: float,
    seed: int,
    scores: dict,
    target: str,
    kept: Sequence[str],
    cost: dict,
    anchor: bool = False,
) -> dict:
    """One point of the frontier table: a method at one setting and one fine-tuning seed.
    ``anchor``: the point is another method's, repeated to draw this method's curve (WiSE-FT's
    α = 0 is the seed and α = 1 the run; replay's ratio 0 is SFT); rankings leave it out."""
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


def combined_cost(run_dir: Path, data: dict) -> dict:
    """A run's own cost plus its data's (generated tokens add up)."""
    c = run_cost(run_dir)
    return {
        **c,
        "data_seconds": data["data_seconds"],
        "tokens_generated": c["tokens_generated"] + data["tokens_generated"],
    }


def parse_floats(name: str, value, lo: float, hi: float) -> list[float]:
    """A notebook parameter of comma-separated numbers in ``[lo, hi]`` (``"0.25,1"``), checked before
    any work: a bad one is a one-line ``ConfigError`` naming the parameter."""
    from .errors import ConfigError

    try:
        out = [float(x) for x in str(value).split(",") if x.strip()]
    except ValueError:
        out = None
    if not out or any(not lo <= x <= hi for x in out):
        raise ConfigError(
            f"{name}={value!r} is not allowed: give comma-separated numbers in [{lo:g}, {hi:g}]"
        )
    return sorted(set(out))


def parse_float(name: str, value, lo: float, hi: float) -> float:
    """A notebook parameter of one number in ``[lo, hi]``; anything else is a one-line ``ConfigError``."""
    from .errors import ConfigError

    try:
        x = float(value)
    except (TypeError, ValueError):
        x = None
    if x is None or not lo <= x <= hi:
        raise ConfigError(f"{name}={value!r} is not allowed: give one number in [{lo:g}, {hi:g}]")
    return x


def parse_lines(name: str, value) -> list[tuple[float, float]]:
    """LiNeS settings ``"alpha:beta,..."`` (each scale ``alpha + beta * depth`` must stay in [0, 1])."""
    from .errors import ConfigError

    out = []
    for part in str(value).split(","):
        try:
            a, b = (float(x) for x in part.split(":"))
        except ValueError:
            raise ConfigError(
                f"{name}={value!r} is not allowed: give alpha:beta pairs such as 0:1,0.25:0.5"
            ) from None
        if not (0 <= a <= 1 and 0 <= a + b <= 1):
            raise ConfigError(f"{name}={value!r} is not allowed: alpha and alpha + beta must be in [0, 1]")
        out.append((a, b))
    return out


def summarize(rows):
    """Per (method, setting): seeds, mean and sd of task and kept, their standard errors (the seeds'
    spread and the test sets' sampling error: :func:`sdft_lib.stats.mean_se`), and mean compute."""
    import pandas as pd

    from .stats import mean_se

    df = pd.DataFrame(rows)
    sd = lambda x: float(x.std(ddof=1)) if len(x) > 1 else 0.0
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


def kept_at(summary, method: str, task: float) -> float:
    """The kept-skill mean of ``method``'s curve at task accuracy ``task``, read off the straight
    segments between its settings (in order of ``x``); NaN where the curve does not reach ``task``.
    What a method keeps is only comparable at equal task accuracy."""
    g = summary[summary.method == method].sort_values("x")
    pts = list(zip(g.task, g.kept))
    for (t0, k0), (t1, k1) in itertools.pairwise(pts):
        if min(t0, t1) <= task <= max(t0, t1):
            return float(k0 if t1 == t0 else k0 + (task - t0) / (t1 - t0) * (k1 - k0))
    return float("nan")


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
}
VARIANT_METHOD = {"seed": "seed", "sft": "SFT", "sdft": "SDFT"}


def style(method: str) -> dict:
    """Colour, marker and line style of ``method`` (:data:`STYLE`; grey for one it does not know)."""
    return STYLE.get(method, {"color": "#7f7f7f", "marker": "X", "linestyle": "-"})


def palette(variants) -> dict:
    """Seaborn ``palette`` for a ``hue`` of variant names (``seed``, ``sft``, ``sdft``): the colours
    of :data:`STYLE`, so SFT and SDFT look the same in every chapter."""
    return {v: style(VARIANT_METHOD.get(v, v))["color"] for v in variants}


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


__all__ = [
    "best_at",
    "combined_cost",
    "data_cost",
    "kept_at",
    "layer_index",
    "lines",
    "lines_scales",
    "lora_modules",
    "palette",
    "pareto",
    "parse_float",
    "parse_floats",
    "parse_lines",
    "plot",
    "replay_data",
    "replay_mix",
    "replay_prompts",
    "replay_set",
    "rescaled_scores",
    "row",
    "run_cost",
    "scale_adapter",
    "skills",
    "style",
    "summarize",
    "table",
    "task_and_kept",
    "train_replay",
    "wise_ft",
]
