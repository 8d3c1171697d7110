"""The fine-tuning stage on the smallest profile: masking, adapters, determinism, reuse."""

from typing import ClassVar

import pytest
import torch

from sdft_lib.config import ConfigError, load_config
from sdft_lib.report import collected
from sdft_lib.templates import IGNORE_INDEX, collator, render_prompt_text, train_example
from sdft_lib.training import load_finetuned, run_metrics, sweep, train_adapter, train_log


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("train-run")
    return load_config(
        "smoke",
        run_dir=str(run_dir),
        learning_rate=5e-3,
        epochs=2.0,
        batch_size=8,
        grad_accum=1,
        lora_targets="q_proj,v_proj",
    )


def test_collated_labels_mask_every_prompt_token(tiny_tokenizer):
    recs = [
        {
            "instruction": "What is 2 plus 3?",
            "input": "",
            "output": "Let me compute that. 2 + 3 = 5. The answer is 5.",
        },
        {"instruction": "Sort 3, 1, 2.", "input": "", "output": "Here is the result. The answer is 1, 2, 3."},
    ]
    batch = collator(tiny_tokenizer.pad_token_id)([train_example(tiny_tokenizer, "chat", r) for r in recs])
    for i, r in enumerate(recs):
        n_prompt = len(
            tiny_tokenizer(render_prompt_text("chat", r, tiny_tokenizer), add_special_tokens=False)[
                "input_ids"
            ]
        )
        labels = batch["labels"][i]
        assert (labels[:n_prompt] == IGNORE_INDEX).all()
        kept = labels[labels != IGNORE_INDEX].tolist()
        assert tiny_tokenizer.decode(kept, skip_special_tokens=True).strip() == r["output"]
        pad = batch["attention_mask"][i] == 0
        assert (labels[pad] == IGNORE_INDEX).all()


@pytest.mark.parametrize(
    "template,branch",
    [
        ("chat", "reproduce"),
        ("alpaca", "reproduce"),
        ("alpaca", "main"),
        ("gsm8k", "main"),
        ("gsm8k", "reproduce"),
    ],
)
def test_trl_sft_trainer_builds_exactly_our_labels(standin_dir, tmp_path, template, branch):
    """TRL's SFTTrainer, given our tokenized examples as input_ids + completion_mask, trains on exactly
    the labels templates.train_example makes (prompt -100, every response token, multi-turn history
    included), and its collated batches equal them padded."""
    from conftest import FIXTURE_DATA
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    from sdft_lib.data import read_records
    from sdft_lib.training import sft_dataset, training_arguments

    tok = AutoTokenizer.from_pretrained(standin_dir)
    tok.pad_token = tok.eos_token
    recs = read_records(FIXTURE_DATA / "lima" / "lima_train.json") + read_records(
        FIXTURE_DATA / "alpaca" / "alpaca_train.json"
    )
    assert any(r.get("history") for r in recs)
    ours = [train_example(tok, template, r, 256, branch) for r in recs]
    cfg = load_config("smoke")
    args = training_arguments(cfg, tmp_path, 1e-4, 1.0, 0, "cpu", len(ours))
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(standin_dir),
        args=args,
        train_dataset=sft_dataset(ours),
        processing_class=tok,
    )
    theirs = trainer.train_dataset
    assert len(theirs) == len(ours)
    for a, b in zip(ours, theirs):
        assert b["input_ids"] == a["input_ids"] and b["labels"] == a["labels"]
    batch = trainer.data_collator([{"input_ids": b["input_ids"], "labels": b["labels"]} for b in theirs])
    ref = collator(tok.pad_token_id)(ours)
    assert all(torch.equal(batch[k], ref[k]) for k in ("input_ids", "labels", "attention_mask"))


def test_train_save_load_and_merge_give_the_same_outputs(cfg):
    run = train_adapter(cfg, "sft")
    m = run_metrics(run)
    assert m["variant"] == "sft" and m["trainable_parameters"] < m["total_parameters"]
    assert (run / "adapter" / "adapter_config.json").is_file()
    peft_model, tok = load_finetuned(cfg, run)
    merged, _ = load_finetuned(cfg, run, merge=True)
    ids = tok("<s>[INST] What is 2 plus 3? [/INST]", return_tensors="pt", add_special_tokens=False)[
        "input_ids"
    ]
    with torch.no_grad():
        a, b = peft_model(ids).logits, merged(ids).logits
    assert torch.allclose(a, b, atol=1e-5)


