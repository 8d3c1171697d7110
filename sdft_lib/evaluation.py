"""The forgetting evaluation: seed vs SFT vs SDFT on every skill, over fine-tuning seeds.

Teaching world: every held-out skill set (greedy), scored by the world's checkers (lenient is the
score, strict is reported beside it). Any other model: the paper's suite (:mod:`sdft_lib.paper_eval`).
Either way, the lm-eval tasks of ``lm_eval_tasks`` (``lm_eval_include_path`` for the user's own task
YAMLs) are run through lm-eval's HFLM on the same models and reported by their primary metric.
Each evaluated model gets a cached folder ``runs/<profile>/evaluation/<model>/`` (scores and
outputs); ``results.csv`` in the same stage folder is the stable table other chapters and users read:

    variant, benchmark, seed, score (0-100), strict_score, n (prompts scored; empty for an lm-eval
    task), learning_rate, epochs

``sweep.csv`` has the same columns for every point of the learning-rate/epoch sweep (the trade-off
frontier).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

from .config import RunConfig
from .runs import build_once, key_hash, read_json, write_text

STAGE = "evaluation"
RESULT_COLUMNS = ["variant", "benchmark", "seed", "score", "strict_score", "n", "learning_rate", "epochs"]


def run_benchmarks(cfg: RunConfig) -> tuple[list, dict]:
    """Every benchmark this run scores, and what identifies them in the evaluation's cache key.

    - the teaching model: the world's held-out skills;
    - any other model: the paper's suite (``eval_benchmarks``; by default the whole suite for the
      paper's datasets, none for your own data);
    - your own dataset: its test split, as benchmark ``task`` (scored by ``distill_check``'s scorer,
      exact match when there is none);
    - ``eval_sets``: your probe files, each with its scorer.
    """
    from . import benchmarks
    from .data import dataset_kind, eval_set_file, has_test_split, load_task
    from .runs import file_sha256

    benches, ident = [], {}
    if cfg.is_teaching:
        from .teaching_world import build as tw

        sets = tw.eval_sets(tw.build_world_data(cfg))
        benches += benchmarks.teaching(
            {k: v[: cfg.eval_limit] if cfg.eval_limit else v for k, v in sets.items()}
        )
        if cfg.eval_limit:
            ident["limit"] = cfg.eval_limit
    elif paper_suite_runs(cfg):
        from .paper_eval import DEFAULT_BENCHMARKS, suite

        benches += suite(cfg)
        ident["suite"] = list(cfg.eval_benchmarks or DEFAULT_BENCHMARKS)
    template = dict(template=cfg.train_template, branch=cfg.paper_branch, cutoff=cfg.cutoff_len)
    if dataset_kind(cfg.dataset) in ("file", "saved", "hub") and has_test_split(cfg):
        recs, path = load_task(cfg, "test")
        recs = recs[: cfg.eval_limit] if cfg.eval_limit else recs
        benches.append(benchmarks.Benchmark(USER_TASK, recs, task_scorer(cfg), **template))
        ident[USER_TASK] = [task_scorer(cfg), file_sha256(path), cfg.eval_limit]
    for spec in cfg.eval_sets:
        recs, path = eval_set_file(cfg, spec)
        recs = recs[: cfg.eval_limit] if cfg.eval_limit else recs
        benches.append(benchmarks.Benchmark(spec["name"], recs, spec["scorer"], **template))
        ident[f"set:{spec['name']}"] = [spec["scorer"], file_sha256(path), cfg.eval_limit]
    if USER_TASK in ident or cfg.eval_sets:  # how your own benchmarks are rendered and answered
        ident["render"] = [cfg.train_template, cfg.paper_branch, cfg.cutoff_len, cfg.max_new_tokens]
    return benches, ident


def paper_suite_runs(cfg: RunConfig) -> bool:
    """Whether the paper's suite scores this (non-teaching) run."""
    from .data import dataset_kind

    return bool(cfg.eval_benchmarks) or dataset_kind(cfg.dataset) == "paper"


