"""The book's one verdict (sdft_lib.verdict): matched task accuracy, both sources of uncertainty."""

import math

import pandas as pd
import pytest

from sdft_lib import results, verdict


def scores(task, kept, n=100):
    """One model's scores: the task and two kept benchmarks scoring ``kept`` each, ``n`` prompts."""
    return {"task": {"lenient": task, "n": n}, "a": {"lenient": kept, "n": n}, "b": {"lenient": kept, "n": n}}


def summary(points, n=100):
    """``points``: {method: [(x, [(task, kept) per seed]), ...]} as a frontier summary."""
    rows = []
    for method, settings in points.items():
        for x, seeds in settings:
            for s, (t, k) in enumerate(seeds):
                rows.append(results.row(method, f"x {x:g}", x, s, scores(t, k, n), "task", ["a", "b"], {}))
    return results.summarize(rows)


def test_score_variance_is_binomial_and_nan_without_a_size():
    assert verdict.score_variance(50.0, 100) == pytest.approx(25.0)  # 1e4 * 0.25 / 100
    assert verdict.score_variance(0.0, 100) == 0.0
    assert math.isnan(verdict.score_variance(50.0, None))


def test_kept_variance_is_the_mean_of_the_benchmarks():
    task_var, kept_var = verdict.sampling_variances(scores(50, 50), "task", ["a", "b"])
    assert task_var == pytest.approx(25.0)
    assert kept_var == pytest.approx((25.0 + 25.0) / 4)


def test_mean_se_adds_the_seeds_spread_to_the_test_sets_error():
    # two seeds, values 40 and 60 (sample variance 200), test variance 25 each
    se = verdict.mean_se([40.0, 60.0], [25.0, 25.0])
    assert se == pytest.approx(math.sqrt(200 / 2 + 50 / 4))
    assert verdict.mean_se([50.0], [25.0]) == pytest.approx(5.0)  # one seed: the test set alone


def test_summarize_carries_standard_errors():
    s = summary({"SFT": [(1, [(50, 50), (50, 50)])]}).iloc[0]
    assert s.kept_se == pytest.approx(math.sqrt(12.5 / 2))  # kept variance 12.5 per run, 2 seeds
    assert s.task_se == pytest.approx(math.sqrt(25 / 2))


def test_curve_at_interpolates_value_and_error():
    s = summary({"SFT": [(1, [(20, 80)]), (2, [(60, 40)])]}, n=10**9)  # test error ~0
    kept, se = verdict.curve_at(s, "SFT", 40.0)
    assert kept == pytest.approx(60.0) and se == pytest.approx(0.0, abs=1e-3)
    assert math.isnan(verdict.curve_at(s, "SFT", 70.0)[0])  # beyond the curve: not matched


def test_a_gap_larger_than_the_uncertainty_is_a_verdict():
    s = summary({"SFT": [(1, [(20, 60)] * 3), (2, [(60, 20)] * 3)], "SDFT": [(1, [(40, 70)] * 3)]}, n=1000)
    v = verdict.verdict(s, "SDFT", "SFT")
    assert v["kind"] == "more"
    assert v["headline"]["diff"] == pytest.approx(30.0)  # SFT keeps 40 at 40% task
    assert "SDFT keeps more of the other skills than SFT" in verdict.words(v)


def test_the_same_gap_on_a_small_test_set_is_no_measurable_difference():
    s = summary({"SFT": [(1, [(20, 60)]), (2, [(60, 20)])], "SDFT": [(1, [(40, 45)])]}, n=20)
    v = verdict.verdict(s, "SDFT", "SFT")
    assert v["kind"] == "same", v["matches"]
    assert "no measurable difference" in verdict.words(v)


def test_seed_spread_alone_can_hide_a_gap():
    # same means as a clear win, but the seeds disagree wildly
    s = summary(
        {"SFT": [(1, [(20, 60), (20, 60)]), (2, [(60, 20), (60, 20)])], "SDFT": [(1, [(40, 100), (40, 0)])]},
        n=10**6,
    )
    assert verdict.verdict(s, "SDFT", "SFT")["kind"] == "same"


