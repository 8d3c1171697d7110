"""The paper's scorers, HumanEval's pass@1 and the reference numbers (the sandbox: test_sandbox.py)."""

import pytest

from sdft_lib.code_exec import (
    CodeExecutionNotAllowed,
    extract_code,
    humaneval_program,
    pass_at_1,
    run_program,
)
from sdft_lib.config import ConfigError, load_config
from sdft_lib.metrics import function_call_matches, function_call_score
from sdft_lib.reference import REFERENCE_ROWS, reference_frame

REF = 'plant.get_scientific_name(common_name="rose")'


@pytest.mark.parametrize(
    "pred, strict, score",
    [
        ('plant.get_scientific_name(common_name="rose")', True, 1.0),
        ("Sure: plant.get_scientific_name(common_name='rose')", True, 1.0),  # quotes normalised
        ('plant.get_scientific_name("rose")', False, 0.5),  # positional: half credit
        ('plant.get_scientific_name("tulip")', False, 0.0),
        ('plant.get_scientific_name(common_name="rose", extra=1)', False, 0.0),  # argument count differs
        ("I cannot answer that.", False, 0.0),
    ],
)
def test_openfunction_scorers(pred, strict, score):
    assert function_call_matches(pred, REF) is strict
    assert function_call_score(pred, REF) == score


def test_positional_scorer_keeps_the_authors_quirks():
    # it does not check the function name (as in the reproduce branch's scorer)
    assert function_call_score('other.name("rose")', REF) == 0.5
    two = 'flight.book(origin="LA", passengers=2)'
    assert function_call_score('flight.book("LA", 2)', two) == 0.5
    assert function_call_score('flight.book(2, "LA")', two) == 0.0


def test_code_execution_needs_opt_in():
    with pytest.raises(CodeExecutionNotAllowed, match="allow_code_execution"):
        run_program("print(1)", allow=False)
    with pytest.raises(CodeExecutionNotAllowed):
        pass_at_1([{"prompt": "", "test": "", "entry_point": "f"}], ["def f(): pass"], allow=False)


def test_humaneval_pass_at_1():
    problem = {
        "task_id": "t/0",
        "prompt": "def add(a, b):\n",
        "entry_point": "add",
        "test": "def check(f):\n    assert f(2, 3) == 5\n",
    }
    # unsandboxed=True: the sandbox where there is one (tests/test_sandbox.py), a plain subprocess otherwise
    assert extract_code("Here:\n```python\nx = 1\n```\nbye") == "x = 1\n"
    assert "check(add)" in humaneval_program(problem, "    return a + b\n")
    score, rows = pass_at_1(
        [problem, problem, problem],
        [
            "    return a + b\n",
            "```python\ndef add(a, b):\n    return a - b\n```",
            "```python\ndef add(a, b):\n    return b + a\n```",
        ],
        allow=True,
        unsandboxed=True,
    )
    assert score == pytest.approx(200 / 3) and [r["status"] for r in rows] == ["passed", "failed", "passed"]


def test_humaneval_benchmark_is_refused_without_opt_in(tmp_path):
    f = tmp_path / "he.jsonl"
    f.write_text('{"task_id": "t", "prompt": "def f():\\n", "test": "", "entry_point": "f"}\n')
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    with pytest.raises(
        ConfigError, match="allow_code_execution=False is not allowed with benchmark humaneval"
    ):
        load_config("toy", model=str(model), eval_benchmarks="humaneval", humaneval_file=str(f))
    with pytest.raises(ConfigError, match="humaneval_file=''"):
        load_config("toy", model=str(model), eval_benchmarks="humaneval", allow_code_execution=True)
    with pytest.raises(ConfigError, match="eval_benchmarks='gsm9k' is not allowed: choose one of"):
        load_config("toy", model=str(model), eval_benchmarks="gsm9k")
    with pytest.raises(ConfigError, match="teaching world is scored on its own skills"):
        load_config("toy", eval_benchmarks="gsm8k")
    cfg = load_config(
        "toy",
        model=str(model),
        eval_benchmarks="humaneval,gsm8k",
        humaneval_file=str(f),
        allow_code_execution="true",
    )
    assert cfg.eval_benchmarks == ["humaneval", "gsm8k"] and cfg.allow_code_execution is True


def test_reference_numbers_have_sources():
    rerun = reference_frame("rerun").set_index(["benchmark", "variant", "trained_on"]).score
    assert rerun[("gsm8k", "seed", "-")] == 28.81 and rerun[("openfunction", "sft", "gsm8k")] == 20.09
    assert all(
        r["where"].startswith(("https://github.com/sail-sg/sdft/issues/", "Yang et al."))
        for r in REFERENCE_ROWS
    )
    assert set(reference_frame("rerun").benchmark) >= {
        "mmlu",
        "truthfulqa",
        "ai2_arc",
        "hellaswag",
        "winogrande",
        "advbench_raw",
        "advbench_jailbreak",
        "humaneval",
    }
    assert (reference_frame().score.between(0, 100)).all()


def test_the_authors_numbers_are_compared_with_their_sampling_error():
    from sdft_lib.reference import SIZES, reported_sdft_vs_sft

    r64 = reported_sdft_vs_sft("rerun-r64")
    # OpenFunctions: 8.04 against 17.86 on 112 prompts; 2 SE = 2 * sqrt(.0804*.9196/112 + .1786*.8214/112)
    assert r64.loc["openfunction", "SDFT − SFT"] == pytest.approx(9.82)
    assert r64.loc["openfunction", "2 SE"] == pytest.approx(8.88, abs=0.01)
    assert r64.loc["openfunction", "reads"] == "SDFT higher"
    assert r64.loc["gsm8k", "reads"] == "no measurable difference"  # 40.41 vs 37.45 on 1319
    assert set(r64.index) <= set(SIZES)
    paper = reported_sdft_vs_sft("paper")
    assert list(paper.index) == ["gsm8k"] and paper.loc["gsm8k", "SDFT"] == 34.4
    assert set(reference_frame().lora) == {"-", "rank 8, q_proj and v_proj", "rank 64, every linear layer"}
