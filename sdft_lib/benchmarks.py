"""One benchmark registry and one scoring loop.

A :class:`Benchmark` is its prompts (records in the project's schema), how they are rendered (a
template of :mod:`sdft_lib.templates`, the paper's branch and cut), and one scorer named in
:data:`SCORERS`. Everything that scores a model's answers goes through :func:`evaluate`:

- the teaching world's held-out skills (:func:`teaching`) and its rewrite probe (:func:`rewrite_probe`),
- the paper's suite (:func:`sdft_lib.paper_eval.suite` builds its benchmarks),
- the lm-eval export of the teaching skills (:func:`sdft_lib.lm_eval_tasks.write_teaching_tasks`
  renders the same prompts).

The self-distillation filters use the scorers of the same names (``self_distillation.RULES``), so a
rewrite is judged by the check that later scores the model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .metrics import REGEX_PREFIX
from .metrics import SCORERS as PAPER_SCORERS
from .metrics import scorer as metric_scorer
from .report import say
from .teaching_world.world import CHECKERS, DISTILL_SYSTEM, TASK, _check_rewrite_probe, distill_user_message

# The paper's suite (its data files, templates and scorers: ``paper_eval``).
PAPER_BENCHMARKS = (
    "gsm8k",
    "multiarith",
    "openfunction",
    "advbench_raw",
    "advbench_jailbreak",
    "humaneval",
    "alpaca_eval",
)
DEFAULT_PAPER_BENCHMARKS = tuple(b for b in PAPER_BENCHMARKS if b != "humaneval")  # humaneval is opt-in
# The project's own probes for small real models (``sdft_lib.instruction_probe``), opt-in beside the paper's.
PROBE_BENCHMARKS = ("instructions",)
SUITE_BENCHMARKS = PAPER_BENCHMARKS + PROBE_BENCHMARKS

Scorer = Callable[[str, str], tuple[float, float]]

# Every scorer: (response, reference) -> (lenient, strict), each in [0, 1]. "humaneval" runs the
# model's code (``code_exec.pass_at_1``) and is applied to a whole benchmark at once.
SCORERS: dict[str, Scorer] = {
    **PAPER_SCORERS,
    **{f"teaching_{skill}": check for skill, check in CHECKERS.items()},
    "teaching_rewrite_probe": _check_rewrite_probe,
    "instruction_following": lambda response, reference: _instruction_following(response, reference),
}


def _instruction_following(response: str, reference: str) -> tuple[float, float]:
    from .instruction_probe import instruction_following  # imports lm-eval's IFEval checkers on first use

    return instruction_following(response, reference)


def get_scorer(name: str) -> Scorer:
    """A scorer by name: one of :data:`SCORERS` or ``regex:<pattern>``."""
    return metric_scorer(name) if name.startswith(REGEX_PREFIX) else SCORERS[name]


@dataclass(frozen=True)
class Benchmark:
    """A set of prompts with references, how to render them, and how to score the answers.

    ``scorer``: a key of :data:`SCORERS`, ``"humaneval"``, or None (answers are collected but not
    scored: the AlpacaEval export). ``suffix`` is appended to every instruction (the GCG jailbreak on
    chat-template runs)."""

    name: str
    records: Sequence[dict]
    scorer: str | None
    template: str = "chat"
    branch: str = "reproduce"
    cutoff: int | None = None
    suffix: str = ""
    max_new_tokens: int | None = None  # None: what evaluate() is given
    prefix_ids: tuple[int, ...] = ()  # token ids before every prompt (ProMoT's soft-prompt placeholders)

    def rendered(self) -> list[dict]:
        return (
            [{**r, "instruction": r["instruction"] + self.suffix} for r in self.records]
            if self.suffix
            else list(self.records)
        )

    def prompts(self, tokenizer) -> list[list[int]]:
        """Every record's prompt as token ids (``templates.prompt_ids``), after ``prefix_ids``.
        Rendered once per process for a tokenizer and record (:data:`_PROMPT_CACHE`): a chapter that
        scores dozens of runs of one seed renders its prompts once, not once a run."""
        from .templates import prompt_ids

        pre, fp = list(self.prefix_ids), _tokenizer_fingerprint(tokenizer)
        out = []
        for r in self.rendered():
            key = (fp, self.template, self.branch, self.cutoff, json.dumps(r, sort_keys=True, default=str))
            ids = _PROMPT_CACHE.get(key)
            if ids is None:
                if len(_PROMPT_CACHE) >= _PROMPT_CACHE_MAX:
                    _PROMPT_CACHE.clear()
                ids = _PROMPT_CACHE[key] = tuple(
                    prompt_ids(tokenizer, self.template, r, self.cutoff, self.branch)
                )
            out.append(pre + list(ids))
        return out


# Rendered prompts, by tokenizer and record (Benchmark.prompts). Rendering a chat prompt goes through
# the tokenizer's Jinja template: 0.7 s for the teaching world's 1,002 prompts, 15% of an evaluation.
_PROMPT_CACHE: dict[tuple, tuple[int, ...]] = {}
_PROMPT_CACHE_MAX = 200_000


def _tokenizer_fingerprint(tokenizer) -> tuple:
    """What a rendered prompt depends on in a tokenizer: its whole tokenization pipeline (the fast
    backend's serialized form: vocabulary, merges, normalizer, pre- and post-processor; else the
    vocabulary), its special tokens, special-token flags and chat template. Two tokenizers loaded
    from one folder share it, so the runs of one seed share their rendered prompts."""
    import hashlib

    backend = getattr(tokenizer, "backend_tokenizer", None)
    body = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    flags = {k: getattr(tokenizer, k, None) for k in ("add_bos_token", "add_eos_token", "legacy")}
    specials = json.dumps(getattr(tokenizer, "special_tokens_map", {}), sort_keys=True, default=str)
    return (
        type(tokenizer).__name__,
        hashlib.sha256(body.encode()).hexdigest(),
        specials,
        json.dumps(flags, sort_keys=True, default=str),
        getattr(tokenizer, "chat_template", None),
    )


def score(
    bench: Benchmark, responses: Sequence[str], allow_code_execution: bool = False, unsandboxed: bool = False
) -> tuple[dict | None, list[dict]]:
    """Per-benchmark summary ``{"n", "lenient", "strict"}`` (0-100; None when not scored) and one row
    per answer with its verdicts."""
    recs = list(bench.records)
    if bench.scorer is None:
        marks = [(None, None)] * len(recs)
    elif bench.scorer == "humaneval":
        from .code_exec import pass_at_1

        _, verdicts = pass_at_1(recs, list(responses), allow=allow_code_execution, unsandboxed=unsandboxed)
        marks = [(float(v["status"] == "passed"),) * 2 for v in verdicts]
    else:
        check = get_scorer(bench.scorer)
        marks = [tuple(float(x) for x in check(o, r["output"])) for o, r in zip(responses, recs)]
    rows = [
        {
            "skill": bench.name,
            "instruction": r["instruction"],
            "reference": r["output"],
            "response": o,
            "lenient": m[0],
            "strict": m[1],
        }
        for r, o, m in zip(recs, responses, marks)
    ]
    if bench.scorer is None:
        return None, rows
    n = max(1, len(recs))
    return {
        "n": len(recs),
        "lenient": round(100 * sum(m[0] for m in marks) / n, 2),
        "strict": round(100 * sum(m[1] for m in marks) / n, 2),
    }, rows


def evaluate(
    model,
    tokenizer,
    benches: Sequence[Benchmark],
    max_new_tokens: int,
    batch_size: int = 64,
    allow_code_execution: bool = False,
    unsandboxed: bool = False,
) -> tuple[dict, list[dict]]:
    """Greedy answers to every benchmark's prompts, scored: ``({name: summary}, rows)``. A benchmark
    without a scorer contributes rows only.

    The benchmarks that share a length limit are answered in one generation (:func:`answer_pooled`):
    its batches mix them, so no benchmark ends on a small batch of its own. Each answer is the one a
    generation of its own benchmark gives (greedy; ``tests/test_model.py`` checks it). On the teaching
    world's seven sets an evaluation took 3.99 s instead of 4.28 s (1.07x, medians of 12 runs,
    ``benchmarks/eval_path.py --old pooling``), a small gain: what it saves is each benchmark's
    part-filled last batch."""
    from .generation import HFBackend

    backend = HFBackend(model, tokenizer, batch_size=batch_size)
    answers = answer_pooled(backend, tokenizer, benches, max_new_tokens)
    scores, rows = {}, []
    for bench, outs in zip(benches, answers):
        say(f"  {bench.name}: {len(outs)} prompts answered")
        summary, bench_rows = score(bench, outs, allow_code_execution, unsandboxed)
        if summary is not None:
            scores[bench.name] = summary
        rows += bench_rows
    return scores, rows


def answer_pooled(backend, tokenizer, benches: Sequence[Benchmark], max_new_tokens: int) -> list[list[str]]:
    """Every benchmark's greedy answers, in its prompts' order: one ``backend.generate`` call for all
    the benchmarks that share a length limit (``bench.max_new_tokens``, else ``max_new_tokens``)."""
    from .generation import Decoding

    prompts = [bench.prompts(tokenizer) for bench in benches]
    limits = [bench.max_new_tokens or max_new_tokens for bench in benches]
    answers: list[list[str]] = [[] for _ in benches]
    for limit in dict.fromkeys(limits):
        group = [i for i, n in enumerate(limits) if n == limit]
        outs = backend.generate([p for i in group for p in prompts[i]], Decoding(max_new_tokens=limit))
        for i in group:
            answers[i], outs = outs[: len(prompts[i])], outs[len(prompts[i]) :]
    return answers


# ---------------------------------------------------------------------------------------------
# The teaching world's benchmarks
# ---------------------------------------------------------------------------------------------
TEACHING_MAX_NEW_TOKENS = 48  # every voice answer fits; a rambling one is cut


def teaching(sets: dict[str, list[dict]]) -> list[Benchmark]:
    """The world's held-out skill sets (``teaching_world.build.eval_sets``), each scored by its checker."""
    return [
        Benchmark(skill, recs, f"teaching_{skill}", max_new_tokens=TEACHING_MAX_NEW_TOKENS)
        for skill, recs in sets.items()
    ]


