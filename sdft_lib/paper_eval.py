"""The paper's evaluation suite for real models (and for the teaching model run through the paper's
code path): the same data files, prompt templates and scorers as sail-sg/sdft ``scripts/*/sdft.sh``.

====================  ==========================  ================  =====================================
benchmark             data (in ``data_dir``)       template          score (strict beside it)
====================  ==========================  ================  =====================================
gsm8k                 gsm8k/gsm8k_test.json        gsm8k_infer       last integer equal
multiarith            multiarith_test.json         gsm8k_infer       last integer equal
openfunction          openfunction_test.json       alpaca            reproduce: 0.5-credit positional; main: exact (strict: exact)
advbench_raw          harmful_behaviors.csv        alpaca            refusal keyword present
advbench_jailbreak    harmful_behaviors.csv        alpaca_gcg        refusal keyword present
humaneval             ``humaneval_file`` (opt-in)  alpaca            pass@1, sandboxed subprocess
alpaca_eval           alpaca_eval.json             alpaca            exported for the AlpacaEval judge
====================  ==========================  ================  =====================================

With ``train_template: chat`` (modern instruct models) the prompts go through the model's own chat
template instead; the jailbreak suffix is appended to the user's message the same way.

Decoding is greedy (the paper's LLaMA-Factory predictions sampled with its default settings; greedy
makes a rerun give the same numbers). AlpacaEval needs a paid judge API: the suite writes
``alpaca_eval_outputs.json`` in AlpacaEval's format and never calls the judge.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Callable

from .config import ConfigError, RunConfig
from .data import read_records
from .metrics import function_call_matches, function_call_score, is_safe_keyword, math_answer_matches
from .templates import GCG_SUFFIX

BENCHMARKS = ("gsm8k", "multiarith", "openfunction", "advbench_raw", "advbench_jailbreak", "humaneval",
              "alpaca_eval")
DEFAULT_BENCHMARKS = ("gsm8k", "multiarith", "openfunction", "advbench_raw", "advbench_jailbreak",
                      "alpaca_eval")
FILES = {"gsm8k": "gsm8k/gsm8k_test.json", "multiarith": "multiarith_test.json",
         "openfunction": "openfunction/openfunction_test.json", "advbench_raw": "harmful_behaviors.csv",
         "advbench_jailbreak": "harmful_behaviors.csv", "alpaca_eval": "alpaca_eval.json"}
TEMPLATE = {"gsm8k": "gsm8k_infer", "multiarith": "gsm8k_infer", "openfunction": "alpaca",
            "advbench_raw": "alpaca", "advbench_jailbreak": "alpaca_gcg", "humaneval": "alpaca",
            "alpaca_eval": "alpaca"}


def _math(pred: str, ref: str) -> tuple[float, float]:
    ok = float(math_answer_matches(pred, ref))
    return ok, ok


def _function(pred: str, ref: str) -> tuple[float, float]:
    return function_call_score(pred, ref), float(function_call_matches(pred, ref))


def _function_strict(pred: str, ref: str) -> tuple[float, float]:
    ok = float(function_call_matches(pred, ref))
    return ok, ok


def _safety(pred: str, ref: str) -> tuple[float, float]:
    ok = float(is_safe_keyword(pred))
    return ok, ok


SCORERS: dict[str, Callable[[str, str], tuple[float, float]]] = {
    "gsm8k": _math, "multiarith": _math, "openfunction": _function,
    "advbench_raw": _safety, "advbench_jailbreak": _safety}


def read_advbench(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return [{"instruction": r["goal"], "input": "", "output": r["target"]} for r in csv.DictReader(f)]


def read_humaneval(path: Path) -> list[dict]:
    """HumanEval problems (JSON lines with task_id, prompt, test, entry_point)."""
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    for r in rows:
        missing = {"prompt", "test", "entry_point"} - set(r)
        if missing:
            raise ConfigError(f"humaneval_file={str(path)!r} is not allowed: records need prompt, test and "
                              f"entry_point (missing {', '.join(sorted(missing))})")
    return rows


def load_benchmark(cfg: RunConfig, name: str) -> list[dict]:
    """The records of one benchmark (instruction/input/output; HumanEval keeps its own fields)."""
    if name == "humaneval":
        rows = read_humaneval(Path(cfg.humaneval_file).expanduser())
        recs = [{**r, "instruction": "Complete the following Python function.\n\n" + r["prompt"],
                 "input": "", "output": ""} for r in rows]
    else:
        path = Path(cfg.data_dir).expanduser() / FILES[name]
        if not path.is_file():
            raise ConfigError(f"data_dir={cfg.data_dir!r} is missing {FILES[name]} (needed by benchmark "
                              f"{name}): download sail-sg/sdft's data/ folder and point data_dir at it")
        recs = read_advbench(path) if path.suffix == ".csv" else read_records(path)
    return recs[:cfg.eval_limit] if cfg.eval_limit else recs


def prompt(cfg: RunConfig, tokenizer, name: str, rec: dict) -> list[int]:
    """The prompt ids of one benchmark record: the paper's template for this benchmark (cut at
    ``cutoff_len`` with the reference, as its LLaMA-Factory predictions were), or, for chat-template
    runs, the model's own chat template."""
    from .templates import prompt_ids

    if cfg.train_template == "chat":
        if name == "advbench_jailbreak":
            rec = {**rec, "instruction": rec["instruction"] + GCG_SUFFIX}
        return prompt_ids(tokenizer, "chat", rec, cfg.cutoff_len)
    return prompt_ids(tokenizer, TEMPLATE[name], rec, cfg.cutoff_len, cfg.paper_branch)


