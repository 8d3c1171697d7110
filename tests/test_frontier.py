"""Mechanics of the methods beyond SDFT (sdft_lib.frontier) on a tiny random Llama with LoRA."""

import math

import pytest
import torch

from sdft_lib.frontier import layer_index, lines, lines_scales, lora_modules, replay_mix, wise_ft


@pytest.fixture
def tuned():
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    base = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=64,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=64,
        )
    )
    model = get_peft_model(
        base,
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], lora_dropout=0.0),
    )
    for _, m in lora_modules(model):  # a trained adapter: B is not zero
        for b in m.lora_B.values():
            torch.nn.init.normal_(b.weight, std=0.5)
    return model.eval()


IDS = torch.tensor([[1, 5, 9, 13, 2, 7]])


def logits(model):
    with torch.no_grad():
        return model(input_ids=IDS).logits


def test_wise_ft_ends_are_the_seed_and_the_run(tuned):
    run = logits(tuned)
    with tuned.disable_adapter():
        seed = logits(tuned)
    assert not torch.allclose(run, seed)
    wise_ft(tuned, 0.0)
    assert torch.equal(logits(tuned), seed)
    wise_ft(tuned, 1.0)
    assert torch.allclose(logits(tuned), run, atol=1e-6)
    wise_ft(tuned, 0.5)  # in between, and calls do not compound
    mid = logits(tuned)
    assert not torch.allclose(mid, seed) and not torch.allclose(mid, run)
    wise_ft(tuned, 0.5)
    assert torch.equal(logits(tuned), mid)
    with pytest.raises(ValueError, match=r"alpha=1\.5 is not allowed"):
        wise_ft(tuned, 1.5)


def test_lines_scales_grow_with_depth(tuned):
    assert lines_scales(3, 0.2, 0.8) == pytest.approx([0.2, 0.6, 1.0])
    assert lines_scales(1, 0.2, 0.8) == [1.0]
    trained = {n: dict(m.scaling) for n, m in lora_modules(tuned)}
    scales = lines(tuned, 0.2, 0.8)
    for name, m in lora_modules(tuned):
        layer = layer_index(name)
        assert layer is not None
        for adapter, s in m.scaling.items():
            assert s == pytest.approx(trained[name][adapter] * scales[layer])
    assert layer_index("base_model.model.model.layers.12.mlp.down_proj") == 12
    assert layer_index("lm_head") is None


def test_lines_with_full_scale_everywhere_is_the_run(tuned):
    run = logits(tuned)
    lines(tuned, 1.0, 0.0)
    assert torch.allclose(logits(tuned), run, atol=1e-6)


def test_replay_mix_ratio_and_seed():
    task = [{"instruction": f"t{i}", "output": ""} for i in range(10)]
    replay = [{"instruction": f"r{i}", "output": ""} for i in range(4)]
    mixed = replay_mix(task, replay, 0.5, seed=1)
    assert len(mixed) == 15 and sum(r["instruction"].startswith("r") for r in mixed) == 5
    assert {r["instruction"] for r in mixed if r["instruction"].startswith("t")} == {
        r["instruction"] for r in task
    }
    assert mixed == replay_mix(task, replay, 0.5, seed=1) and mixed != replay_mix(task, replay, 0.5, seed=2)
    assert sorted(r["instruction"] for r in replay_mix(task, replay, 0.0)) == sorted(
        r["instruction"] for r in task
    )
    with pytest.raises(ValueError):
        replay_mix(task, [], 0.2)


def test_wise_ft_of_the_merged_model_is_the_interpolation_of_the_weights(tuned):
    """What the chapter scores (the rescaled adapter, merged) is W0 + alpha * (W1 - W0) in every layer."""
    import copy

    seed = {
        n.replace(".base_layer", ""): p.detach().clone()
        for n, p in copy.deepcopy(tuned).get_base_model().named_parameters()
        if "lora_" not in n
    }
    full = {n: p.detach().clone() for n, p in copy.deepcopy(tuned).merge_and_unload().named_parameters()}
    half = copy.deepcopy(tuned)
    wise_ft(half, 0.3)
    got = dict(half.merge_and_unload().named_parameters())
    assert any(not torch.equal(seed[n], w) for n, w in full.items())  # the run did move some weights
    for name, w1 in full.items():
        w0 = seed[name]
        assert torch.allclose(got[name], w0 + 0.3 * (w1 - w0), atol=1e-6), name


