"""The paper's reported numbers, as reference data with a source for each one.

These are the authors' numbers for Llama-2-7b-chat, **not ours**: the book shows them beside the
teaching world's results, labelled as the paper's. Two sources:

* ``rerun``: the authors' own re-run after the code was refactored (sail-sg/sdft issue #12, comment
  of 2024-09-19, ``reproduce`` branch environment). OpenFunctions there uses the 0.5-credit
  positional scorer (:func:`sdft_lib.metrics.function_call_score`).
* ``paper``: numbers from the paper's tables as quoted in the repository's issues; each row names the
  issue that quotes it.

Scores are percentages (0-100) on the paper's benchmarks (GSM8K test: 1319 problems, MultiArith: 180,
OpenFunctions test: 112, AdvBench: 520 prompts).
"""

from __future__ import annotations

ISSUE_12 = "https://github.com/sail-sg/sdft/issues/12"
ISSUE_15 = "https://github.com/sail-sg/sdft/issues/15"
PAPER = "Yang et al., ACL 2024 (arXiv:2402.13669)"

_SEED = {
    "gsm8k": 28.81,
    "multiarith": 72.22,
    "openfunction": 20.98,
    "humaneval": 14.63,
    "advbench_raw": 99.42,
    "advbench_jailbreak": 94.81,
    "mmlu": 46.42,
    "truthfulqa": 35.26,
    "ai2_arc": 64.06,
    "hellaswag": 57.80,
    "winogrande": 66.38,
}
_GSM8K_SFT = {"gsm8k": 29.26, "multiarith": 77.78, "openfunction": 20.09}

REFERENCE_ROWS: list[dict] = (
    [
        {
            "model": "Llama-2-7b-chat",
            "variant": "seed",
            "trained_on": "-",
            "benchmark": b,
            "score": s,
            "source": "rerun",
            "where": ISSUE_12,
        }
        for b, s in _SEED.items()
    ]
    + [
        {
            "model": "Llama-2-7b-chat",
            "variant": "sft",
            "trained_on": "gsm8k",
            "benchmark": b,
            "score": s,
            "source": "rerun",
            "where": ISSUE_12,
        }
        for b, s in _GSM8K_SFT.items()
    ]
    + [
        {
            "model": "Llama-2-7b-chat",
            "variant": v,
            "trained_on": "gsm8k",
            "benchmark": "gsm8k",
            "score": s,
            "source": "paper",
            "where": f"{PAPER}, as quoted in {ISSUE_15}",
        }
        for v, s in (("sft", 31.9), ("sdft", 34.4))
    ]
)


def reference_frame(source: str | None = None):
    """The reference rows as a DataFrame (optionally only ``rerun`` or ``paper``)."""
    import pandas as pd

    df = pd.DataFrame(REFERENCE_ROWS)
    return df if source is None else df[df.source == source].reset_index(drop=True)