def evaluate_suite(model, tokenizer, cfg: RunConfig, work: Path | None = None,
                   log: Callable[[str], None] = print) -> tuple[dict, list[dict]]:
    """Greedy answers on every benchmark of ``cfg.eval_benchmarks``; per-benchmark scores (0-100),
    every answer with its verdict, and (when ``work`` is given) the AlpacaEval export."""
    from .code_exec import pass_at_1
    from .generation import Decoding, HFBackend
    from .runs import write_json

    backend = HFBackend(model, tokenizer, batch_size=cfg.gen_batch_size)
    decoding = Decoding(max_new_tokens=cfg.max_new_tokens)
    scores, rows = {}, []
    for name in cfg.eval_benchmarks or DEFAULT_BENCHMARKS:
        recs = load_benchmark(cfg, name)
        outs = backend.generate([prompt(cfg, tokenizer, name, r) for r in recs], decoding)
        log(f"  {name}: {len(recs)} prompts answered")
        if name == "alpaca_eval":
            export = [{"instruction": r["instruction"], "output": o, "generator": cfg.model_label}
                      for r, o in zip(recs, outs)]
            if work is not None:
                write_json(Path(work) / "alpaca_eval_outputs.json", export)
            continue
        if name == "humaneval":
            score, verdicts = pass_at_1(recs, outs, allow=cfg.allow_code_execution)
            marks = [(float(v["status"] == "passed"),) * 2 for v in verdicts]
        else:
            score = _function_strict if (name == "openfunction" and cfg.paper_branch == "main") else SCORERS[name]
            marks = [score(o, r["output"]) for o, r in zip(outs, recs)]
        n = max(1, len(recs))
        scores[name] = {"n": len(recs), "lenient": round(100 * sum(m[0] for m in marks) / n, 2),
                        "strict": round(100 * sum(m[1] for m in marks) / n, 2)}
        rows += [{"skill": name, "instruction": r["instruction"], "reference": r["output"], "response": o,
                  "lenient": m[0], "strict": m[1]} for r, o, m in zip(recs, outs, marks)]
    return scores, rows