def test_the_reverse_and_curves_that_never_meet():
    s = summary({"SFT": [(1, [(20, 60)] * 3), (2, [(60, 20)] * 3)], "SDFT": [(1, [(40, 10)] * 3)]}, n=1000)
    v = verdict.verdict(s, "SDFT", "SFT")
    assert v["kind"] == "less" and "SFT keeps more of the other skills than SDFT" in verdict.words(v)
    apart = summary({"SFT": [(1, [(80, 20)]), (2, [(90, 10)])], "SDFT": [(1, [(30, 70)]), (2, [(40, 60)])]})
    va = verdict.verdict(apart, "SDFT", "SFT")
    assert va["kind"] == "apart" and "SDFT learned less of the task than SFT" in verdict.words(va)


def test_matching_runs_both_ways_and_skips_anchor_points():
    s = summary(
        {"SFT": [(1, [(20, 60)]), (2, [(60, 20)])], "SDFT": [(1, [(10, 70)]), (2, [(40, 50)])]}, n=1000
    )
    m = verdict.matched(s, "SDFT", "SFT")
    # SDFT's 40% point lies on SFT's curve; SFT's 20% point lies on SDFT's (10-40%); nothing else
    assert sorted(m.task) == [20.0, 40.0]
    assert m.set_index("task").loc[20.0, "diff"] == pytest.approx((70 + (50 - 70) / 3) - 60)
    anchored = s.assign(anchor=[False, False, True, False])  # SDFT's 10% point is someone else's
    assert list(verdict.matched(anchored, "SDFT", "SFT").task) == [20.0, 40.0]
    assert "SDFT x 1" not in set(verdict.matched(anchored, "SDFT", "SFT").point)


def test_ranking_marks_ties_and_thresholds_passed_within_the_noise():
    s = summary(
        {"A": [(1, [(80, 60)])], "B": [(1, [(81, 59)])], "C": [(1, [(95, 20)])]},
        n=100,
    )
    r = verdict.ranking(s, threshold=78.0).set_index("method")
    assert list(r.index) == ["A", "B", "C"]
    assert r.loc["B", "vs_best"] == "tied with the best" and r.loc["C", "vs_best"] == "below the best"
    assert r.loc["A", "reaches"] == "within the uncertainty" and r.loc["C", "reaches"] == "clearly"


def test_rows_from_results_reads_the_evaluation_csv():
    df = pd.DataFrame(
        [
            {"variant": v, "benchmark": b, "seed": s, "score": x, "n": 50, "learning_rate": lr, "epochs": 3.0}
            for v, lr, s, t, k in [
                ("sft", 1e-3, 0, 80, 40),
                ("sft", 1e-3, 1, 70, 50),
                ("sdft", 1e-3, 0, 60, 70),
            ]
            for b, x in (("task", t), ("a", k), ("b", k))
        ]
    )
    rows = results.rows_from_results(df, "task")
    s = results.summarize(rows).set_index("method")
    assert s.loc["SFT", "task"] == 75 and s.loc["SFT", "kept"] == 45 and s.loc["SFT", "seeds"] == 2
    assert s.loc["SFT", "setting"] == "lr 0.001" and s.loc["SDFT", "kept_se"] > 0


def test_sdft_vs_sft_reads_a_sweep_and_says_when_there_is_nothing_to_compare():
    rows = []
    for v, lr, t, k in [
        ("sft", 1e-3, 20, 60),
        ("sft", 3e-3, 60, 20),
        ("sdft", 1e-3, 40, 70),
        ("seed", None, 0, 90),
    ]:
        for s in (0, 1):
            for b, x in (("task", t), ("a", k), ("b", k)):
                rows.append(
                    {
                        "variant": v,
                        "benchmark": b,
                        "seed": s,
                        "score": x,
                        "n": 1000,
                        "learning_rate": lr,
                        "epochs": 3.0,
                    }
                )
    sweep = pd.DataFrame(rows)
    v = verdict.sdft_vs_sft(sweep, "task")
    assert v["kind"] == "more" and v["headline"]["diff"] == pytest.approx(30.0)
    none = verdict.sdft_vs_sft(sweep, None)
    assert none["kind"] == "none" and verdict.words(none).startswith("no verdict on SDFT against SFT")
    assert verdict.sdft_vs_sft(sweep[sweep.variant != "sdft"], "task")["kind"] == "none"