def rewrite_probe(task_records: Sequence[dict]) -> Benchmark:
    """How well the seed rewrites the task's foreign-style answers in its own voice: the prompt the
    self-distillation stage sends (reference answer included), scored on the final answer (lenient,
    the paper's check) and on the working too (strict)."""
    recs = [
        {
            "system": DISTILL_SYSTEM,
            "input": "",
            "output": r["output"],
            "instruction": distill_user_message(r["instruction"], r["output"]),
        }
        for r in task_records
    ]
    return Benchmark("rewrite_probe", recs, "teaching_rewrite_probe")


def run_rewrite_probe(model, tokenizer, task_records: Sequence[dict], batch_size: int = 64) -> dict:
    """The rewrite probe's numbers: ``final_answer_ok`` and ``working_ok`` (0-100), the rewrites and
    eight examples."""
    scores, rows = evaluate(
        model, tokenizer, [rewrite_probe(task_records)], TEACHING_MAX_NEW_TOKENS, batch_size
    )
    s = scores["rewrite_probe"]
    return {
        "n": s["n"],
        "final_answer_ok": s["lenient"],
        "working_ok": s["strict"],
        "rewrites": [r["response"] for r in rows],
        "examples": [
            {
                "reference": r["reference"],
                "rewrite": r["response"],
                "final_answer_ok": bool(r["lenient"]),
                "working_ok": bool(r["strict"]),
            }
            for r in rows[:8]
        ],
    }