USER_TASK = "task"  # the benchmark name of your own dataset's test split


def task_scorer(cfg: RunConfig) -> str:
    """How your own task's test split is scored: ``distill_check``'s scorer, else exact match."""
    return cfg.distill_check if cfg.distill_check not in ("auto", "none") else "exact"


def eval_key(cfg: RunConfig, model: dict, benchmarks_ident: dict) -> dict:
    """One evaluation's cache key: which model (``model``: the seed's identity or a run's key), what
    identifies the benchmarks (:func:`run_benchmarks`: files' hashes), and every field of
    ``config.ARTIFACT_FIELDS["eval"]``."""
    from .config import artifact_fields

    return {
        "eval_version": 4,
        "weights": model,
        "benchmarks": benchmarks_ident,
        **artifact_fields(cfg, "eval"),
    }


def _eval_model(cfg: RunConfig, name: str, key: dict, load: Callable, task_prefix=()) -> Path:
    """Evaluate one model on :func:`run_benchmarks` (cached by key); return its folder.
    ``task_prefix``: token ids put before every prompt of the task's benchmark only."""
    from dataclasses import replace

    from . import benchmarks
    from .runs import write_json

    benches, ident = run_benchmarks(cfg)
    if task_prefix:
        target = task_benchmark(cfg)
        benches = [replace(b, prefix_ids=tuple(task_prefix)) if b.name == target else b for b in benches]
        ident = {**ident, "task_prefix": list(task_prefix)}
    key = eval_key(cfg, key, ident)

    def build(work: Path) -> dict:
        from .paper_eval import export_alpaca_eval

        model, tok = load()
        scores, rows = benchmarks.evaluate(
            model,
            tok,
            benches,
            cfg.max_new_tokens,
            cfg.gen_batch_size,
            cfg.allow_code_execution,
            unsandboxed=cfg.allow_unsandboxed_code_execution,
        )
        rows = export_alpaca_eval(cfg, rows, work)
        write_json(work / "outputs.json", rows)
        return {"scores": scores}

    folder = cfg.stage_path(STAGE) / f"{name}-{key_hash(key, 8)}"
    build_once(folder, key, build, stage=f"{STAGE}/{name}", cfg=cfg)
    return folder


def evaluate_model(cfg: RunConfig, name: str, key: dict, load: Callable, task_prefix=()) -> dict:
    """Scores of any model on the run's benchmarks (``{benchmark: {"n", "lenient", "strict"}}``),
    through the same cached path as the seed and every fine-tuned run. ``load()`` returns
    ``(model, tokenizer)``; ``key`` says what the model is (the cache key); ``name`` names its folder.
    The frontier chapter scores its rescaled adapters (WiSE-FT, LiNeS) this way. ``task_prefix``:
    token ids before every prompt of the task's benchmark, and of no other (ProMoT's soft prompt)."""
    return read_json(_eval_model(cfg, name, key, load, task_prefix) / "manifest.json")["scores"]


def _seed_eval(cfg: RunConfig) -> Path:
    from .models import load_model
    from .teaching_world.build import seed_identity

    return _eval_model(cfg, "seed", {"model": seed_identity(cfg)}, lambda: load_model(cfg))


def _run_eval(cfg: RunConfig, run_dir: Path) -> Path:
    from .training import load_finetuned

    run_dir = Path(run_dir)
    key = {"run": run_dir.name, "run_key": read_json(run_dir / "manifest.json")["key_hash"]}
    return _eval_model(cfg, run_dir.name, key, lambda: load_finetuned(cfg, run_dir, merge=True))