def test_lora_changes_the_outputs(cfg):
    from sdft_lib.models import load_model

    run = train_adapter(cfg, "sft")
    tuned, tok = load_finetuned(cfg, run, merge=True)
    base, _ = load_model(cfg)
    ids = tok("<s>[INST] What is 2 plus 3? [/INST]", return_tensors="pt", add_special_tokens=False)[
        "input_ids"
    ]
    with torch.no_grad():
        assert not torch.allclose(base(ids).logits, tuned(ids).logits)


def test_rerun_reuses_the_finished_run(cfg):
    run1 = train_adapter(cfg, "sft")
    before = (run1 / "manifest.json").stat().st_mtime_ns
    with collected() as messages:
        run2 = train_adapter(cfg, "sft")
    assert run1 == run2 and not any("building" in m for m in messages)
    assert (run2 / "manifest.json").stat().st_mtime_ns == before


def test_same_seed_same_loss_curve(cfg, tmp_path):
    curves = []
    for d in ("a", "b"):
        c = load_config(
            "smoke", run_dir=str(tmp_path / d), learning_rate=5e-3, epochs=1.0, batch_size=8, grad_accum=1
        )
        curves.append([h["loss"] for h in train_log(train_adapter(c, "sft"))])
    assert curves[0] == curves[1] and len(curves[0]) > 1


def test_sft_and_sdft_share_hyperparameters_in_a_sweep(cfg):
    rows = sweep(cfg, lrs=[5e-3], epochs=[1.0], seeds=[0, 1])
    assert {(r["variant"], r["seed"]) for r in rows} == {("sft", 0), ("sdft", 0), ("sft", 1), ("sdft", 1)}
    for key in ("learning_rate", "epochs"):
        assert len({r[key] for r in rows}) == 1


def test_full_fine_tuning_is_an_option(cfg, tmp_path):
    c = load_config(
        "smoke",
        run_dir=cfg.run_dir,
        finetune="full",
        learning_rate=1e-3,
        epochs=1.0,
        batch_size=8,
        grad_accum=1,
    )
    run = train_adapter(c, "sft")
    assert (run / "model" / "model.safetensors").is_file()
    m = run_metrics(run)
    assert m["trainable_parameters"] == m["total_parameters"] and m["finetune"] == "full"


@pytest.mark.parametrize(
    "overrides, needle",
    [
        ({"lora_r": 0}, "lora_r=0"),
        ({"learning_rate": -1}, "learning_rate=-1"),
        ({"epochs": 0}, "epochs=0"),
        ({"ft_seeds": []}, "ft_seeds=[]"),
        ({"sweep_lrs": [0]}, "sweep_lrs=[0]"),
        ({"finetune": "qlora"}, "finetune='qlora'"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"warmup_ratio": 1.5}, "warmup_ratio=1.5"),
    ],
)
def test_bad_training_parameters(overrides, needle):
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        load_config("smoke", **overrides)


def test_interrupted_run_resumes_from_its_last_checkpoint(tmp_path):
    from transformers import TrainerCallback

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 7:
                raise KeyboardInterrupt

    c = load_config(
        "smoke", run_dir=str(tmp_path), learning_rate=5e-3, epochs=2.0, batch_size=8, grad_accum=1
    )
    with pytest.raises(KeyboardInterrupt):
        train_adapter(c, "sft", callbacks=[Kill()], save_steps=5)
    partial = list((tmp_path / "training").glob(".*.partial"))
    assert len(partial) == 1 and (partial[0] / "checkpoints" / "checkpoint-5").is_dir()

    class Record(TrainerCallback):
        steps: ClassVar[list] = []

        def on_step_end(self, args, state, control, **kw):
            self.steps.append(state.global_step)

    with collected() as messages:
        run = train_adapter(c, "sft", callbacks=[Record()], save_steps=5)
    assert any("resuming sft" in m for m in messages)
    assert Record.steps == [6, 7, 8, 9, 10]  # only the steps after the checkpoint were trained
    assert [h["step"] for h in train_log(run)] == list(range(1, 11))  # the log is whole
    assert not (run / "checkpoints").exists()