def test_a_setting_that_its_own_method_beats_is_neither_on_the_curve_nor_compared():
    # SFT's lr 3 learns less and keeps less than its lr 2: nobody would pick it
    s = summary(
        {
            "SFT": [(1, [(20, 60)]), (2, [(80, 20)]), (3, [(60, 1)])],
            "SDFT": [(1, [(50, 40)]), (2, [(45, 2)])],
        },
        n=10**6,
    )
    assert list(verdict.front(s, "SFT").setting) == ["x 1", "x 2"]
    assert list(verdict.front(s, "SDFT").setting) == ["x 1"]  # x 2 is beaten by x 1 on both axes
    kept, _ = verdict.curve_at(s, "SFT", 50.0)
    assert kept == pytest.approx(40.0)  # between (20, 60) and (80, 20), not through (60, 1)
    m = verdict.matched(s, "SDFT", "SFT")
    assert list(m.point) == ["SDFT x 1"] and m["diff"].iloc[0] == pytest.approx(0.0, abs=1e-6)
    assert verdict.verdict(s, "SDFT", "SFT")["kind"] == "same"


def test_fronts_that_never_meet_are_still_compared_where_one_point_beats_the_other_on_both_axes():
    s = summary({"replay": [(1, [(70, 70)] * 3)], "SDFT": [(1, [(30, 40)] * 3), (2, [(60, 15)] * 3)]}, n=1000)
    v = verdict.verdict(s, "replay", "SDFT")
    assert v["kind"] == "more"  # replay learns more of the task and keeps more than SDFT's best points
    m = v["matches"]
    # replay's point beats SDFT's nearest point below; each SDFT point is beaten by replay's above it
    assert set(m.how) == {"dominates"} and set(m.a_task) == {70.0} and sorted(set(m.b_task)) == [30.0, 60.0]
    assert sorted(m["diff"].round(6)) == [30.0, 55.0, 55.0]
    assert "replay at 70.0% task accuracy and SDFT at 60.0%" in verdict.words(v)
    # a trade-off (more task, less kept) is no evidence either way
    t = summary({"A": [(1, [(90, 10)] * 3)], "B": [(1, [(30, 60)] * 3)]}, n=1000)
    assert verdict.verdict(t, "A", "B")["kind"] == "apart"


def test_findings_are_the_facts_the_frontier_chapter_states():
    s = summary(
        {
            "seed": [(0, [(0, 90)])],
            "SFT": [(1, [(90, 40), (90, 42)])],
            "SDFT": [(1, [(81.5, 60), (81.5, 62)])],
            "replay": [(1, [(85, 80), (85, 81)])],
            "WiSE-FT (SFT)": [(1, [(30, 85), (30, 85)])],
        },
        n=10_000,
    )
    f = verdict.findings(s, "x 1")
    assert f["threshold"] == pytest.approx(81.0) and f["sft_task"] == 90.0 and f["methods"] == 4
    assert list(f["ranked"].method) == ["replay", "SDFT", "SFT"]  # WiSE-FT never reaches 81%
    assert f["best"].method == "replay" and f["tied"] == [] and f["sdft_rank"] == 2
    assert f["near"] == ["SDFT (x 1)"]  # 81.5% clears 81% only within two standard errors
    assert set(f["pareto"]) == {"replay (x 1)", "SFT (x 1)", "WiSE-FT (SFT) (x 1)", "seed (x 0)"}
    w = verdict.findings_words(f)
    assert w["best"].startswith("**replay** (x 1: 80.5% kept, 85.0% task), ahead of every other")
    assert w["order"] == "replay (x 1) 80.5%, SDFT (x 1) 61.0%, SFT (x 1) 41.0%"
    assert w["sdft_rank"] == "ranks 2 of 3" and w["near"] == "SDFT (x 1)"
    assert w["sdft_best"].startswith("another method keeps more")
    nobody = verdict.findings(s, "x 1", share=2.0)  # twice SFT's accuracy: nobody reaches it
    assert nobody["best"] is None and verdict.findings_words(nobody)["order"] == "(no method reaches it)"


