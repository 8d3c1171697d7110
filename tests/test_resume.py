"""Exact resume and determinism, with real SIGKILLs (tests/resume_driver.py runs each stage).

A stage killed at any point and run again must leave the same files as a run that was never
interrupted, file for file: binary files byte for byte; JSON, CSV and text files byte for byte once
the run folder's own path and the wall-clock fields (seconds, timestamps, speeds) are set aside.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "tests" / "resume_driver.py"
# wall-clock fields: the only things two identical runs may disagree on
VOLATILE = {
    "seconds",
    "finished",
    "generation_seconds",
    "rewrites_per_second",
    "train_seconds",
    "tokens_per_second",
    "timings",
}
UPSTREAM = {
    "distill": ["teaching_world"],
    "train": ["teaching_world", "self_distillation"],
    "eval": ["teaching_world", "self_distillation", "training"],
}
UNFINISHED = {
    "distill": "self_distillation/distilled-*/manifest.json",
    "train": "training/sft-*/manifest.json",
    "eval": "evaluation/results.csv",
}  # what a killed stage must not have finished
STAGE_DIR = {"distill": "self_distillation", "train": "training", "eval": "evaluation"}


def drive(stage: str, run_dir: Path, kill: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(DRIVER), stage, str(run_dir), *([kill] if kill else [])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _scrub(obj):
    if isinstance(obj, dict):
        return {k: _scrub(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_scrub(v) for v in obj]
    return obj


def snapshot(run_dir: Path, folders, aliases=()) -> dict[str, bytes]:
    """Every file of these stage folders of a run (locks aside), with the run folder's own path and
    wall-clock fields removed."""
    out = {}
    for p in sorted(p for f in folders for p in (run_dir / f).rglob("*")):
        if not p.is_file() or p.name.endswith(".lock"):
            continue
        data = p.read_bytes()
        if p.suffix in (".json", ".jsonl", ".csv", ".txt", ".md", ".yaml"):
            text = data.decode()
            for path in (run_dir, *aliases):  # copied upstream stages name the folder they were built in
                text = text.replace(str(path), "<run>")
            if p.suffix == ".json":
                text = json.dumps(_scrub(json.loads(text)), sort_keys=True)
            data = text.encode()
        out[str(p.relative_to(run_dir))] = data
    return out


SNAPSHOT_FOLDERS = ("teaching_world", *STAGE_DIR.values())


def assert_same_files(got: Path, want: Path, folders=SNAPSHOT_FOLDERS) -> None:
    a, b = snapshot(got, folders, [want]), snapshot(want, folders, [got])
    assert sorted(a) == sorted(b), f"files differ: {sorted(set(a) ^ set(b))}"
    differ = [name for name in a if a[name] != b[name]]
    assert not differ, f"contents differ: {differ}"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The smoke pipeline run once, uninterrupted, from nothing."""
    run = tmp_path_factory.mktemp("reference") / "run"
    proc = drive("all", run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run


def test_two_runs_with_one_seed_are_byte_identical(reference, tmp_path):
    again = tmp_path / "run"
    proc = drive("all", again)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("evaluation/results.csv",):
        assert (again / name).read_bytes() == (reference / name).read_bytes()
    [d1], [d2] = (
        reference.glob("self_distillation/*/distilled.json"),
        again.glob("self_distillation/*/distilled.json"),
    )
    assert d1.read_bytes() == d2.read_bytes()
    assert_same_files(again, reference)  # and every other file: seed model, adapters, outputs


KILLS = [
    ("distill", "generate:1", None),  # before any rewrite
    ("distill", "generate:3", "self_distillation/.*.partial/chunks/00001.json"),  # two chunks saved
    ("train", "step:2", None),  # before the first checkpoint
    ("train", "step:6", "training/.sft-*.partial/checkpoints/checkpoint-4"),  # after one
    ("train", "trainend:1", "training/.sft-*.partial/checkpoints/checkpoint-20"),  # trained, not saved
    ("eval", "evaluate:3", "evaluation/seed-*/outputs.json"),  # the seed and SFT scored
    ("eval", "write:results.csv", "evaluation/sdft-*/outputs.json"),  # every model scored
]


@pytest.mark.parametrize("stage, kill, left", KILLS, ids=[f"{s}-{k}" for s, k, _ in KILLS])
def test_a_killed_stage_resumes_to_the_uninterrupted_result(reference, tmp_path, stage, kill, left):
    run = tmp_path / "run"
    for folder in UPSTREAM[stage]:
        shutil.copytree(reference / folder, run / folder)
    proc = drive(stage, run, kill)
    assert proc.returncode == -9, f"not killed at {kill}: {proc.stderr[-2000:]}"
    if left:  # the kill left work behind that the rerun must pick up
        assert list(run.glob(left)), f"nothing like {left} after the kill"
    assert not list(run.glob(UNFINISHED[stage])), "a killed build was taken for a finished one"
    proc = drive(stage, run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not list(run.rglob(".*.partial")), "the resumed run left partial work behind"
    assert_same_files(run, reference, [*UPSTREAM[stage], STAGE_DIR[stage]])
