"""The paper's evaluation suite for real models (and for the teaching model run through the paper's
code path): the same data files, prompt templates and scorers as sail-sg/sdft ``scripts/*/sdft.sh``.

====================  ==========================  ================  =====================================
benchmark             data (in ``data_dir``)       template          score (strict beside it)
====================  ==========================  ================  =====================================
gsm8k                 gsm8k/gsm8k_test.json        gsm8k_infer       last integer equal
multiarith            multiarith_test.json         gsm8k_infer       last integer equal
openfunction          openfunction_test.json       alpaca            reproduce: 0.5-credit positional;
                                                                     main: exact (strict: exact)
advbench_raw          harmful_behaviors.csv        alpaca            refusal keyword present
advbench_jailbreak    harmful_behaviors.csv        alpaca_gcg        refusal keyword present
humaneval             ``humaneval_file`` (opt-in)  alpaca            pass@1, sandboxed subprocess
alpaca_eval           alpaca_eval.json             alpaca            exported for the AlpacaEval judge
instructions          (``instruction_probe``)      alpaca            IFEval's checks, loose (strict beside)
====================  ==========================  ================  =====================================

``instructions`` is not the paper's: it is the project's IFEval-style probe for small real models
(:mod:`sdft_lib.instruction_probe`), opt-in through ``eval_benchmarks``.

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

from .benchmarks import DEFAULT_PAPER_BENCHMARKS, SUITE_BENCHMARKS, Benchmark
from .config import RunConfig
from .data import read_records
from .errors import ConfigError
from .templates import GCG_SUFFIX

BENCHMARKS, DEFAULT_BENCHMARKS = SUITE_BENCHMARKS, DEFAULT_PAPER_BENCHMARKS
FILES = {
    "gsm8k": "gsm8k/gsm8k_test.json",
    "multiarith": "multiarith_test.json",
    "openfunction": "openfunction/openfunction_test.json",
    "advbench_raw": "harmful_behaviors.csv",
    "advbench_jailbreak": "harmful_behaviors.csv",
    "alpaca_eval": "alpaca_eval.json",
}
TEMPLATE = {
    "gsm8k": "gsm8k_infer",
    "multiarith": "gsm8k_infer",
    "openfunction": "alpaca",
    "advbench_raw": "alpaca",
    "advbench_jailbreak": "alpaca_gcg",
    "humaneval": "alpaca",
    "alpaca_eval": "alpaca",
    "instructions": "alpaca",
}


# The scorer of each benchmark (``metrics.SCORERS``); OpenFunctions follows the branch: the
# reproduce branch gives 0.5 credit to positional arguments, main only to the exact call.
SCORER = {
    "gsm8k": "math_answer",
    "multiarith": "math_answer",
    "openfunction": "function_call_partial",
    "advbench_raw": "refusal",
    "advbench_jailbreak": "refusal",
    "humaneval": "humaneval",
    "alpaca_eval": None,
    "instructions": "instruction_following",
}


def scorer(cfg: RunConfig, name: str) -> str | None:
    if name == "openfunction" and cfg.paper_branch == "main":
        return "function_call"
    return SCORER[name]


def read_advbench(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return [{"instruction": r["goal"], "input": "", "output": r["target"]} for r in csv.DictReader(f)]


def read_humaneval(path: Path) -> list[dict]:
    """HumanEval problems (JSON lines with task_id, prompt, test, entry_point)."""
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    for r in rows:
        missing = {"prompt", "test", "entry_point"} - set(r)
        if missing:
            raise ConfigError(
                f"humaneval_file={str(path)!r} is not allowed: records need prompt, test and "
                f"entry_point (missing {', '.join(sorted(missing))})"
            )
    return rows


def load_benchmark(cfg: RunConfig, name: str) -> list[dict]:
    """The records of one benchmark (instruction/input/output; HumanEval keeps its own fields)."""
    if name == "humaneval":
        rows = read_humaneval(Path(cfg.humaneval_file).expanduser())
        recs = [
            {
                **r,
                "instruction": "Complete the following Python function.\n\n" + r["prompt"],
                "input": "",
                "output": "",
            }
            for r in rows
        ]
    elif name == "instructions":
        from .instruction_probe import instruction_records

        recs = instruction_records()
    else:
        path = Path(cfg.data_dir).expanduser() / FILES[name]
        if not path.is_file():
            raise ConfigError(
                f"data_dir={cfg.data_dir!r} is missing {FILES[name]} (needed by benchmark "
                f"{name}): download sail-sg/sdft's data/ folder and point data_dir at it"
            )
        recs = read_advbench(path) if path.suffix == ".csv" else read_records(path)
    return recs[: cfg.eval_limit] if cfg.eval_limit else recs


def benchmark(cfg: RunConfig, name: str) -> Benchmark:
    """One benchmark of the suite: the paper's template for it (cut at ``cutoff_len`` as its
    LLaMA-Factory predictions were) or, for chat-template runs, the model's own chat template with
    the jailbreak suffix appended to the user's message."""
    recs = load_benchmark(cfg, name)
    if cfg.train_template == "chat":
        return Benchmark(
            name,
            recs,
            scorer(cfg, name),
            "chat",
            "reproduce",
            cfg.cutoff_len,
            GCG_SUFFIX if name == "advbench_jailbreak" else "",
        )
    return Benchmark(name, recs, scorer(cfg, name), TEMPLATE[name], cfg.paper_branch, cfg.cutoff_len)


def suite(cfg: RunConfig) -> list[Benchmark]:
    return [benchmark(cfg, name) for name in cfg.eval_benchmarks or DEFAULT_BENCHMARKS]


def export_alpaca_eval(cfg: RunConfig, rows: list[dict], work: Path | None) -> list[dict]:
    """Write the AlpacaEval answers (``alpaca_eval_outputs.json``, AlpacaEval's format) into ``work``
    and return the other rows (AlpacaEval needs a paid judge: the answers are only exported)."""
    from .runs import write_json

    export = [
        {"instruction": r["instruction"], "output": r["response"], "generator": cfg.model_label}
        for r in rows
        if r["skill"] == "alpaca_eval"
    ]
    if export and work is not None:
        write_json(Path(work) / "alpaca_eval_outputs.json", export)
    return [r for r in rows if r["skill"] != "alpaca_eval"]