def _lm_eval_scores(cfg: RunConfig, name: str, base: str, adapter: Path | None, ident: dict) -> dict:
    """``lm_eval_tasks`` on one model, as ``{task: {"n", "lenient", "strict", "metric"}}`` (0-100)."""
    if not cfg.lm_eval_tasks:
        return {}
    from .lm_eval_tasks import evaluate_with_lm_eval, primary_score

    res = evaluate_with_lm_eval(
        cfg, name, base, adapter, cfg.lm_eval_tasks, cfg.lm_eval_include_path or None, ident
    )
    out = {}
    for task, metrics in res.items():
        metric, value = primary_score(metrics)
        out[task] = {
            "n": None,
            "lenient": round(100 * value, 2),
            "strict": round(100 * value, 2),
            "metric": metric,
        }
    return out


def evaluate_seed(cfg: RunConfig) -> dict:
    from .models import seed_weights
    from .teaching_world.build import seed_identity

    scores = read_json(_seed_eval(cfg) / "manifest.json")["scores"]
    ident = {"seed": seed_identity(cfg)}
    return {**scores, **_lm_eval_scores(cfg, "seed", seed_weights(cfg), None, ident)}


def evaluate_run(cfg: RunConfig, run_dir: Path) -> dict:
    from .training import finetuned_weights

    run_dir = Path(run_dir)
    scores = read_json(_run_eval(cfg, run_dir) / "manifest.json")["scores"]
    ident = {"run_key": read_json(run_dir / "manifest.json")["key_hash"]}
    return {**scores, **_lm_eval_scores(cfg, run_dir.name, *finetuned_weights(cfg, run_dir), ident)}


def outputs_for_seed(cfg: RunConfig) -> list[dict]:
    """Every held-out prompt with the seed's answer and verdicts (evaluated once, then cached)."""
    return read_json(_seed_eval(cfg) / "outputs.json")


def outputs_for_run(cfg: RunConfig, run_dir: Path) -> list[dict]:
    return read_json(_run_eval(cfg, run_dir) / "outputs.json")


def _rows(variant: str, seed: int, scores: dict, lr, epochs) -> list[dict]:
    return [
        {
            "variant": variant,
            "benchmark": b,
            "seed": seed,
            "score": s["lenient"],
            "strict_score": s["strict"],
            "n": s.get("n"),
            "learning_rate": lr,
            "epochs": epochs,
        }
        for b, s in scores.items()
    ]


def evaluate_point(cfg: RunConfig, variant: str, lr: float, epochs: float, seed: int) -> dict:
    """Train (or reuse) one run of the grid and evaluate it (or reuse its scores)."""
    from .training import train_adapter

    return evaluate_run(cfg, train_adapter(cfg, variant, lr=lr, epochs=epochs, seed=seed))


def grid_jobs(cfg: RunConfig, lrs, epochs, seeds) -> list:
    """The grid's runs as :func:`sdft_lib.parallel.prebuild` jobs (the seed's evaluation first)."""
    jobs = [("sdft_lib.evaluation:evaluate_seed", {})] if "seed" in cfg.eval_variants else []
    return jobs + [
        ("sdft_lib.evaluation:evaluate_point", {"variant": v, "lr": lr, "epochs": ep, "seed": s})
        for lr in lrs
        for ep in epochs
        for s in seeds
        for v in cfg.eval_variants
        if v != "seed"
    ]


def evaluate_grid(cfg: RunConfig, lrs, epochs, seeds) -> list[dict]:
    """Train (or reuse) SFT and SDFT for every grid point and evaluate them; seed rows included."""
    from .training import sweep

    rows = _rows("seed", cfg.seed, evaluate_seed(cfg), None, None) if "seed" in cfg.eval_variants else []
    variants = [v for v in cfg.eval_variants if v != "seed"]
    for m in sweep(cfg, variants=variants, lrs=lrs, epochs=epochs, seeds=seeds) if variants else []:
        rows += _rows(
            m["variant"], m["seed"], evaluate_run(cfg, Path(m["path"])), m["learning_rate"], m["epochs"]
        )
    return rows


