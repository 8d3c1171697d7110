"""The one benchmark registry: every scored set names a scorer, one checker per rule."""

import pytest

from sdft_lib import benchmarks, paper_eval
from sdft_lib.benchmarks import SCORERS, Benchmark, score
from sdft_lib.self_distillation import RULES
from sdft_lib.teaching_world.world import SKILLS, TASK


def test_every_benchmark_names_a_known_scorer():
    for name, scorer in paper_eval.SCORER.items():
        assert scorer is None or scorer == "humaneval" or scorer in SCORERS, name
    for bench in benchmarks.teaching({s: [] for s in SKILLS + (TASK,)}):
        assert bench.scorer in SCORERS


@pytest.mark.parametrize("rule", ["math_answer", "function_call", "function_call_partial", "magicoder"])
def test_filter_rules_are_the_scorers_of_the_same_name(rule):
    cases = [
        ("The answer is 42.", "#### 42"),
        ("24 24 24", "#### 24"),
        ('f("rose")', 'f(common_name="rose")'),
        ('f(common_name="rose")', 'f(common_name="rose")'),
        ("Here is ```python\nx=1```", ""),
    ]
    for pred, ref in cases:
        assert RULES[rule].check(pred, ref) == (SCORERS[rule](pred, ref)[0] > 0)


def test_score_summarises_and_keeps_every_row():
    bench = Benchmark(
        "m",
        [{"instruction": "a", "output": "#### 4"}, {"instruction": "b", "output": "#### 5"}],
        "math_answer",
    )
    summary, rows = score(bench, ["so 4", "6"])
    assert summary == {"n": 2, "lenient": 50.0, "strict": 50.0}
    assert [r["lenient"] for r in rows] == [1.0, 0.0] and rows[0]["response"] == "so 4"
    assert score(Benchmark("export", bench.records, None), ["x", "y"])[0] is None


def test_suffix_is_appended_to_the_instruction_only_when_rendering():
    bench = Benchmark("j", [{"instruction": "do it", "output": ""}], "refusal", suffix=" !!")
    assert bench.rendered()[0]["instruction"] == "do it !!" and bench.records[0]["instruction"] == "do it"


def test_rewrite_probe_scores_final_answer_then_working():
    bench = benchmarks.rewrite_probe(
        [{"instruction": "6 boxes of 7?", "output": "6*7=<<6*7=42>>42\n#### 42"}]
    )
    assert "6*7=<<6*7=42>>42" in bench.records[0]["instruction"] and bench.records[0]["system"]
    summary, _ = score(bench, ["Let me compute that. 6 * 7 = 42. The answer is 42."])
    assert summary["lenient"] == summary["strict"] == 100.0
    summary, _ = score(bench, ["Let me compute that. 6 * 7 = 40. The answer is 42."])
    assert summary["lenient"] == 100.0 and summary["strict"] == 0.0


def test_lab4_probes_change_one_thing_at_a_time(tiny_world):
    from sdft_lib.benchmarks import UNSEEN_ADDITION, addition_probe, get_scorer, wording_overlap

    world = addition_probe("world", new_wording=False)
    new = addition_probe("new", new_wording=True)
    big = addition_probe("big", new_wording=False, operands=(10, 40))
    nums = lambda b: [int(x) for r in b.records for x in __import__("re").findall(r"\d+", r["instruction"])]
    assert max(nums(world)) <= 9 and max(nums(new)) <= 9 and min(nums(big)) >= 10
    assert all(
        any(r["instruction"].startswith(t.split("{")[0]) or t.startswith("{a}") for t in UNSEEN_ADDITION)
        for r in new.records
    )
    train = tiny_world["seed_train"]
    assert wording_overlap(world.records, train) > 0.9  # the world's own phrasings
    assert wording_overlap(new.records, train) < 0.2  # phrasings the world never uses
    check = get_scorer(new.scorer)
    r = new.records[0]
    assert check(r["output"], r["output"])[0] and not check("The answer is 1000.", r["output"])[0]


def test_rouge_l_scores_the_overlap_and_counts_half_or_more_as_strict():
    f1, strict = SCORERS["rouge_l"]("the cat sat on the mat", "the cat sat")
    assert abs(f1 - 2 * 1.0 * 0.5 / 1.5) < 1e-9 and strict == 1.0  # precision 3/6, recall 3/3
    assert SCORERS["rouge_l"]("dogs bark", "the cat sat") == (0.0, 0.0)
    from sdft_lib.distribution_gap import rouge_l

    assert rouge_l("a b c", "a b c") == 1.0  # one function behind both


def test_prompts_are_rendered_once_per_tokenizer_and_stay_the_tokenizers_own(
    tiny_world, tiny_tokenizer, standin_tokenizer
):
    """Benchmark.prompts caches rendered prompts; what it returns is what prompt_ids renders."""
    from sdft_lib.templates import prompt_ids

    recs = tiny_world["eval"]["arithmetic"][:4]
    bench = Benchmark("arith", recs, "math_answer", prefix_ids=(5, 6))
    for tok in (tiny_tokenizer, standin_tokenizer):
        want = [[5, 6] + prompt_ids(tok, "chat", r) for r in recs]
        first = bench.prompts(tok)
        assert first == want
        first[0].append(-1)  # the caller owns what it gets
        assert bench.prompts(tok) == want
    assert bench.prompts(tiny_tokenizer) != bench.prompts(standin_tokenizer)
    # a changed chat template is a different tokenizer to the cache
    import copy

    other = copy.deepcopy(tiny_tokenizer)
    other.chat_template = tiny_tokenizer.chat_template.replace("[INST] ", "[INST] Q: ")
    assert bench.prompts(other) == [[5, 6] + prompt_ids(other, "chat", r) for r in recs]
    assert bench.prompts(other) != bench.prompts(tiny_tokenizer)
