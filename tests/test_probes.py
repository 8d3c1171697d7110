"""The real model's offline probes: IFEval-style instruction following (lm-eval's checkers), format
leakage, and the statistics that turn a difference into words."""

import json
import math
import subprocess
import sys

import pytest

from sdft_lib import instruction_probe as ip
from sdft_lib import stats


def test_the_probe_has_enough_prompts_and_types_and_every_prefix_of_a_request_block_keeps_them():
    recs = ip.instruction_records()
    types = [ip.instruction_type(r) for r in recs]
    assert len(recs) >= 60 and len(set(types)) >= 8
    k = len(ip.INSTRUCTIONS)
    assert all(len(set(types[i : i + k])) == k for i in range(0, len(recs), k))  # each request, every type
    assert len({r["instruction"] for r in recs}) == len(recs)
    # the wording is lm-eval's own description of each instruction
    assert "in all lowercase letters" in recs[0]["instruction"]
    assert "<<poem of joy>>" in next(
        r["instruction"] for r in recs if ip.instruction_type(r) == "detectable_format:title"
    )


@pytest.mark.parametrize(
    "iid, good, bad",
    [
        ("change_case:english_lowercase", "a grey day, with soft rain.", "A grey day."),
        ("punctuation:no_comma", "rain falls and people hurry home", "rain falls, people hurry"),
        ("length_constraints:number_words", "short and sweet", " ".join(["word"] * 45)),
        ("detectable_format:title", "<<Rain>>\nIt rains.", "Rain\nIt rains."),
        (
            "startend:end_checker",
            "It rains. Is there anything else I can help with?",
            "Is there anything else I can help with? It rains.",
        ),
        ("detectable_format:json_format", '{"weather": "rain"}', "weather: rain"),
        ("detectable_content:postscript", "It rains.\nP.S. bring a coat", "It rains."),
        ("detectable_format:number_bullet_lists", "* one\n* two\n* three", "* one\n* two"),
        ("startend:quotation", '"It rains."', "It rains."),
        ("change_case:english_capital", "IT RAINS TODAY.", "It rains today."),
    ],
)
def test_lm_evals_checkers_judge_answers_as_ifeval_does(iid, good, bad):
    rec = next(r for r in ip.instruction_records() if ip.instruction_type(r) == iid)
    assert ip.instruction_following(good, rec["output"]) == (1.0, 1.0)
    assert ip.instruction_following(bad, rec["output"])[1] == 0.0


def test_loose_accepts_what_strict_refuses():
    """IFEval's loose check also tries the answer without its first line (an "Here you go:" opener)."""
    rec = next(
        r for r in ip.instruction_records() if ip.instruction_type(r) == "change_case:english_lowercase"
    )
    assert ip.instruction_following("Sure!\nrain falls on the city.", rec["output"]) == (1.0, 0.0)


def test_keywords_come_from_each_request():
    recs = [r for r in ip.instruction_records() if ip.instruction_type(r) == "keywords:existence"]
    words = [json.loads(r["output"])["kwargs"][0]["keywords"][0] for r in recs]
    assert words == [w for _, w, _ in ip.REQUESTS]
    assert ip.instruction_following(f"I bring an {words[0]}.", recs[0]["output"])[1] == 1.0


def test_importing_the_checkers_downloads_nothing_and_prints_nothing():
    """lm-eval's IFEval module downloads nltk's punkt_tab on import as rank 0; the probe imports it
    without that (nltk.download is made to fail loudly here, and nothing may be printed)."""
    code = (
        "import nltk\n"
        "def boom(*a, **k): raise SystemExit('nltk.download was called')\n"
        "nltk.download = boom\n"
        "from sdft_lib import instruction_probe as ip\n"
        "recs = ip.instruction_records()\n"
        "print(ip.instruction_following('rain falls on the quiet city streets today', recs[0]['output']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "(1.0, 1.0)" and "punkt" not in out.stdout + out.stderr


def test_the_benchmark_is_in_the_suite_with_its_scorer(tmp_path):
    from sdft_lib.benchmarks import get_scorer
    from sdft_lib.config import load_config
    from sdft_lib.paper_eval import benchmark

    cfg = load_config(
        "smollm2",
        eval_benchmarks=["openfunction", "instructions"],
        eval_limit=12,
        data_dir="tests/fixtures/paper-data",
        run_dir=str(tmp_path),
    )
    bench = benchmark(cfg, "instructions")
    assert bench.scorer == "instruction_following" and bench.template == "chat" and len(bench.records) == 12
    assert get_scorer(bench.scorer)("all lowercase here", bench.records[0]["output"]) == (1.0, 1.0)


@pytest.mark.parametrize(
    "answer, call",
    [
        ("pyarrow.Timestamp(unit='s')", True),
        ("requests.get(url='https://x.org', params={'q': 1})", True),
        ("`math.sqrt(x=4)`", True),
        ('coffee_shop.find(location="SF")\nThis finds it.', True),
        ("Sure! Here is a description of a rainy day.", False),
        ("```python\ndef f(x):\n    return x\n```", False),
        ("", False),
    ],
)
def test_format_leakage_recognises_a_function_call(answer, call):
    assert ip.looks_like_call(answer) is call


def test_format_leakage_counts_only_the_probe():
    rows = [
        {"skill": "instructions", "response": "f(a=1)"},
        {"skill": "instructions", "response": "It rains."},
        {"skill": "openfunction", "response": "g(b=2)"},
    ]
    assert ip.format_leakage(rows) == {"n": 2, "calls": 1, "share": 50.0}


def test_paired_difference_and_its_standard_error():
    a, b = [1, 1, 1, 0, 1, 0], [1, 0, 0, 0, 1, 0]
    d = stats.paired_difference(a, b)
    diffs = [0, 100, 100, 0, 0, 0]
    sd = math.sqrt(sum((x - 100 / 3) ** 2 for x in diffs) / 5)
    assert math.isclose(d["diff"], 100 / 3) and math.isclose(d["se"], sd / math.sqrt(6))
    assert math.isclose(d["low"], d["diff"] - 2 * d["se"])
    with pytest.raises(ValueError):
        stats.paired_difference([1], [1, 0])


def test_seeds_add_their_spread():
    one = {"diff": 10.0, "se": 3.0}
    alone = stats.seeds_difference([one])
    assert math.isclose(alone["se"], 3.0)
    spread = stats.seeds_difference([{"diff": 0.0, "se": 3.0}, {"diff": 20.0, "se": 3.0}])
    assert spread["diff"] == 10.0 and spread["se"] > alone["se"] / math.sqrt(2)
    assert math.isclose(spread["se"], math.sqrt(9 / 2 + 200 / 2))


def test_reading_says_no_difference_inside_the_interval():
    from sdft_lib.real_model import reading

    assert reading({"diff": 3.0, "se": 2.0}) == "no measurable difference"
    assert reading({"diff": 5.0, "se": 2.0}) == "SDFT better"
    assert reading({"diff": -5.0, "se": 2.0}) == "SFT better"
    assert reading({"diff": 5.0, "se": 2.0}, higher_better=False) == "SFT better"


def test_proportion_se():
    assert math.isclose(stats.proportion_se(50, 100), 5.0)
    assert stats.proportion_se(0, 10) == 0.0 and math.isnan(stats.proportion_se(10, 0))
    assert stats.mean_sd([1.0, 3.0]) == (2.0, math.sqrt(2)) and math.isnan(stats.mean_sd([1.0])[1])