def test_against_says_each_method_against_sdft():
    s = summary(
        {
            "SDFT": [(1, [(80, 50), (80, 51)])],
            "replay": [(1, [(80, 70), (80, 71)])],
            "SFT": [(1, [(80, 50)])],
        },
        n=10_000,
    )
    a = verdict.against(s, "SDFT").set_index("method")
    assert a.loc["replay", "against SDFT"] == "keeps more than SDFT"
    assert a.loc["SFT", "against SDFT"] == "no measurable difference"
    assert a.loc["replay", "kept difference"] == pytest.approx(20.0)


def _point(method, setting, task, kept, se=0.5):
    """One summary point (a row of results.summarize) with the same standard error on both axes."""
    return {"method": method, "setting": setting, "task": task, "kept": kept, "task_se": se, "kept_se": se}


def test_merge_words_read_the_soup_and_the_selection_against_the_runs():
    import pandas as pd

    from sdft_lib.verdict import merge_words

    summary = pd.DataFrame(
        [
            _point("SFT", "lr 0.003", 90.0, 70.0),
            _point("SFT", "lr 0.01", 95.0, 60.0),
            _point("soup (SFT)", "3 runs", 88.0, 75.0),
            _point("selection (SFT)", "3 runs", 90.5, 70.2),
        ]
    )
    words = merge_words(summary, "SFT", "lr 0.003")
    assert words.startswith("SFT's soup (88.0% task, 75.0% kept) against its runs: task lower (-2.0 points)")
    assert "kept skills higher (+5.0 points)" in words
    assert "parameter selection (90.5%, 70.2%) against the runs: task within the noise (+0.5 points)" in words
    assert words.endswith("against the soup: task higher (+2.5 points), kept skills lower (-4.8 points)")
    assert merge_words(summary[summary.method == "SFT"], "SFT", "lr 0.003") == (
        "SFT's runs were not merged (one fine-tuning seed)"
    )


def test_sdft_against_sft_at_each_setting_reads_each_difference():
    import pandas as pd

    from sdft_lib.verdict import by_setting, by_setting_words

    summary = pd.DataFrame(
        [
            _point("SFT", "q_proj+v_proj r8", 60.0, 80.0),
            _point("SDFT", "q_proj+v_proj r8", 62.0, 85.0),
            _point("SFT", "all-linear r64", 95.0, 40.0),
            _point("SDFT", "all-linear r64", 94.0, 40.5),
            _point("SFT", "all-linear r16", 90.0, 50.0),  # SFT only: not compared
        ]
    )
    t = by_setting(summary, "SDFT", "SFT")
    assert list(t.setting) == ["q_proj+v_proj r8", "all-linear r64"]
    assert list(t.reads) == ["SDFT keeps more", "no measurable difference"]
    assert t["kept diff"].tolist() == [5.0, 0.5] and t["task diff"].tolist() == [2.0, -1.0]
    words = by_setting_words(t)
    assert list(t["task reads"]) == ["SDFT learning more of the task", "the same task accuracy"]
    assert words.startswith(
        "it depends on the setting: at q_proj+v_proj r8, SDFT keeps more (+5.0 ± 1.4 points), "
        "with SDFT learning more of the task (+2.0 ± 1.4)"
    )
    assert by_setting_words(t.iloc[:1]).startswith("the same at every setting")
    assert by_setting_words(t.iloc[:0]) == "no setting was run for both methods"
