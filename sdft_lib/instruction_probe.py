"""Instruction following and format leakage: probes for a small real chat model, offline (no judge).

At 135M parameters the paper's probes mostly sit at the floor (the seed solves no MultiArith problem
and refuses no AdvBench request), so nothing can be forgotten there. Three probes measure what such
a model does have; this module holds the first and the third:

- **instruction following** (benchmark ``instructions``): short everyday requests, each with one
  verifiable instruction in the style of IFEval (Zhou et al., 2023): all lowercase, no commas, under
  40 words, a ``<<title>>``, JSON, three bullets, a postscript, an exact closing phrase, ... The
  instruction's wording and its check are lm-eval's own IFEval code
  (``lm_eval.tasks.ifeval.instructions_registry``); only the requests are the project's. Strict and
  loose pass rates are IFEval's two (loose also accepts the answer without its first or last line,
  or without ``*``). Only instruction types whose checks need no downloaded data are used (IFEval's
  sentence counting needs nltk's ``punkt_tab``, which no package on PyPI ships).
- **drift from the seed** (:mod:`sdft_lib.probes`): how likely a fine-tuned model finds the seed's
  own greedy answers to those prompts.
- **format leakage** (:func:`format_leakage`): the share of those non-task prompts answered in the
  task's format (for OpenFunctions: a single function call).
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Sequence
from unittest import mock

# (instruction id of lm-eval's IFEval registry, its keyword arguments); the keyword lists of
# ``keywords:existence`` / ``keywords:forbidden_words`` come from each request (below).
INSTRUCTIONS: tuple[tuple[str, dict], ...] = (
    ("change_case:english_lowercase", {}),
    ("punctuation:no_comma", {}),
    ("length_constraints:number_words", {"relation": "less than", "num_words": 40}),
    ("detectable_format:title", {}),
    ("startend:end_checker", {"end_phrase": "Is there anything else I can help with?"}),
    ("keywords:existence", {"keywords": "KEYWORD"}),
    ("detectable_format:json_format", {}),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}),
    ("detectable_format:number_bullet_lists", {"num_bullets": 3}),
    ("startend:quotation", {}),
    ("keywords:forbidden_words", {"forbidden_words": "FORBIDDEN"}),
    ("change_case:english_capital", {}),
)

# Short everyday requests, far from function calls: (request, a word it invites, a word to avoid).
REQUESTS: tuple[tuple[str, str, str], ...] = (
    ("Describe a rainy day in a city.", "umbrella", "wet"),
    ("Give advice to someone starting to learn the guitar.", "practice", "easy"),
    ("Explain why people keep pets.", "friendship", "dog"),
    ("Write a short note inviting a friend to dinner.", "Saturday", "food"),
    ("Tell me what makes a good breakfast.", "fruit", "coffee"),
    ("Describe the sea to someone who has never seen it.", "waves", "blue"),
)

PROBE = "instructions"  # the benchmark's name (``eval_benchmarks``)
SCORER = "instruction_following"


@functools.cache
def _ifeval():
    """lm-eval's IFEval checkers. Its module downloads nltk's ``punkt_tab`` on import when it runs as
    rank 0; none of the instruction types used here needs it, so it is imported as another rank (no
    download, no noise)."""
    import langdetect

    langdetect.DetectorFactory.seed = 0  # the language detector is random unless seeded
    with mock.patch.dict(os.environ, {"LOCAL_RANK": "1"}):
        from lm_eval.tasks.ifeval import instructions_registry, utils
    return instructions_registry, utils


def _kwargs(template: dict, keyword: str, forbidden: str) -> dict:
    fill = {"KEYWORD": [keyword], "FORBIDDEN": [forbidden]}
    return {k: fill.get(v, v) if isinstance(v, str) else v for k, v in template.items()}


def instruction_records() -> list[dict]:
    """Every probe prompt in the project's schema, request by request (so a prefix of ``eval_limit``
    records keeps every instruction type). ``output`` holds what the checker needs, as JSON."""
    registry, _ = _ifeval()
    out = []
    for request, keyword, forbidden in REQUESTS:
        for iid, template in INSTRUCTIONS:
            kwargs = _kwargs(template, keyword, forbidden)
            checker = registry.INSTRUCTION_DICT[iid](iid)
            description = checker.build_description(**kwargs)
            out.append(
                {
                    "instruction": f"{request} {description}",
                    "input": "",
                    "output": json.dumps({"instruction_id_list": [iid], "kwargs": [kwargs]}),
                }
            )
    return out


def instruction_following(response: str, reference: str) -> tuple[float, float]:
    """IFEval's (loose, strict) verdicts of one answer; ``reference`` is the record's ``output``."""
    _, utils = _ifeval()
    spec = json.loads(reference)
    inp = utils.InputExample(
        key=0, instruction_id_list=spec["instruction_id_list"], prompt="", kwargs=spec["kwargs"]
    )
    strict = utils.test_instruction_following_strict(inp, response).follow_all_instructions
    loose = utils.test_instruction_following_loose(inp, response).follow_all_instructions
    return float(loose), float(strict)


def instruction_type(record: dict) -> str:
    return json.loads(record["output"])["instruction_id_list"][0]


# ---------------------------------------------------------------------------------------------
# Format leakage
# ---------------------------------------------------------------------------------------------
_CALL = re.compile(r"`*\s*[A-Za-z_][\w.]*\((?:[^()]|\([^()]*\))*\)\s*;?\s*`*")


def looks_like_call(answer: str) -> bool:
    """Whether an answer is in the OpenFunctions format: its first non-empty line is one function
    call (``module.name(arg=value, ...)``), as the task's references are."""
    first = next((line for line in answer.strip().splitlines() if line.strip()), "")
    return bool(_CALL.fullmatch(first.strip()))


def format_leakage(rows: Sequence[dict], benchmark: str = PROBE) -> dict:
    """Share (0-100) of a model's answers to the probe's prompts that look like a function call."""
    answers = [r["response"] for r in rows if r["skill"] == benchmark]
    calls = sum(looks_like_call(a) for a in answers)
    return {
        "n": len(answers),
        "calls": calls,
        "share": round(100 * calls / len(answers), 2) if answers else None,
    }
