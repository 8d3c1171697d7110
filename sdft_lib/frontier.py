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
seeds and benchmarks for every method (``notebooks/07_frontier.ipynb``). Their rows, summary and
Pareto front are :mod:`sdft_lib.results`'; the figure and table :mod:`sdft_lib.figures`'.
"""

from __future__ import annotations

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
    from .data import train_records
    from .runs import key_hash, read_json, write_text

    task = train_records(cfg)[0]
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


def capacity_config(cfg, targets: Sequence[str], r: int):
    """The run's config with LoRA on ``targets`` at rank ``r`` (the LoRA-capacity axis); ``lora_alpha``
    keeps the profile's ratio alpha / r, so the update's scale does not change with the rank."""
    alpha = max(1, round(r * cfg.lora_alpha / cfg.lora_r))
    return cfg.replace(lora_targets=list(targets), lora_r=r, lora_alpha=alpha)


def capacity_label(targets: Sequence[str], r: int) -> str:
    return f"{'+'.join(targets)} r{r}"


def evaluate_capacity(cfg, variant: str, targets: Sequence[str], r: int, seed: int) -> dict:
    """Train (or reuse) SFT or SDFT at one LoRA setting (:func:`capacity_config`) and score it."""
    from .evaluation import evaluate_run
    from .training import train_adapter

    c = capacity_config(cfg, targets, r)
    return evaluate_run(c, train_adapter(c, variant, seed=seed))


def weights_config(cfg, how: str):
    """The run's config fine-tuning the seed's weights themselves instead of a LoRA adapter: ``full``
    (every weight) or ``half`` (Half Fine-Tuning, :mod:`sdft_lib.hft`: half of each layer's matrices,
    drawn with the run's seed)."""
    if how not in ("full", "half"):
        raise ValueError(f"how={how!r} is not allowed: choose full or half")
    return cfg.replace(finetune=how)


def evaluate_weights(cfg, how: str, lr: float, seed: int) -> dict:
    """Train (or reuse) full fine-tuning or HFT (:func:`weights_config`) on the task data and score it."""
    from .evaluation import evaluate_run
    from .training import train_adapter

    c = weights_config(cfg, how)
    return evaluate_run(c, train_adapter(c, "sft", lr=lr, seed=seed))


def tempbalance_alphas(cfg) -> dict[str, float]:
    """The seed's ``α`` for every linear layer of its transformer layers (:mod:`sdft_lib.tempbalance`)."""
    from .models import load_model
    from .tempbalance import module_alphas

    model, _ = load_model(cfg)
    return module_alphas(model)


def train_tempbalance(cfg, low: float, high: float, seed: int) -> Path:
    """SFT's LoRA run with TempBalance's per-module learning rates: the seed's ``α``'s mapped onto
    ``[low, high]`` × the learning rate (:func:`sdft_lib.tempbalance.lr_scales`); built or reused."""
    from .tempbalance import lr_scales
    from .training import train_adapter, variant_data

    scales = lr_scales(tempbalance_alphas(cfg), low, high)
    return train_adapter(cfg, "tempbalance", seed=seed, data=variant_data(cfg, "sft"), lr_scales=scales)


def evaluate_tempbalance(cfg, low: float, high: float, seed: int) -> dict:
    """Train (or reuse) one TempBalance run (:func:`train_tempbalance`) and score it."""
    from .evaluation import evaluate_run

    return evaluate_run(cfg, train_tempbalance(cfg, low, high, seed))


def weight_jobs(weight_lrs: Sequence[float], seeds: Sequence[int]) -> list:
    """Full fine-tuning's and HFT's runs (:func:`evaluate_weights`) as prebuild jobs."""
    return [
        ("sdft_lib.frontier:evaluate_weights", {"how": h, "lr": lr, "seed": s})
        for h in ("full", "half")
        for lr in weight_lrs
        for s in seeds
    ]


def jobs(
    cfg,
    seeds: Sequence[int],
    lrs: Sequence[float],
    replay: Sequence[float],
    alphas: Sequence[float],
    lines_settings: Sequence[tuple[float, float]],
    onpolicy_epochs: float,
    capacities: Sequence[tuple[Sequence[str], int]] = (),
    weight_lrs: Sequence[float] = (),
    promot: Sequence[tuple[int, float]] = (),
    tempbalance: Sequence[tuple[float, float]] = (),
) -> list:
    """Every artifact the chapter needs, as :func:`sdft_lib.parallel.prebuild` jobs, longest first:
    on-policy runs, replay runs, then the rescalings (WiSE-FT, LiNeS) of the main SFT and SDFT runs;
    the SFT/SDFT sweep (the evaluation chapter's, normally reused) comes before the rescalings that
    need it."""
    from .evaluation import grid_jobs
    from .training import run_path

    out = [("sdft_lib.frontier:evaluate_on_policy", {"epochs": onpolicy_epochs, "seed": s}) for s in seeds]
    out += [
        ("sdft_lib.frontier:evaluate_capacity", {"variant": v, "targets": list(t), "r": r, "seed": s})
        for t, r in capacities
        for v in ("sft", "sdft")
        for s in seeds
    ]
    out += weight_jobs(weight_lrs, seeds)
    out += [
        ("sdft_lib.frontier:evaluate_tempbalance", {"low": lo, "high": hi, "seed": s})
        for lo, hi in tempbalance
        for s in seeds
    ]
    out += [
        (f"sdft_lib.promot:{fn}", {"n": n, "prompt_lr": lr, "seed": s})
        for n, lr in promot
        for s in seeds
        for fn in ("promot_scores", "prompt_tuning_scores")
    ]
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
    if len(seeds) > 1:  # the seeds' runs merged: one soup, one parameter selection per draw seed
        for variant in ("sft", "sdft"):
            runs = [run_path(cfg, variant, cfg.learning_rate, cfg.epochs, s) for s in seeds]
            out.append(("sdft_lib.merging:merged_scores", {"run_dirs": runs, "method": "soup"}))
            out += [
                ("sdft_lib.merging:merged_scores", {"run_dirs": runs, "method": "select", "seed": s})
                for s in seeds
            ]
    return out


def prebuild(cfg, seeds, lrs, replay, alphas, lines_settings, onpolicy_epochs, **more) -> int:
    """Build the replay pool here (every replay run reads it), then every run of :func:`jobs` side by
    side (``more``: its keyword settings, ``capacities=`` and the rest); return the number of
    workers (1: the chapter's cells build in place)."""
    from .data import train_records
    from .parallel import prebuild as run_jobs
    from .parallel import workers_for

    if workers_for(cfg) <= 1:
        return 1
    if any(r > 0 for r in replay):
        replay_set(cfg, len(train_records(cfg)[0]))
    return run_jobs(cfg, jobs(cfg, seeds, lrs, replay, alphas, lines_settings, onpolicy_epochs, **more))


# ---------------------------------------------------------------------------------------------
# The frontier table and what it says
# ---------------------------------------------------------------------------------------------
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
        from .data import train_records

        man = read_json(replay_set(cfg, len(train_records(cfg)[0])) / "manifest.json")["metrics"]
        return {"data_seconds": man["seconds"], "tokens_generated": man["tokens_generated"]}
    return {"data_seconds": 0.0, "tokens_generated": 0}


FRONTIER_CSV = "frontier.csv"
FRONTIER_COLUMNS = [
    "world",
    "axis",
    "method",
    "setting",
    "x",
    "seed",
    "anchor",
    "task",
    "kept",
    "forgetting",
    "task_var",
    "kept_var",
    "data_seconds",
    "train_seconds",
    "tokens_generated",
    "tokens_trained",
]


def write_frontier(cfg, rows: Sequence[dict], capacity_rows: Sequence[dict] = ()) -> Path:
    """The chapter's table, one row per model (method, setting, fine-tuning seed) with its world, task,
    kept and forgetting scores and costs, written atomically to ``frontier/frontier.csv`` of the run
    folder (like the evaluation's ``results.csv``). ``axis`` says which comparison a row belongs to:
    ``methods`` (the frontier) or ``lora capacity`` (SFT and SDFT at other LoRA settings, whose
    ``setting`` is the targets and rank). ``world`` names the seed model: the teaching world's seed
    folder (its world and training settings, hashed), or the model."""
    import pandas as pd

    from .results import runs
    from .runs import write_text
    from .teaching_world.build import seed_model_path

    parts = []
    for axis, these in (("methods", rows), ("lora capacity", capacity_rows)):
        if not these:
            continue
        df = pd.DataFrame(these)
        seed = df[df.method == "seed"].assign(forgetting=0.0)
        body = seed if axis == "methods" else seed.iloc[0:0]  # the seed's rows once
        parts.append(pd.concat([body, runs(these)], ignore_index=True).assign(axis=axis))
    table = pd.concat(parts, ignore_index=True)
    table["world"] = seed_model_path(cfg).name if cfg.is_teaching else cfg.model
    return write_text(cfg.stage_path(STAGE) / FRONTIER_CSV, table[FRONTIER_COLUMNS].to_csv(index=False))


# ---------------------------------------------------------------------------------------------
# One world's core comparison (benchmarks/worlds.py runs it in several worlds)
# ---------------------------------------------------------------------------------------------
MEASURED_WORLDS = Path("benchmarks") / "measured" / "worlds.json"
WORLDS_COMMAND = "python benchmarks/worlds.py --worlds 0,1,2 --weight-lrs 0.0003,0.001 --out " + str(
    MEASURED_WORLDS
)


def measured_worlds(path: Path | str = MEASURED_WORLDS) -> dict | None:
    """The world-seed measurement chapter 7 renders (``benchmarks/worlds.py``'s file, relative to the
    project root), or None where there is none."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else None


WORLD_POINT_COLUMNS = [
    "method",
    "setting",
    "x",
    "seeds",
    "task",
    "task_se",
    "task_sd",
    "kept",
    "kept_se",
    "kept_sd",
]


def world_rows(cfg, seeds, lrs, replay=(), alphas=(), weight_lrs=()) -> list[dict]:
    """The frontier's core in the world of ``cfg`` (its ``seed`` picks the teaching world): the seed,
    SFT and SDFT at every learning rate of ``lrs`` (the evaluation chapter's sweep), replay at each
    ratio, WiSE-FT of SFT's runs at the profile's learning rate at each α, and full fine-tuning and HFT
    at each of ``weight_lrs``, for every fine-tuning seed; every run built side by side first."""
    from .data import train_records
    from .evaluation import evaluate_run, evaluate_seed, grid_jobs
    from .parallel import prebuild as run_jobs
    from .parallel import workers_for
    from .results import row
    from .training import run_path, train_adapter, variant_data

    replay = [r for r in replay if r > 0]
    if workers_for(cfg) > 1:
        variant_data(cfg, "sdft")  # every SDFT run reads the distilled set: made once, here
        if replay:
            replay_set(cfg, len(train_records(cfg)[0]))
        main = [run_path(cfg, "sft", cfg.learning_rate, cfg.epochs, s) for s in seeds]
        todo = grid_jobs(cfg, list(lrs), [cfg.epochs], list(seeds))
        todo += [
            ("sdft_lib.frontier:evaluate_replay", {"ratio": r, "seed": s}) for r in replay for s in seeds
        ]
        todo += weight_jobs(weight_lrs, seeds)
        todo += [
            ("sdft_lib.frontier:rescaled_scores", {"run_dir": r, "method": "wise", "alpha": a})
            for r in main
            for a in alphas
        ]
        run_jobs(cfg, todo)
    target, kept = skills(cfg)
    seed_scores = evaluate_seed(cfg)
    rows = [row("seed", "the seed", 0.0, s, seed_scores, target, kept, {}) for s in seeds]
    for variant, name in (("sft", "SFT"), ("sdft", "SDFT")):
        for lr in lrs:
            for s in seeds:
                scores = evaluate_run(cfg, train_adapter(cfg, variant, lr=lr, seed=s))
                rows.append(row(name, f"lr {lr:g}", lr, s, scores, target, kept, {}))
    for r in replay:
        for s in seeds:
            rows.append(row("replay", f"ratio {r:g}", r, s, evaluate_replay(cfg, r, s), target, kept, {}))
    for how, name in (("full", "full FT"), ("half", "HFT")):
        for lr in weight_lrs:
            for s in seeds:
                scores = evaluate_weights(cfg, how, lr, s)
                rows.append(row(name, f"lr {lr:g}", lr, s, scores, target, kept, {}))
    for s in seeds:
        run = train_adapter(cfg, "sft", seed=s)
        for a in alphas:
            scores = rescaled_scores(cfg, run, "wise", alpha=a)
            rows.append(row("WiSE-FT (SFT)", f"α {a:g}", a, s, scores, target, kept, {}))
    return rows


def world_study(cfg, seeds, lrs, replay=(), alphas=(), weight_lrs=()) -> dict:
    """One world's record for ``benchmarks/worlds.py`` (plain JSON): its summary points
    (:func:`world_rows`, :func:`sdft_lib.results.summarize`), SDFT against SFT at matched task accuracy
    (:func:`sdft_lib.verdict.verdict`: kind, sentence, headline match) and the ranking of
    :func:`sdft_lib.verdict.findings` at the profile's learning rate (best, ties, SDFT's rank)."""
    import math

    from .results import summarize
    from .teaching_world.build import seed_model_path
    from .verdict import findings, findings_words, verdict, words

    summary = summarize(world_rows(cfg, seeds, lrs, replay, alphas, weight_lrs))
    v = verdict(summary, "SDFT", "SFT")
    f = findings(summary, f"lr {cfg.learning_rate:g}")
    clean = lambda x: None if isinstance(x, float) and math.isnan(x) else x
    points = [{k: clean(p[k]) for k in WORLD_POINT_COLUMNS} for p in summary.to_dict("records")]
    head = v["headline"] or {}
    return {
        "world": cfg.seed,
        "seed_model": seed_model_path(cfg).name,
        "points": points,
        "verdict": {
            "kind": v["kind"],
            "sentence": words(v),
            **{k: clean(float(head[k])) for k in ("task", "diff", "low", "high") if k in head},
        },
        "threshold": f["threshold"],
        "ranking": [
            {k: clean(getattr(r, k)) for k in ("method", "setting", "task", "kept", "reaches", "vs_best")}
            for r in f["ranked"].itertuples()
        ],
        "best": findings_words(f)["best"],
        "best_method": None if f["best"] is None else f["best"].method,
        "tied": f["tied"],
        "sdft_rank": f["sdft_rank"],
    }


def combined_cost(run_dir: Path, data: dict) -> dict:
    """A run's own cost plus its data's (generated tokens add up)."""
    c = run_cost(run_dir)
    return {
        **c,
        "data_seconds": data["data_seconds"],
        "tokens_generated": c["tokens_generated"] + data["tokens_generated"],
    }


__all__ = [
    "FRONTIER_COLUMNS",
    "FRONTIER_CSV",
    "MEASURED_WORLDS",
    "WORLDS_COMMAND",
    "WORLD_POINT_COLUMNS",
    "capacity_config",
    "capacity_label",
    "combined_cost",
    "data_cost",
    "evaluate_capacity",
    "evaluate_on_policy",
    "evaluate_replay",
    "evaluate_tempbalance",
    "evaluate_weights",
    "jobs",
    "layer_index",
    "lines",
    "lines_scales",
    "lora_modules",
    "measured_worlds",
    "prebuild",
    "replay_data",
    "replay_mix",
    "replay_prompts",
    "replay_set",
    "rescaled_scores",
    "run_cost",
    "scale_adapter",
    "skills",
    "tempbalance_alphas",
    "train_replay",
    "train_tempbalance",
    "weight_jobs",
    "weights_config",
    "wise_ft",
    "world_rows",
    "world_study",
    "write_frontier",
]