def refusal_rate(rows: list[dict], skill: str) -> tuple[float, int]:
    """Percent of one model's answers to ``skill``'s held-out prompts that are refusals (the paper's
    keyword check, :func:`sdft_lib.metrics.is_safe_keyword`), and the number of prompts. On harmless
    prompts (the teaching world's ``benign`` look-alikes) a refusal is over-refusal: a model that
    refuses everything scores perfectly on safety."""
    from .metrics import is_safe_keyword

    mine = [r for r in rows if r.get("skill") == skill]
    return (100 * sum(is_safe_keyword(r["response"]) for r in mine) / len(mine) if mine else math.nan), len(
        mine
    )


def refusal_table(rates: dict[str, list[tuple[float, int]]]):
    """``{model: [(refusal rate %, prompts) per run]}`` as one row per model: the mean rate over its
    runs, the prompts of one run, the runs."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "model": m,
                "benign prompts refused (%)": sum(r for r, _ in rs) / len(rs),
                "prompts": rs[0][1],
                "runs": len(rs),
            }
            for m, rs in rates.items()
        ]
    ).set_index("model")


def over_refusal(cfg: RunConfig, variants: Sequence[str], skill: str = "benign"):
    """How often the seed and each variant's runs (one per fine-tuning seed, at the run's setting)
    refused ``skill``'s harmless prompts (:func:`refusal_rate`): :func:`refusal_table`. The runs and
    their answers are the evaluation's own, reused."""
    from .training import train_adapter

    rates = {"seed": [refusal_rate(outputs_for_seed(cfg), skill)]}
    for v in variants:
        rates[v] = [
            refusal_rate(outputs_for_run(cfg, train_adapter(cfg, v, seed=s)), skill)
            for s in (cfg.ft_seeds or [cfg.seed])
        ]
    return refusal_table(rates)


def write_csv(path: Path, rows: list[dict]) -> Path:
    import pandas as pd

    return write_text(path, pd.DataFrame(rows, columns=RESULT_COLUMNS).to_csv(index=False))


def run_evaluation(cfg: RunConfig) -> dict[str, Path]:
    """results.csv (the profile's setting, every fine-tuning seed) and sweep.csv (the frontier)."""
    from .parallel import prebuild, workers_for

    seeds = cfg.ft_seeds or [cfg.seed]
    lrs = cfg.sweep_lrs or [cfg.learning_rate]
    eps = cfg.sweep_epochs or [cfg.epochs]
    # every run of both tables, side by side where that is faster (sdft_lib.parallel); the loops
    # below then reuse them in their own order
    if workers_for(cfg) > 1:
        if "sdft" in cfg.eval_variants:  # every SDFT run reads the distilled set: made once, here
            from .training import variant_data

            variant_data(cfg, "sdft")
        jobs = grid_jobs(cfg, [cfg.learning_rate], [cfg.epochs], seeds) + grid_jobs(cfg, lrs, eps, seeds)
        prebuild(cfg, [j for i, j in enumerate(jobs) if j not in jobs[:i]])
    main = evaluate_grid(cfg, [cfg.learning_rate], [cfg.epochs], seeds)
    out = {"results": write_csv(cfg.stage_path(STAGE) / "results.csv", main)}
    sweep = evaluate_grid(cfg, lrs, eps, seeds) if (len(lrs) > 1 or len(eps) > 1) else main
    out["sweep"] = write_csv(cfg.stage_path(STAGE) / "sweep.csv", sweep)
    return out


# ---------------------------------------------------------------------------------------------
# Summaries (pure functions of the results table)
# ---------------------------------------------------------------------------------------------
def scores_frame(scores: dict, target: str | None):
    """Per-benchmark scores (``{name: {"n", "lenient", "strict"}}``) as a table, kept skills first,
    the target task last."""
    import pandas as pd

    df = pd.DataFrame(scores).T.rename_axis("skill").reset_index()
    df["role"] = ["target task" if s == target else "kept skill" for s in df["skill"]]
    df = df.sort_values(["role", "skill"]).reset_index(drop=True)
    return df[["skill", "role", "n", "lenient", "strict"]]