def test_response_loss_is_the_mean_nll_of_the_response_tokens(standin_dir):
    """response_loss (only response positions through the LM head) equals cross-entropy over the full
    logits with -100 ignored, in value and in gradient; with num_items_in_batch it divides by that."""
    from conftest import FIXTURE_DATA
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sdft_lib.data import read_records
    from sdft_lib.training import response_loss

    tok = AutoTokenizer.from_pretrained(standin_dir)
    tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(standin_dir, dtype=torch.float32)
    recs = read_records(FIXTURE_DATA / "alpaca" / "alpaca_train.json")[:4]
    batch = collator(tok.pad_token_id)([train_example(tok, "alpaca", r, 128) for r in recs])
    ours = response_loss(model, batch)
    ours.backward()
    g_ours = model.model.layers[0].self_attn.q_proj.weight.grad.clone()
    model.zero_grad()
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    full = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.size(-1)), batch["labels"][:, 1:].reshape(-1), ignore_index=IGNORE_INDEX
    )
    full.backward()
    g_full = model.model.layers[0].self_attn.q_proj.weight.grad
    assert torch.allclose(ours, full, rtol=1e-5) and torch.allclose(g_ours, g_full, rtol=1e-4, atol=1e-7)
    n = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    assert torch.allclose(response_loss(model, batch, num_items_in_batch=2 * n), full.detach() / 2, rtol=1e-5)


