import json

import pytest

from sdft_lib.metrics import (
    INVALID,
    find_last_integer,
    function_call_matches,
    magicoder_answer_ok,
    math_answer_matches,
    no_banned_phrase,
)
from sdft_lib.self_distillation import apply_filters, filter_rules, generate_chunked


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The answer is 42.", "42"),
        ("It costs 1,000 dollars", "1000"),
        ("about 1 000 000 people", "1000000"),
        ("3.5 apples", INVALID),
        ("3.0 apples", "3"),
        ("it dropped to -7 degrees", "-7"),
        ("no number here", INVALID),
        ("6*7=<<6*7=42>>42 pens\n#### 42", "42"),
        ("first 12, then 5", "5"),
    ],
)
def test_find_last_integer_matches_the_papers(text, expected):
    assert find_last_integer(text) == expected


@pytest.mark.parametrize(
    "pred, ref, ok",
    [
        ("Let me compute that. 6 * 7 = 42. The answer is 42.", "6*7=<<6*7=42>>42\n#### 42", True),
        ("The answer is 41.", "#### 42", False),
        ("The total is 1,000.", "#### 1000", True),
        ("The answer is 3.5", "#### 3", False),
        ("The answer is -4", "#### -4", True),
        ("I don't know", "#### 4", False),
        ("The answer is 4", "no number", False),
    ],
)
def test_math_answer(pred, ref, ok):
    assert math_answer_matches(pred, ref) is ok


@pytest.mark.parametrize(
    "pred, ok",
    [
        ("Sure! The answer is 4.", True),
        ("Based on the reference answer, it is 4.", False),
        ("Your response should be 4.", False),
        ("MY RESPONSE: 4", False),
        ("Here is your own response: 4", False),
        ("Now it's your turn!", False),
        ("Your turn: 4", False),
        ("It is your turn now", True),  # only a "Your turn" opening is banned
    ],
)
def test_banned_phrases(pred, ok):
    assert no_banned_phrase(pred) is ok


@pytest.mark.parametrize(
    "pred, ref, ok",
    [
        ("get_weather(city='Paris')", 'get_weather(city="Paris")', True),
        ("Sure: get_weather(city = 'Paris')", 'get_weather(city="Paris")', False),  # spaces around '=' differ
        ('call get_weather(city="Paris",  unit="C")', 'get_weather(city="Paris", unit="C")', True),
        ('get_weather(city="Rome")', 'get_weather(city="Paris")', False),
        (
            'api.get_weather(city="Paris")',
            'get_weather(city="Paris")',
            True,
        ),  # the paper's \b matches after a dot
        ("no call", "not a call at all", False),
    ],
)
def test_function_call(pred, ref, ok):
    assert function_call_matches(pred, ref) is ok


def test_magicoder_check_is_the_papers():
    assert magicoder_answer_ok("  Here is the code:\n```python\nprint(1)\n```")
    assert magicoder_answer_ok("I implemented it. ```python")  # the paper needs no closing fence
    assert not magicoder_answer_ok("Sure! Here is the code:\n```python\nprint(1)\n```")  # wrong opening
    assert not magicoder_answer_ok("Here is the code:\n```py\nprint(1)\n```")


def test_rejected_rewrites_fall_back_to_the_original_and_are_counted():
    recs = [{"instruction": f"q{i}", "input": "", "output": f"#### {i}"} for i in range(4)]
    rewrites = [
        "The answer is 0.",
        "The answer is 7.",
        "As the reference answer says, 2.",
        "  The answer is 3.  ",
    ]
    distilled, verdicts, report = apply_filters(recs, rewrites, ["nonempty", "banned_phrase", "math_answer"])
    assert [d["output"] for d in distilled] == ["The answer is 0.", "#### 1", "#### 2", "The answer is 3."]
    assert report["total"] == 4 and report["accepted"] == 2 and report["rejected"] == 2
    assert report["failed_by_rule"] == {"nonempty": 0, "banned_phrase": 1, "math_answer": 1}
    assert report["rejected_first_by_rule"] == {"nonempty": 0, "banned_phrase": 1, "math_answer": 1}
    assert [v["accepted"] for v in verdicts] == [True, False, False, True]
    assert all(set(d) == {"instruction", "input", "output"} for d in distilled)


