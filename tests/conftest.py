import os

import pytest

# One torch thread in tests: two busy processes with all threads each crawl on a 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _isolated_runs(tmp_path, monkeypatch):
    """Every test writes run artifacts under its own temporary folder, never under runs/."""
    monkeypatch.setenv("SDFT_RUNS_ROOT", str(tmp_path / "runs"))
    yield


@pytest.fixture(scope="session")
def tiny_world():
    from sdft_lib.teaching_world.world import WorldSpec, build_world

    return build_world(WorldSpec(seed=0, eval_per_skill=8, task_train=20, task_eval=8, train_per_skill={
        "arithmetic": 300, "lists": 200, "tools": 150, "safety": 60, "benign": 60, "rewrite": 300}))


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_world):
    from sdft_lib.chat import render_chat_text, to_messages
    from sdft_lib.teaching_world.model import train_tokenizer

    return train_tokenizer([render_chat_text(to_messages(r)) for r in tiny_world["seed_train"]], 400)
