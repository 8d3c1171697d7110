"""Independent artifacts built in worker processes (sdft_lib.parallel)."""

import json
import os
from pathlib import Path

import pytest

from sdft_lib import parallel
from sdft_lib.config import load_config


def build_marker(cfg, name: str) -> Path:
    """A cached artifact that records which process built it and with how many torch threads."""
    import torch

    from sdft_lib.runs import build_once

    def build(work: Path) -> dict:
        (work / "who.json").write_text(json.dumps({"pid": os.getpid(), "threads": torch.get_num_threads()}))
        return {}

    return build_once(cfg.run_path / "markers" / name, {"name": name}, build, stage="markers", cfg=cfg)


def fail(cfg):
    raise ValueError("a job that fails")


def test_workers_by_default_one_per_thread_for_the_teaching_model_only():
    assert parallel.workers_for(load_config("smoke", threads=2)) == min(2, os.cpu_count() or 1)
    assert parallel.workers_for(load_config("smoke", threads=1)) == 1
    assert parallel.workers_for(load_config("smoke", threads=2, parallel_runs=1)) == 1
    assert parallel.workers_for(load_config("smoke", threads=1, parallel_runs=3)) == 3
    # the real model's profile asks for two (its SFT and SDFT runs side by side), by name
    assert parallel.workers_for(load_config("smollm2")) == 2


def test_prebuild_builds_every_job_in_workers_of_one_thread(tmp_path):
    cfg = load_config("smoke", run_dir=str(tmp_path / "run"))
    jobs = [("test_parallel:build_marker", {"name": f"m{i}"}) for i in range(4)]
    assert parallel.prebuild(cfg, jobs, workers=2) == 2
    who = [json.loads((tmp_path / "run" / "markers" / f"m{i}" / "who.json").read_text()) for i in range(4)]
    assert all(w["threads"] == 1 for w in who)
    assert os.getpid() not in {w["pid"] for w in who}
    # the caller's own loop then reuses every artifact
    assert [build_marker(cfg, f"m{i}") for i in range(4)] == [
        tmp_path / "run" / "markers" / f"m{i}" for i in range(4)
    ]


def test_one_worker_builds_nothing_and_a_failing_job_raises_in_the_caller(tmp_path):
    cfg = load_config("smoke", run_dir=str(tmp_path / "run"))
    assert parallel.prebuild(cfg, [("test_parallel:build_marker", {"name": "x"})] * 3, workers=1) == 1
    assert not (tmp_path / "run" / "markers").exists()
    with pytest.raises(ValueError, match="a job that fails"):
        parallel.prebuild(cfg, [("test_parallel:fail", {}), ("test_parallel:fail", {})], workers=2)


def test_the_readme_benchmark_runs_and_both_ways_give_the_same_scores(tmp_path):
    """benchmarks/parallel_runs.py (the README's command) on the smallest profile."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "parallel_runs.json"
    subprocess.run(
        [
            sys.executable,
            "benchmarks/parallel_runs.py",
            "--profile",
            "smoke",
            "--teaching-world-dir",
            str(tmp_path / "world"),
            "--runs",
            "2",
            "--threads",
            "2",
            "--out",
            str(out),
        ],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(out.read_text())
    assert (
        report["parallel"]["workers"] == min(2, os.cpu_count() or 1) and report["sequential"]["workers"] == 1
    )
    assert report["identical_scores"] is True
    assert report["speedup"] > 0