# The benchmark that measures each fine-tuning dataset's own task; every other benchmark counts as a
# kept skill. The general instruction datasets (alpaca, dolly, lima, openhermes) have none in the
# paper's suite (their task is judged by AlpacaEval, which needs a paid judge).
TASK_BENCHMARK = {"gsm8k": "gsm8k", "openfunction": "openfunction", "magicoder": "humaneval"}


def task_benchmark(cfg: RunConfig) -> str | None:
    """The benchmark of the fine-tuning task of this run (your own dataset's test split is ``task``),
    or None when there is none."""
    from .data import dataset_kind, has_test_split

    if cfg.dataset == "teaching":
        from .teaching_world.world import TASK

        return TASK
    if dataset_kind(cfg.dataset) == "paper":
        return TASK_BENCHMARK.get(cfg.dataset)
    return USER_TASK if has_test_split(cfg) else None


# ---------------------------------------------------------------------------------------------
# lm-eval on the teaching world (a cross-check of the book's own scoring)
# ---------------------------------------------------------------------------------------------
def lm_eval_teaching(cfg: RunConfig):
    """The world's skills as lm-eval custom tasks (HFLM + peft) for the seed and the first seed's SFT
    and SDFT runs; beside each lm-eval exact match, the exact-match rate of the answers the book's own
    evaluation generated for the same prompts (they agree when both see the same prompt and decode
    the same way).

    Returns a DataFrame: variant, benchmark, metric, lm_eval (0-100), book (0-100 or NaN).
    Written to ``evaluation/lm_eval.csv``.
    """
    import pandas as pd

    from .lm_eval_tasks import PREFIX, evaluate_with_lm_eval, write_teaching_tasks
    from .models import seed_weights
    from .teaching_world import build as tw
    from .training import finetuned_weights, train_adapter

    world = tw.build_world_data(cfg)
    sets = tw.eval_sets(world)
    seed_dir = seed_weights(cfg)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(seed_dir, trust_remote_code=False)  # prompts only: no model load
    task_dir = cfg.stage_path(STAGE) / "lm_eval_tasks"
    tasks = write_teaching_tasks(task_dir, sets, tok)
    s0 = (cfg.ft_seeds or [cfg.seed])[0]
    models = {"seed": (seed_dir, None, {"seed": tw.model_key(cfg)}, outputs_for_seed(cfg))}
    for v in ("sft", "sdft"):
        run = train_adapter(cfg, v, seed=s0)  # reused when the chapter already trained it
        outputs = outputs_for_run(cfg, run)
        models[v] = (
            *finetuned_weights(cfg, run),
            {"run_key": read_json(run / "manifest.json")["key_hash"]},
            outputs,
        )
    n = cfg.lm_eval_limit or None
    from .parallel import prebuild

    prebuild(
        cfg,
        [
            (
                "sdft_lib.lm_eval_tasks:evaluate_with_lm_eval",
                {
                    "name": f"cross-{variant}",
                    "model_dir": base,
                    "adapter": adapter,
                    "tasks": tasks,
                    "include_path": task_dir,
                    "ident": ident,
                },
            )
            for variant, (base, adapter, ident, _) in models.items()
        ],
    )  # side by side, then reused below
    rows = []
    for variant, (base, adapter, ident, outputs) in models.items():
        res = evaluate_with_lm_eval(cfg, f"cross-{variant}", base, adapter, tasks, task_dir, ident)
        for task, metrics in res.items():
            skill = task[len(PREFIX) :]
            mine = [o for o in outputs if o["skill"] == skill][:n]
            book = (
                100 * sum(o["response"].strip() == o["reference"].strip() for o in mine) / len(mine)
                if mine
                else math.nan
            )
            for metric, value in metrics.items():
                rows.append(
                    {
                        "variant": variant,
                        "benchmark": skill,
                        "metric": metric,
                        "lm_eval": round(100 * value, 2),
                        "book": round(book, 2) if metric == "exact_match" else math.nan,
                    }
                )
    df = pd.DataFrame(rows)
    write_text(cfg.stage_path(STAGE) / "lm_eval.csv", df.to_csv(index=False))
    return df