# ---------------------------------------------------------------------------------------------
# Probes beyond the world's own benchmarks (lab 4): new wording, or bigger numbers, never both
# ---------------------------------------------------------------------------------------------
# Addition asked in ways the world never asks it (checked by `wording_overlap` against its training
# prompts): "combined with", "count up", "put together", "altogether", "tally".
UNSEEN_ADDITION = [
    "Tell me the total when {a} is combined with {b}.",
    "Start at {a} and count up by {b}. Where do you land?",
    "If {a} and {b} are put together, what number results?",
    "{a} and another {b}: how much is that altogether?",
    "Give me the tally of {a} with {b} on top.",
]


def addition_probe(
    name: str, n: int = 60, seed: int = 0, *, new_wording: bool, operands: tuple[int, int] = (1, 9)
) -> Benchmark:
    """Addition questions scored by the world's arithmetic checker (the last integer must be right).

    ``new_wording``: the phrasings of :data:`UNSEEN_ADDITION`; otherwise the world's own bare
    phrasings. ``operands``: the range of both numbers (the world's arithmetic uses 1-9). Changing one
    of the two at a time tells what a drop in score is about: the wording or the numbers."""
    import random

    from .teaching_world.world import ADD_BARE, cap

    rng = random.Random(seed)
    recs = []
    for _ in range(n):
        a, b = rng.randint(*operands), rng.randint(*operands)
        tpl = rng.choice(UNSEEN_ADDITION) if new_wording else cap(rng.choice(ADD_BARE.train))
        recs.append({"instruction": tpl.format(a=a, b=b), "input": "", "output": f"The answer is {a + b}."})
    return Benchmark(name, recs, "teaching_arithmetic", max_new_tokens=TEACHING_MAX_NEW_TOKENS)


def wording_overlap(probe: Sequence[dict], training: Sequence[dict], n: int = 3) -> float:
    """The share (0-1) of a probe's word ``n``-grams, numbers masked, that occur in the training
    prompts: how much of its wording the model has seen."""
    import re

    def grams(text: str) -> set:
        words = re.sub(r"\d+", "#", text.lower()).replace("?", " ?").replace(".", " .").split()
        return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}

    seen = set().union(*(grams(r["instruction"]) for r in training))
    probe_grams = [g for r in probe for g in grams(r["instruction"])]
    return sum(g in seen for g in probe_grams) / len(probe_grams) if probe_grams else 0.0


__all__ = [
    "SCORERS",
    "TASK",
    "UNSEEN_ADDITION",
    "Benchmark",
    "addition_probe",
    "evaluate",
    "rewrite_probe",
    "run_rewrite_probe",
    "score",
    "teaching",
    "wording_overlap",
]