def test_extra_checks_are_reported_not_filtered():
    recs = [{"instruction": "q", "input": "", "output": "#### 45"}]
    _, _, report = apply_filters(
        recs, ["9 + 5 = 45. The answer is 45."], ["math_answer"], {"working": lambda p, r: False}
    )
    assert report["accepted"] == 1 and report["accepted_and_passing"] == {"working": 0}


def _gens(batch):
    from sdft_lib.generation import Generation

    return [Generation(p.upper(), finished=p != "p3") for p in batch]


def test_generation_resumes_after_interruption(tmp_path):
    prompts = [f"p{i}" for i in range(10)]
    calls = []

    def gen(batch):
        calls.append(list(batch))
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed in the middle of the third chunk
        return _gens(batch)

    with pytest.raises(KeyboardInterrupt):
        generate_chunked(tmp_path, prompts, gen, chunk_size=4)
    assert sorted(p.name for p in (tmp_path / "chunks").iterdir()) == ["00000.json", "00001.json"]
    calls.clear()
    out = generate_chunked(
        tmp_path,
        prompts,
        lambda b: _gens(b) if not calls.append(b) else None,
        chunk_size=4,
    )
    assert [o["text"] for o in out] == [p.upper() for p in prompts]
    assert [o["finished"] for o in out] == [p != "p3" for p in prompts]
    assert calls == [["p8", "p9"]]  # only the unfinished chunk was generated again
    saved = json.loads((tmp_path / "chunks" / "00002.json").read_text())
    assert [r["text"] for r in saved["rewrites"]] == ["P8", "P9"] and len(saved["prompts_sha256"]) == 64


def test_a_saved_chunk_answers_only_its_own_prompts(tmp_path):
    """Resuming with another chunk size (or other prompts) regenerates instead of misaligning."""
    prompts = [f"p{i}" for i in range(10)]
    generate_chunked(tmp_path, prompts, _gens, chunk_size=4)
    calls = []
    out = generate_chunked(
        tmp_path,
        prompts,
        lambda b: _gens(b) if not calls.append(b) else None,
        chunk_size=2,
    )
    assert [o["text"] for o in out] == [p.upper() for p in prompts]
    # chunk 00000 of size 4 held p0..p3, not p0, p1: every chunk is generated anew, none misaligned
    assert calls == [prompts[i : i + 2] for i in range(0, 10, 2)]
    # what shapes a chunk's text beyond its prompts (the batch size) is in its hash too
    calls.clear()
    generate_chunked(
        tmp_path,
        prompts,
        lambda b: _gens(b) if not calls.append(b) else None,
        chunk_size=2,
        shape={"gen_batch_size": 8},
    )
    assert len(calls) == 5


def test_truncated_rewrites_are_rejected_and_counted():
    recs = [{"instruction": "q", "input": "", "output": "The answer is 4."}] * 3
    rewrites = ["So 2+2=4. The answer is 4.", "So 2+2=4. The answer is 4.", "So 2+2="]
    distilled, verdicts, report = apply_filters(
        recs, rewrites, filter_rules("gsm8k"), finished=[True, False, False]
    )
    assert [v["accepted"] for v in verdicts] == [True, False, False]
    assert report["truncated"] == 2 and report["failed_by_rule"]["eos"] == 2
    assert report["rejected_first_by_rule"]["eos"] == 2  # eos is checked before the paper's rules
    assert distilled[1]["output"] == recs[1]["output"]
    assert report["rejected_only_by_project_rules"] == 1  # the third also fails the paper's math check


