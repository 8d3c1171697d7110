import math

import pandas as pd
import pytest

from sdft_lib.evaluation import RESULT_COLUMNS, write_csv
from sdft_lib.results import rows_from_results, runs, summarize


def forgetting_summary(df, target):
    """The one summary (``results.summarize``) of ``results.csv``'s rows, by method."""
    return summarize(rows_from_results(df, target)).set_index("method")


def table():
    rows = [("seed", "a", 0, 90, None), ("seed", "b", 0, 80, None), ("seed", "task", 0, 0, None)]
    for s, (ka, kb, t) in enumerate([(50, 40, 90), (70, 60, 80)]):
        rows += [("sft", "a", s, ka, 1e-3), ("sft", "b", s, kb, 1e-3), ("sft", "task", s, t, 1e-3)]
    for s, (ka, kb, t) in enumerate([(90, 80, 95), (80, 80, 85)]):
        rows += [("sdft", "a", s, ka, 1e-3), ("sdft", "b", s, kb, 1e-3), ("sdft", "task", s, t, 1e-3)]
    return pd.DataFrame(
        [
            {
                "variant": v,
                "benchmark": b,
                "seed": s,
                "score": x,
                "strict_score": x,
                "learning_rate": lr,
                "epochs": 3.0 if lr else None,
            }
            for v, b, s, x, lr in rows
        ]
    )


def test_forgetting_summary_by_hand():
    f = forgetting_summary(table(), "task")
    # sft: seed 0 drops (40 + 40) / 2 = 40, seed 1 drops (20 + 20) / 2 = 20 -> 30 +- 14.14
    assert f.loc["SFT", "forgetting"] == 30
    assert math.isclose(f.loc["SFT", "forgetting_sd"], 14.1421, rel_tol=1e-4)
    # sdft: seed 0 drops 0, seed 1 drops 5 -> 2.5
    assert f.loc["SDFT", "forgetting"] == 2.5
    assert f.loc["SFT", "task"] == 85 and f.loc["SDFT", "task"] == 90
    assert f.loc["SDFT", "seeds"] == 2


def test_one_seed_has_no_spread():
    one = forgetting_summary(table()[lambda d: d.seed == 0], "task")
    assert one.loc["SFT", "seeds"] == 1 and math.isnan(one.loc["SFT", "forgetting_sd"])
    assert math.isnan(one.loc["SFT", "task_sd"]) and math.isnan(one.loc["SFT", "kept_sd"])


def test_frontier_averages_over_seeds():
    fr = forgetting_summary(table(), "task")
    assert fr.loc["SFT", "kept"] == pytest.approx(55.0) and fr.loc["SFT", "task"] == 85
    assert fr.loc["SDFT", "kept"] == pytest.approx(82.5) and fr.loc["SDFT", "task"] == 90


def test_results_csv_has_the_stable_columns(tmp_path):
    p = write_csv(tmp_path / "results.csv", table().to_dict("records"))
    df = pd.read_csv(p)
    assert list(df.columns) == RESULT_COLUMNS
    assert {"variant", "benchmark", "seed", "score"} <= set(df.columns)
    assert df.score.between(0, 100).all()


def test_per_run_rows_by_hand():
    r = runs(rows_from_results(table(), "task")).set_index(["method", "seed"])
    assert r.loc[("SFT", 0), "forgetting"] == 40 and r.loc[("SFT", 1), "forgetting"] == 20
    assert r.loc[("SDFT", 1), "kept"] == 80 and r.loc[("SDFT", 0), "task"] == 95
    assert len(r) == 4


def test_forgetting_without_a_task_benchmark_counts_every_benchmark_as_kept():
    df = table()
    f = forgetting_summary(df[df.benchmark != "task"], None)
    assert f.loc["SFT", "forgetting"] == 30 and math.isnan(f.loc["SFT", "task"])
    without_seed = forgetting_summary(df[df.variant != "seed"], "task")
    assert math.isnan(without_seed.loc["SFT", "forgetting"]) and math.isnan(
        without_seed.loc["SFT", "forgetting_sd"]
    )
    seed_only = forgetting_summary(df[df.variant == "seed"], "task")
    assert seed_only.drop(index="seed").empty  # a seed-only run has nothing to summarise


def test_task_benchmark_of_each_dataset():
    from sdft_lib.config import load_config
    from sdft_lib.evaluation import task_benchmark
    from sdft_lib.teaching_world.world import TASK

    assert task_benchmark(load_config("smoke")) == TASK
    data = str(__import__("conftest").FIXTURE_DATA)
    assert task_benchmark(load_config("paper/gsm8k", data_dir=data)) == "gsm8k"
    assert task_benchmark(load_config("paper/alpaca", data_dir=data)) is None


@pytest.mark.slow
def test_lm_eval_cross_check_with_full_fine_tuning(tmp_path):
    """The cross-check finds a fully fine-tuned model where a LoRA run would have its adapter."""
    from sdft_lib.config import load_config
    from sdft_lib.evaluation import lm_eval_teaching

    cfg = load_config("smoke", run_dir=str(tmp_path / "run"), finetune="full", ft_seeds=[0], lm_eval_limit=2)
    df = lm_eval_teaching(cfg)
    assert {"seed", "sft", "sdft"} == set(df.variant)
    assert df.lm_eval.between(0, 100).all()


def test_refusal_table_averages_each_models_runs():
    from sdft_lib.evaluation import refusal_table

    t = refusal_table({"seed": [(0.0, 50)], "sft": [(2.0, 50), (4.0, 50)]})
    assert t.loc["sft", "benign prompts refused (%)"] == 3.0 and t.loc["sft", "runs"] == 2
    assert t.loc["seed", "prompts"] == 50 and list(t.index) == ["seed", "sft"]


def test_two_rates_differ_only_beyond_two_binomial_standard_errors():
    from sdft_lib.stats import proportion_se, rates_tolerance

    tol = rates_tolerance(50.0, 100, 40.0, 100)
    assert tol == pytest.approx(2 * math.hypot(proportion_se(50.0, 100), proportion_se(40.0, 100)))
    assert tol > 10.0  # 50% against 40% on 100 prompts each: no measurable difference
    assert rates_tolerance(50.0, 10_000, 40.0, 10_000) < 10.0