def test_wise_ft_refuses_alpha_outside_0_1(tuned):
    with pytest.raises(ValueError, match=r"alpha=1\.5 is not allowed"):
        wise_ft(tuned, 1.5)


def test_replay_mix_above_one_repeats_the_pool():
    task = [{"instruction": f"t{i}", "output": ""} for i in range(4)]
    replay = [{"instruction": f"r{i}", "output": ""} for i in range(3)]
    mixed = replay_mix(task, replay, 2.0, seed=0)
    drawn = [r["instruction"] for r in mixed if r["instruction"].startswith("r")]
    assert len(drawn) == 8 and set(drawn) == {"r0", "r1", "r2"}


# ---------------------------------------------------------------------------------------------
# The table, its summary and what the chapter reads from it
# ---------------------------------------------------------------------------------------------
from sdft_lib import config, figures, frontier, results  # noqa: E402
from sdft_lib.errors import ConfigError  # noqa: E402

SCORES = {"multiply": {"lenient": 80.0}, "a": {"lenient": 50.0}, "b": {"lenient": 70.0}}


def _rows():
    out = []
    for method, setting, x, pts in [
        ("seed", "the seed", 0, [(0, 95), (0, 95), (0, 95)]),
        ("SFT", "lr 1", 1, [(90, 10), (88, 12), (92, 14)]),
        ("SDFT", "lr 1", 1, [(85, 40), (87, 38), (83, 42)]),
        ("WiSE", "α 0.5", 0.5, [(60, 70), (62, 72), (58, 68)]),
        ("bad", "x", 1, [(50, 5), (52, 6), (48, 7)]),
    ]:
        for seed, (t, k) in enumerate(pts):
            out.append(
                {
                    "method": method,
                    "setting": setting,
                    "x": x,
                    "seed": seed,
                    "task": t,
                    "kept": k,
                    "data_seconds": 1.0,
                    "train_seconds": 2.0 + seed,
                    "tokens_generated": 10,
                    "tokens_trained": 100,
                }
            )
    return out


def test_row_scores_the_task_and_the_mean_of_the_kept_skills():
    r = results.row("SFT", "lr 1", 1.0, 0, SCORES, "multiply", ["a", "b"], {"train_seconds": 3.0})
    assert (r["task"], r["kept"], r["train_seconds"], r["tokens_trained"]) == (80.0, 60.0, 3.0, 0)


def test_summarize_gives_mean_and_sd_over_seeds():
    s = results.summarize(_rows()).set_index("method")
    assert s.loc["SFT", "task"] == pytest.approx(90.0) and s.loc["SFT", "task_sd"] == pytest.approx(2.0)
    assert s.loc["SDFT", "kept"] == pytest.approx(40.0) and s.loc["SDFT", "kept_sd"] == pytest.approx(2.0)
    assert s.loc["SFT", "seeds"] == 3 and s.loc["SFT", "train_seconds"] == pytest.approx(3.0)


def test_pareto_keeps_exactly_the_points_nothing_beats():
    s = results.summarize(_rows())
    front = set(s.loc[results.pareto(s)].method)
    assert front == {"seed", "SFT", "SDFT", "WiSE"}  # "bad" is beaten by SDFT on both axes


def test_anchor_rows_are_drawn_but_not_ranked():
    rows = _rows() + [
        dict(r, method="WiSE", setting="α 1 (the run)", x=1.0, anchor=True)
        for r in _rows()
        if r["method"] == "SDFT"
    ]
    s = results.summarize(rows)
    assert list(results.best_at(s[s.method != "seed"], 80.0).method) == ["SDFT", "SFT"]
    assert "α 1 (the run)" not in set(s.loc[results.pareto(s)].setting)
    assert "α 1 (the run)" in set(s.setting)


def test_best_at_ranks_methods_that_reach_the_threshold_by_kept():
    s = results.summarize(_rows())
    ranked = results.best_at(s[s.method != "seed"], 80.0)
    assert list(ranked.method) == ["SDFT", "SFT"]
    assert results.best_at(s, 99.0).empty


