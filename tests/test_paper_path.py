"""#9: the paper's code path without a GPU or a download.

* Every paper profile passes the dry run against the paper's data (config, data schema, templates,
  filters, evaluation files), with no model load.
* The teaching model, saved in Hugging Face format, runs the paper profile end to end on CPU with
  only the model name swapped: distillation with the paper's template and filter, LoRA training on
  q_proj/v_proj with the paper's prompt template, and the paper's evaluation suite.
"""

import http.server
import json
import threading
from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from sdft_lib.config import ConfigError, available_profiles, load_config
from sdft_lib.preflight import dry_run, fetch_paper_data
from sdft_lib.preflight import main as preflight_main

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "sdft-paper-data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="the paper's data folder is not available")
PAPER = [p for p in available_profiles() if p.startswith("paper/")]


@needs_data
@pytest.mark.parametrize("profile", PAPER)
def test_paper_profile_dry_run(profile):
    cfg = load_config(profile, data_dir=str(DATA))
    if not (DATA / f"{cfg.dataset}/{cfg.dataset}_train.json").is_file():
        # magicoder and openhermes are not in the shared copy: the dry run says what is missing
        with pytest.raises(ConfigError, match=f"is missing {cfg.dataset}/{cfg.dataset}_train.json"):
            dry_run(cfg)
        return
    rep = dry_run(cfg)
    assert rep["train_examples"] > 0 and rep["optimizer_steps"] > 0
    assert rep["benchmarks"] == {
        "gsm8k": 1319,
        "multiarith": 180,
        "openfunction": 112,
        "advbench_raw": 520,
        "advbench_jailbreak": 520,
        "alpaca_eval": 805,
    }
    assert (
        "### Reference Answer:" in rep["distill_prompt_example"]
        or "[/INST] Great!" in rep["distill_prompt_example"]
    )
    assert rep["filters"][0] in ("nonempty", "no_banned_phrase")
    cut = dry_run(cfg.replace(max_train_examples=4, eval_limit=3))  # what the run will really do
    assert cut["train_examples"] == 4 and cut["optimizer_steps"] == int(
        4 * cfg.epochs / (cfg.batch_size * cfg.grad_accum)
    )
    assert set(cut["benchmarks"].values()) == {3}


@needs_data
def test_dry_run_command_line(capsys):
    assert preflight_main(["paper/openfunction", "-p", "data_dir", str(DATA)]) == 0
    assert json.loads(capsys.readouterr().out)["distill_template"] == "alpaca_distill_refer"
    assert preflight_main(["paper/openfunction"]) == 2  # no data folder: one line, exit 2
    assert capsys.readouterr().err.startswith("ConfigError: data_dir='data' is not allowed")


def test_fetch_paper_data_records_checksums(tmp_path):
    src = tmp_path / "remote"
    (src / "gsm8k").mkdir(parents=True)
    (src / "gsm8k" / "gsm8k_test.json").write_text('[{"question": "1+1?", "answer": "2"}]')
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(src))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        sums = fetch_paper_data(tmp_path / "data", ["gsm8k/gsm8k_test.json"], base_url=url)
        assert len(sums["gsm8k/gsm8k_test.json"]) == 64
        assert json.loads((tmp_path / "data" / "checksums.json").read_text()) == sums
        with pytest.raises(ConfigError, match=r"missing\.json did not download.*copy it to"):
            fetch_paper_data(tmp_path / "data", ["missing.json"], base_url=url)
    finally:
        server.shutdown()
    with pytest.raises(ConfigError, match="could not be filled"):  # nothing listening: offline
        fetch_paper_data(tmp_path / "d2", ["a.json"], base_url="http://127.0.0.1:9/")


@needs_data
def test_teaching_model_through_the_paper_profile(tmp_path):
    from sdft_lib import evaluation
    from sdft_lib.models import seed_weights
    from sdft_lib.self_distillation import load_report, run_self_distillation

    seed_dir = seed_weights(load_config("smoke"))  # the teaching model, saved with save_pretrained
    assert (Path(seed_dir) / "model.safetensors").is_file()
    cfg = load_config(
        "paper/gsm8k",
        model=str(seed_dir),
        data_dir=str(DATA),
        device="cpu",
        max_train_examples=6,
        max_new_tokens=16,
        gen_batch_size=8,
        epochs=1.0,
        grad_accum=1,
        cutoff_len=192,
        eval_limit=3,
        ft_seeds=[0],
        lm_eval_tasks="",
        eval_benchmarks="gsm8k,multiarith,openfunction,advbench_raw,advbench_jailbreak,alpaca_eval",
    )
    assert cfg.lora_targets == ["q_proj", "v_proj"] and cfg.train_template == "gsm8k"
    report = load_report(run_self_distillation(cfg))
    assert report["total"] == 6 and report["template"] == "gsm8k_distill"
    paths = evaluation.run_evaluation(cfg)
    df = pd.read_csv(paths["results"])
    assert set(df.variant) == {"seed", "sft", "sdft"}
    assert set(df.benchmark) == {"gsm8k", "multiarith", "openfunction", "advbench_raw", "advbench_jailbreak"}
    assert df.score.between(0, 100).all()
    export = next(Path(cfg.stage_path("evaluation")).glob("seed-*/alpaca_eval_outputs.json"))
    rows = json.loads(export.read_text())
    assert len(rows) == 3 and set(rows[0]) == {"instruction", "output", "generator"}