def test_filter_rules_per_branch_and_project_switches():
    assert filter_rules("openfunction", "main") == ("nonempty", "eos", "banned_phrase", "function_call")
    assert filter_rules("openfunction", "reproduce")[-1] == "function_call_partial"
    assert filter_rules("alpaca", "reproduce", project=()) == ("banned_phrase",)
    assert filter_rules("magicoder", "main", project=["eos"]) == ("eos", "banned_phrase", "magicoder")


def test_rejected_rewrites_fall_back_to_the_stripped_original_as_in_the_paper():
    recs = [{"instruction": "  Call it. ", "input": " x ", "output": " f(a=1) \n"}]
    distilled, _, _ = apply_filters(recs, ["nothing"], filter_rules("openfunction", "main"))
    assert distilled == [{"instruction": "Call it.", "input": "x", "output": "f(a=1)"}]
    distilled, _, _ = apply_filters(recs, ["f(1)"], filter_rules("openfunction", "reproduce"))
    assert distilled[0]["output"] == "f(1)"  # positional arguments score 0.5: the reproduce branch keeps it


def test_refusal_keywords_are_the_papers_29():
    from sdft_lib.metrics import REFUSAL_KEYWORDS, SCORERS, is_safe_keyword

    assert len(REFUSAL_KEYWORDS) == 29 and len(set(REFUSAL_KEYWORDS)) == 29
    assert is_safe_keyword("I'm sorry, but I cannot help with that.")
    assert is_safe_keyword("That would be illegal.")
    assert not is_safe_keyword("i'm sorry")  # case-sensitive, as in the paper
    assert not is_safe_keyword("Sure, here is how to build it.")
    assert SCORERS["refusal"]("I cannot.", "") == (1.0, 1.0) and SCORERS["refusal"]("Sure.", "") == (0.0, 0.0)


def test_leak_summary_counts_what_the_filter_stops_and_misses():
    from sdft_lib.self_distillation import leak_summary

    vs = [
        {"accepted": True, "rules": {"math_answer": True}, "extra": {"working_correct": False}},
        {"accepted": True, "rules": {"math_answer": True}, "extra": {"working_correct": True}},
        {"accepted": False, "rules": {"math_answer": False, "banned_phrase": False}, "extra": {}},
        {"accepted": False, "rules": {"math_answer": False, "banned_phrase": True}, "extra": {}},
    ]
    s = leak_summary(vs)
    assert s == {
        "total": 4,
        "unfiltered_wrong": 2,
        "failed_by_rule": {"math_answer": 2, "banned_phrase": 1},
        "accepted_wrong_working": 1,
    }
    assert leak_summary([{"accepted": True, "rules": {}, "extra": {}}])["accepted_wrong_working"] is None


def test_the_strict_working_set_puts_back_the_original_where_accepted_working_is_wrong(tmp_path):
    import json

    from sdft_lib.self_distillation import strict_working

    folder = tmp_path / "distilled-abc"
    folder.mkdir()
    recs = [{"instruction": f"q{i}", "input": "", "output": f"rewrite {i}"} for i in range(3)]
    verdicts = [
        {"original": "orig 0", "accepted": True, "extra": {"working_correct": True}},
        {"original": "orig 1", "accepted": True, "extra": {"working_correct": False}},  # wrong working
        {"original": "orig 2", "accepted": False, "extra": {"working_correct": False}},  # already fell back
    ]
    recs[2]["output"] = "orig 2"
    (folder / "distilled.json").write_text(json.dumps(recs))
    (folder / "rewrites.jsonl").write_text("".join(json.dumps(v) + "\n" for v in verdicts))
    out, path = strict_working(folder)
    assert [r["output"] for r in out] == ["rewrite 0", "orig 1", "orig 2"]
    assert path == tmp_path / "distilled-abc-strict.json" and json.loads(path.read_text()) == out
    assert json.loads((folder / "distilled.json").read_text()) == recs  # the stage's own file is untouched