def test_table_and_plot_show_every_method(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = results.summarize(_rows())
    t = figures.table(s)
    sft = s[(s.method == "SFT") & (s.setting == "lr 1")].iloc[0]
    assert t.loc[("SFT", "lr 1"), "task % (± SE)"] == f"90.0 ± {sft.task_se:.1f}"
    assert sft.task_se == pytest.approx(sft.task_sd / math.sqrt(sft.seeds))  # no test variances in these rows
    fig, ax = plt.subplots()
    figures.plot(s, ax, "multiply")
    assert ax.get_legend() is None  # each curve is named at its end instead
    assert {t.get_text() for t in ax.texts} == {"seed", "SFT", "SDFT", "WiSE", "bad"}
    colours = {c.get_label(): c.lines[0].get_color() for c in ax.containers}
    assert (
        colours["SFT"] == figures.STYLE["SFT"]["color"] and colours["SDFT"] == figures.STYLE["SDFT"]["color"]
    )
    plt.close(fig)


@pytest.mark.parametrize(
    "value, message",
    [("", "give comma-separated numbers"), ("0.5,x", "give comma-separated"), ("1.5", "in [0, 1]")],
)
def test_parse_floats_names_the_parameter(value, message):
    with pytest.raises(ConfigError) as err:
        config.parse_floats("wise_alphas", value, 0.0, 1.0)
    assert str(err.value).startswith(f"wise_alphas={value!r} is not allowed") and message in str(err.value)


def test_parse_lines():
    assert config.parse_lines("lines_settings", "0:1,0.25:0.5") == [(0.0, 1.0), (0.25, 0.5)]
    for bad in ("0.5", "0:2", "a:b"):
        with pytest.raises(ConfigError, match="lines_settings="):
            config.parse_lines("lines_settings", bad)


@pytest.mark.slow
def test_replay_data_on_the_smoke_world(tmp_path):
    """Replay prompts come from the world's training prompts, never its held-out ones; the seed
    answers them; the mix has the asked ratio, is written once and reused; other models are refused."""
    from sdft_lib.config import load_config
    from sdft_lib.data import load_task
    from sdft_lib.runs import read_json
    from sdft_lib.teaching_world.build import build_world_data, eval_sets

    cfg = load_config("smoke", run_dir=str(tmp_path))
    held_out = {r["instruction"] for recs in eval_sets(build_world_data(cfg)).values() for r in recs}
    prompts = frontier.replay_prompts(cfg, 30)
    assert len(prompts) == 30 and not held_out & {p["instruction"] for p in prompts}
    task, _ = load_task(cfg, "train")
    mixed, path = frontier.replay_data(cfg, 0.5)
    assert len(mixed) == len(task) + round(0.5 * len(task)) and path.is_file()
    assert frontier.replay_data(cfg, 0.5)[1] == path
    pool = read_json(frontier.replay_set(cfg, len(task)) / "replay.json")
    assert len(pool) == len(task) and all("output" in r for r in pool)
    with pytest.raises(ValueError, match="model='gpt2' is not allowed for replay"):
        frontier.replay_prompts(cfg.replace(model="gpt2"), 3)


def test_parse_float_takes_one_number():
    assert config.parse_float("onpolicy_epochs", "2", 0.01, 100.0) == 2.0
    for bad in ("1,2", "x", "0", None):
        with pytest.raises(ConfigError, match=f"onpolicy_epochs={bad!r} is not allowed: give one number"):
            config.parse_float("onpolicy_epochs", bad, 0.01, 100.0)


def test_lora_settings_parse_and_name_the_parameter():
    from sdft_lib.config import ConfigError, parse_lora_settings

    assert parse_lora_settings("lora_capacities", "q_proj+v_proj:8, all-linear:64,q_proj+v_proj:8") == [
        (("q_proj", "v_proj"), 8),
        (("all-linear",), 64),
    ]
    assert parse_lora_settings("lora_capacities", "") == []
    for bad in ("q_proj", "q_proj:0", ":8", "all-linear:r8"):
        with pytest.raises(ConfigError, match=r"^lora_capacities=.* is not allowed: give targets:rank pairs"):
            parse_lora_settings("lora_capacities", bad)


def test_a_capacity_setting_changes_only_the_adapter_and_keeps_alpha_over_r(tmp_path):
    from sdft_lib.config import load_config
    from sdft_lib.frontier import capacity_config, capacity_label
    from sdft_lib.training import train_key

    cfg = load_config("smoke", run_dir=str(tmp_path))  # LoRA all-linear, r 16, alpha 32
    c = capacity_config(cfg, ("q_proj", "v_proj"), 8)
    assert (c.lora_targets, c.lora_r, c.lora_alpha) == (
        ["q_proj", "v_proj"],
        8,
        8 * cfg.lora_alpha // cfg.lora_r,
    )
    assert c.lora_alpha / c.lora_r == cfg.lora_alpha / cfg.lora_r
    changed = {k for k, v in c.to_dict().items() if v != cfg.to_dict()[k]}
    assert changed == {"lora_targets", "lora_r", "lora_alpha"}
    assert train_key(c, "sft", c.learning_rate, c.epochs, 0) != train_key(
        cfg, "sft", c.learning_rate, c.epochs, 0
    )
    assert capacity_label(("q_proj", "v_proj"), 8) == "q_proj+v_proj r8"


def test_the_frontier_csv_has_one_row_per_model_with_its_axis(tmp_path):
    import pandas as pd

    from sdft_lib.config import load_config
    from sdft_lib.frontier import FRONTIER_COLUMNS, write_frontier
    from sdft_lib.results import row

    cfg = load_config("smoke", run_dir=str(tmp_path))
    scores = {"task": {"lenient": 50.0, "n": 10}, "skill": {"lenient": 80.0, "n": 10}}
    lower = {"task": {"lenient": 70.0, "n": 10}, "skill": {"lenient": 60.0, "n": 10}}
    cost = {"train_seconds": 2.0, "tokens_trained": 100}
    seeds = [row("seed", "the seed", 0.0, s, scores, "task", ["skill"], {}) for s in (0, 1)]
    rows = seeds + [row("SFT", "lr 0.003", 0.003, s, lower, "task", ["skill"], cost) for s in (0, 1)]
    cap = seeds + [row("SFT", "q_proj+v_proj r8", 8, 0, lower, "task", ["skill"], cost)]
    path = write_frontier(cfg, rows, cap)
    assert path == tmp_path / "frontier" / "frontier.csv"
    df = pd.read_csv(path)
    assert list(df.columns) == FRONTIER_COLUMNS
    assert df.axis.tolist() == ["methods"] * 4 + ["lora capacity"]  # the seed's rows once
    assert df.forgetting.tolist() == [0.0, 0.0, 20.0, 20.0, 20.0]
    assert set(df.world) == {df.world[0]} and df.world[0].startswith("seed-")


def _world_record(world, sft, sdft, kind, best, rank):
    """A world's record as frontier.world_study writes it (the fields across_worlds reads)."""
    point = lambda m, task, kept: {
        "method": m,
        "setting": "lr 0.003",
        "task": task,
        "kept": kept,
        "task_sd": 1.0,
        "kept_sd": 2.0,
    }
    return {
        "world": world,
        "points": [point("SFT", *sft), point("SDFT", *sdft)],
        "verdict": {"kind": kind},
        "ranking": [{"method": best}],
        "best_method": best,
        "sdft_rank": rank,
    }


def test_across_worlds_says_what_held_in_every_world_and_what_flipped():
    from sdft_lib.verdict import across_worlds, across_worlds_words

    recs = [
        _world_record(0, (80, 2), (60, 14), "more", "replay", 2),
        _world_record(1, (70, 4), (65, 10), "more", "SDFT", 1),
        _world_record(2, (75, 3), (50, 20), "more", "replay", 2),
    ]
    a = across_worlds(recs, "lr 0.003")
    assert list(a["table"]["SDFT − SFT kept"]) == [12, 6, 17]
    held, flipped = " ".join(a["held"]), " ".join(a["flipped"])
    assert "matched task accuracy: keeps more than SFT" in held
    assert "which keeps more at lr 0.003 (unmatched): SDFT" in held
    assert "the best method at the threshold: world 0: replay, world 1: SDFT, world 2: replay" in flipped
    assert "SDFT's rank" in flipped and "SDFT's rank" not in held
    spread = a["spread"].set_index(["method", "score"])
    assert spread.loc[("SFT", "task"), "sd across worlds"] == pytest.approx(5.0)
    assert spread.loc[("SDFT", "kept"), "sd across seeds (mean within a world)"] == 2.0
    words = across_worlds_words(a)
    assert words["held"].startswith("SDFT against SFT") and "world 1: SDFT" in words["flipped"]
    same = across_worlds([recs[0], recs[0]], "lr 0.003")
    assert across_worlds_words(same)["flipped"] == "none: every one held in all 2 worlds"


@pytest.mark.slow
def test_the_worlds_benchmark_runs_two_worlds(tmp_path):
    """benchmarks/worlds.py (the README's command, smaller) on the smoke profile: two worlds, two seed
    models, one record each that chapter 7's rendering reads; a bad argument stops with one line."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from sdft_lib.verdict import across_worlds

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "worlds.json"
    run = lambda *a: subprocess.run(
        [sys.executable, "benchmarks/worlds.py", *a],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONPATH": str(root), "SDFT_RUNS_ROOT": str(tmp_path / "runs")},
    )
    args = ["--profile", "smoke", "--worlds", "0,1", "--alphas", "0.5", "--replay", "1"]
    proc = run(*args, "--weight-lrs", "0.001", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["settings"]["worlds"] == [0, 1] and data["command"].startswith("python benchmarks/worlds.py")
    recs = data["records"]
    assert [r["world"] for r in recs] == [0, 1]
    assert recs[0]["seed_model"] != recs[1]["seed_model"]  # another world, another seed model
    for r in recs:
        methods = {p["method"] for p in r["points"]}
        assert {"seed", "SFT", "SDFT", "replay", "WiSE-FT (SFT)", "full FT", "HFT"} <= methods
        assert r["verdict"]["kind"] in {"more", "less", "same", "mixed", "apart"}
        assert r["verdict"]["sentence"]
    a = across_worlds(recs, f"lr {data['settings']['learning_rate']:g}")
    assert len(a["table"]) == 2 and len(a["held"]) + len(a["flipped"]) == 4
    bad = run("--profile", "smoke", "--worlds", "zero", "--out", str(tmp_path / "x.json"))
    assert bad.returncode != 0 and bad.stderr.strip().splitlines() == [
        "worlds.py: --worlds='zero' is not allowed: give comma-separated numbers in [0, 2.14748e+09]"
    ]
    assert not (tmp_path / "x.json").exists()


def test_promot_settings_parse_and_name_the_parameter():
    assert config.parse_promot("promot_settings", "8:0.03,4:0.1") == [(8, 0.03), (4, 0.1)]
    for bad, why in (
        ("8", "give tokens:prompt_lr pairs"),
        ("0:0.1", "tokens must be in"),
        ("8:-1", "tokens must"),
    ):
        with pytest.raises(ConfigError, match=rf"^promot_settings='{bad}' is not allowed: {why}"):
            config.parse_promot("promot_settings", bad)


def test_the_committed_world_measurement_renders():
    """benchmarks/measured/worlds.json (what chapter 7 renders): its command is the one the chapter
    names, and every world's record holds what across_worlds reads."""
    from pathlib import Path

    from sdft_lib.frontier import MEASURED_WORLDS, WORLDS_COMMAND, measured_worlds
    from sdft_lib.verdict import across_worlds

    root = Path(__file__).resolve().parents[1]
    data = measured_worlds(root / MEASURED_WORLDS)
    assert data is not None and data["command"] == WORLDS_COMMAND
    assert len(data["records"]) >= 3 and len({r["seed_model"] for r in data["records"]}) == len(
        data["records"]
    )
    a = across_worlds(data["records"], f"lr {data['settings']['learning_rate']:g}")
    assert len(a["table"]) == len(data["records"]) and len(a["held"]) + len(a["flipped"]) == 4
    assert measured_worlds(root / "no-such-file.json") is None