def _run_benchmark(script: str, *args: str):
    """Run ``benchmarks/<script>`` as the README does; the finished process, whatever its exit status."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    return subprocess.run(
        [sys.executable, f"benchmarks/{script}", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(root)},
    )


def _benchmark(script: str, *args: str) -> tuple[list[dict], str]:
    """Run ``benchmarks/<script>``, which must succeed; its JSON lines, and all it printed."""
    import json

    proc = _run_benchmark(script, *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")], proc.stdout


def test_the_train_step_benchmark_runs(tmp_path):
    """benchmarks/train_step.py (the README's command) on the smallest profile: both losses give the
    same mean logged loss."""
    rows, _ = _benchmark("train_step.py", "--profile", "smoke", "--steps", "2", "--repeats", "1")
    assert [r["loss_function"] for r in rows] == ["trl", "response_loss"]
    assert all(r["steps"] == 2 and r["seconds_per_step"] > 0 for r in rows)
    assert abs(rows[0]["mean_logged_loss"] - rows[1]["mean_logged_loss"]) < 1e-4 * rows[0]["mean_logged_loss"]
    runs, _ = _benchmark("train_step.py", "--profile", "smoke", "--whole-run", "--repeats", "1", "--n", "4")
    assert [r["loss_function"] for r in runs] == ["trl", "response_loss"]
    assert all(set(r["scores"]) >= {"arithmetic", "multiply"} for r in runs)
    sizes, _ = _benchmark(
        "train_step.py", "--profile", "smoke", "--steps", "2", "--repeats", "1", "--batch-sizes", "2,4"
    )
    assert [(r["batch_size"], r["steps"]) for r in sizes] == [(2, 4), (4, 2)]  # the same 8 examples each
    assert all(r["loss_function"] == "response_loss" and r["ms_per_example"] > 0 for r in sizes)
    bad = _run_benchmark("train_step.py", "--profile", "smoke", "--batch-sizes", "8,x")
    assert bad.returncode == 2 and "--batch-sizes" in bad.stderr and "'8,x'" in bad.stderr


def test_the_seed_step_benchmark_runs():
    """benchmarks/seed_step.py (the README's commands) on the smallest profile: one JSON line per
    run, the profiler's matmul share when asked."""
    plain, _ = _benchmark("seed_step.py", "--profile", "smoke", "--steps", "3", "--warmup", "1")
    fused, printed = _benchmark(
        "seed_step.py",
        "--profile",
        "smoke",
        "--steps",
        "3",
        "--warmup",
        "1",
        "--variant",
        "fused",
        "--profile-ops",
    )
    assert "aten::" in printed  # the operator table
    out = plain + fused
    assert [r["variant"] for r in out] == ["plain", "fused"]
    assert all(r["steps"] == 3 and r["ms_per_step"] > 0 and r["tokens_per_step"] > 0 for r in out)
    assert out[0]["matmul_share_pct"] is None and 0 < out[1]["matmul_share_pct"] <= 100


def test_the_lora_settings_benchmark_runs(tmp_path):
    """benchmarks/lora_settings.py (the README's command) on the smallest profile: one JSON line per
    variant with its scores on every skill."""
    rows, _ = _benchmark(
        "lora_settings.py", "--profile", "smoke", "--n", "4", "--setting", '{"learning_rate": 3e-3}'
    )
    assert [r["variant"] for r in rows] == ["sft", "sdft"]
    assert all(r["setting"] == {"learning_rate": 3e-3} and "multiply" in r["lenient"] for r in rows)


def test_the_teaching_world_benchmark_runs(tmp_path):
    """benchmarks/teaching_world.py (the README's command) on the smallest profile, with a ``--set``:
    the seed built with the setting, its skills and its rewrite acceptance on the whole task set; a
    bad ``--set`` stops with one line naming the field."""
    import json

    rows, _ = _benchmark(
        "teaching_world.py", "--profile", "smoke", "--run-dir", str(tmp_path), "--set", "seed_epochs=0.5"
    )
    (r,) = rows
    assert r["overrides"] == {"seed_epochs": 0.5}
    assert r["rewrite"]["n"] == 40
    assert 0 <= r["rewrite"]["working_ok"] <= r["rewrite"]["final_answer_ok"] <= 100
    assert {"arithmetic", "rewrite", "multiply"} <= set(r["scores"])
    (seed,) = (tmp_path / "teaching_world").glob("seed-*")
    assert json.loads((seed / "manifest.json").read_text())["params"]["seed_epochs"] == 0.5

    bad = _run_benchmark(
        "teaching_world.py", "--profile", "smoke", "--run-dir", str(tmp_path), "--set", "seed_epoch=2"
    )
    assert bad.returncode == 2 and "seed_epoch" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_the_eval_path_benchmark_runs(tmp_path):
    """benchmarks/eval_path.py (the README's command) on a smoke run: the old and new evaluation paths
    give identical rows, and it says how long each took; a folder without runs stops with one line."""
    cfg = load_config("smoke", run_dir=str(tmp_path), threads=1)
    train_adapter(cfg, "sft", seed=0)
    prompt_stage = tmp_path / "training" / "promot-prompt-n8-lr0.3-s0-00000000"  # ProMoT's: no adapter
    prompt_stage.mkdir()
    (prompt_stage / "manifest.json").write_text("{}")
    (r,) = _benchmark("eval_path.py", "--profile", "smoke", "--run-dir", str(tmp_path), "--runs", "2")[0]
    assert r["identical_rows"] is True and r["old_s"] > 0 and r["new_s"] > 0 and r["prompts"] > 0
    assert r["runs"] == [p.name for p in (tmp_path / "training").glob("sft-*")]
    assert r["old_lacks"] == ["prompts", "decoding", "pooling"]
    (p,) = _benchmark(
        "eval_path.py", "--profile", "smoke", "--run-dir", str(tmp_path), "--runs", "1", "--old", "pooling"
    )[0]
    assert p["identical_rows"] is True and p["old_lacks"] == ["pooling"]
    bad = _run_benchmark("eval_path.py", "--run-dir", str(tmp_path), "--old", "pooling,packing")
    assert bad.returncode == 2 and "'pooling,packing'" in bad.stderr and "--old" in bad.stderr
    empty = _run_benchmark("eval_path.py", "--profile", "smoke", "--run-dir", str(tmp_path / "none"))
    assert empty.returncode == 2 and "--run-dir" in empty.stderr
    assert len(empty.stderr.strip().splitlines()) == 1
