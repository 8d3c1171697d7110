import os
from pathlib import Path

import pytest

from sdft_lib.config import ConfigError, load_config
from sdft_lib.report import collected
from sdft_lib.runs import (
    StaleArtifactError,
    atomic_path,
    build_once,
    file_sha256,
    key_hash,
    read_json,
    write_json,
    write_text,
)


def test_write_json_is_atomic_and_leaves_no_temp_files(tmp_path):
    p = write_json(tmp_path / "a" / "x.json", {"b": 1})
    assert read_json(p) == {"b": 1}
    assert os.listdir(tmp_path / "a") == ["x.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    p = write_text(tmp_path / "x.txt", "old")
    with pytest.raises(RuntimeError), atomic_path(p) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert p.read_text() == "old"
    assert os.listdir(tmp_path) == ["x.txt"]


def test_key_hash_is_order_independent():
    assert key_hash({"a": 1, "b": [1, 2]}) == key_hash({"b": [1, 2], "a": 1})
    assert key_hash({"a": 1}) != key_hash({"a": 2})


def test_reuse_is_announced_once_per_artifact(tmp_path):
    target = tmp_path / "thing"
    build_once(target, {"k": 1}, lambda w: None, stage="demo")
    with collected() as said:
        for _ in range(3):
            build_once(target, {"k": 1}, lambda w: None, stage="demo")
    assert said == [f"reusing demo: {target}"]


def test_build_once_builds_then_reuses(tmp_path):
    calls = []

    def build(work):
        calls.append(work)
        (work / "data.txt").write_text("hello")
        return {"metric": 3}

    cfg = load_config("smoke", run_dir=str(tmp_path / "run"))
    target = cfg.stage_path("demo") / "thing"
    p1 = build_once(target, {"k": 1}, build, stage="demo", cfg=cfg)
    p2 = build_once(target, {"k": 1}, build, stage="demo", cfg=cfg)
    assert p1 == p2 == target and len(calls) == 1
    man = read_json(target / "manifest.json")
    assert man["metric"] == 3 and man["stage"] == "demo" and man["params"]["profile"] == "smoke"
    assert {"packages", "git_commit", "hardware", "inputs", "seed", "seconds"} <= set(man)
    assert man["packages"]["torch"]
    assert not list(target.parent.glob(".*partial"))


def test_build_once_refuses_to_overwrite_other_parameters(tmp_path):
    target = tmp_path / "thing"
    build_once(target, {"k": 1}, lambda w: None, stage="demo")
    with pytest.raises(StaleArtifactError, match="was built with other parameters"):
        build_once(target, {"k": 2}, lambda w: None, stage="demo")
    assert (target / "manifest.json").exists()


def test_interrupted_build_leaves_no_artifact_and_resumes(tmp_path):
    target = tmp_path / "thing"

    def crash(work):
        (work / "chunk-0.json").write_text("[1]")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_once(target, {"k": 1}, crash, stage="demo")
    assert not target.exists()

    seen = []

    def resume(work):
        seen.append(sorted(p.name for p in work.iterdir()))
        (work / "chunk-1.json").write_text("[2]")

    build_once(target, {"k": 1}, resume, stage="demo")
    assert "chunk-0.json" in seen[0]  # the partial work was found again
    assert sorted(p.name for p in target.iterdir()) == ["chunk-0.json", "chunk-1.json", "manifest.json"]


def test_partial_work_from_other_parameters_is_discarded(tmp_path):
    target = tmp_path / "thing"

    def crash(work):
        (work / "old").write_text("x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_once(target, {"k": 1}, crash, stage="demo")
    build_once(target, {"k": 2}, lambda w: None, stage="demo")
    assert not (target / "old").exists()


def test_inputs_join_the_key(tmp_path):
    f = tmp_path / "in.json"
    f.write_text("[1]")
    build_once(tmp_path / "a", {"k": 1}, lambda w: None, stage="demo", inputs={"data": f})
    man = read_json(tmp_path / "a" / "manifest.json")
    assert man["inputs"]["data"] == file_sha256(f)
    f.write_text("[2]")
    with pytest.raises(StaleArtifactError):
        build_once(tmp_path / "a", {"k": 1}, lambda w: None, stage="demo", inputs={"data": f})


def test_existing_folder_without_manifest_is_left_untouched(tmp_path):
    target = tmp_path / "thing"
    target.mkdir()
    (target / "mine.txt").write_text("user file")
    with pytest.raises(StaleArtifactError, match="left untouched"):
        build_once(target, {"k": 1}, lambda w: None, stage="demo")
    assert (target / "mine.txt").read_text() == "user file"


def test_nothing_is_written_inside_data_dir(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    cfg = load_config("smoke", data_dir=str(data), run_dir=str(data / "runs"))
    with pytest.raises(ConfigError, match="lies inside data_dir"):
        build_once(cfg.stage_path("demo") / "x", {"k": 1}, lambda w: None, stage="demo", cfg=cfg)
    assert list(data.iterdir()) == []


# --- concurrent builders: one builds, the others wait and reuse -----------------------------------
def _slow_build(root: str, log: str, seconds: float) -> str:
    import time as _time

    from sdft_lib.runs import build_once

    def build(work):
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        _time.sleep(seconds)
        (work / f"made-by-{os.getpid()}").write_text("x")
        return {}

    return str(build_once(Path(root) / "art", {"k": 1}, build, stage="race"))


def _race(args):
    return _slow_build(*args)


def test_two_processes_racing_for_one_artifact_build_it_once(tmp_path):
    import multiprocessing as mp

    log = tmp_path / "builds.log"
    with mp.get_context("spawn").Pool(2) as pool:
        paths = pool.map(_race, [(str(tmp_path), str(log), 1.5)] * 2)
    assert paths[0] == paths[1] == str(tmp_path / "art")
    assert len(log.read_text().split()) == 1  # the second process waited, then reused it
    assert (
        len(list((tmp_path / "art").glob("made-by-*"))) == 1
        and (tmp_path / "art" / "manifest.json").is_file()
    )


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path):
    import multiprocessing as mp
    import signal
    import time

    log = tmp_path / "builds.log"
    child = mp.get_context("spawn").Process(target=_slow_build, args=(str(tmp_path), str(log), 60.0))
    child.start()
    deadline = time.time() + 60
    while not (log.is_file() and log.read_text().strip()) and time.time() < deadline:
        time.sleep(0.1)
    os.kill(child.pid, signal.SIGKILL)  # dies holding the lock, mid-build
    child.join()
    t0 = time.time()
    path = _slow_build(str(tmp_path), str(log), 0.0)
    assert time.time() - t0 < 20 and Path(path, "manifest.json").is_file()
    assert [p.name for p in Path(path).glob("made-by-*")] == [f"made-by-{os.getpid()}"]


def test_book_status_lists_chapters_and_labs_with_times_and_hides_injected_parameters(tmp_path):
    import json

    from sdft_lib.book.status import main

    def nb(name, seconds):
        cells = [
            {
                "cell_type": "code",
                "metadata": {"tags": ["parameters"]},
                "source": "profile = 'toy'",
                "outputs": [],
                "execution_count": 1,
            },
            {
                "cell_type": "code",
                "metadata": {"tags": ["injected-parameters"]},
                "source": "profile = 'smoke'",
                "outputs": [],
                "execution_count": 2,
            },
        ]
        meta = {
            "papermill": {
                "parameters": {"profile": "smoke"},
                "duration": seconds,
                "end_time": "2026-11-22T03:00:00",
            }
        }
        (tmp_path / f"{name}.ipynb").write_text(
            json.dumps({"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5})
        )

    nb("01_a", 60.4), nb("lab1_b", 30.2)
    assert main([str(tmp_path), str(tmp_path / "status.md")]) == 0
    text = (tmp_path / "status.md").read_text()
    assert (
        "| 01_a | smoke |" in text
        and "| lab1_b | smoke |" in text
        and "| **all notebooks** | | | | 90 (1.5 min) | |" in text
    )
    cells = json.loads((tmp_path / "01_a.ipynb").read_text())["cells"]
    assert "remove-cell" in cells[1]["metadata"]["tags"] and "remove-cell" not in cells[0]["metadata"]["tags"]


def test_gpu_runs_are_read_from_the_manifests(tmp_path):
    from sdft_lib.book.status import KNOWN_ISSUES, gpu_runs, status_markdown
    from sdft_lib.runs import write_json

    write_json(
        tmp_path / "paper" / "gsm8k" / "training" / "sft-x" / "manifest.json",
        {
            "stage": "training/sft",
            "params": {"profile": "paper/gsm8k"},
            "finished": "2026-12-01T10:00:00",
            "hardware": {"cuda": True, "gpus": ["NVIDIA H100"]},
            "processes": 2,
        },
    )
    write_json(
        tmp_path / "toy" / "training" / "sft-y" / "manifest.json",
        {"stage": "training/sft", "params": {"profile": "toy"}, "hardware": {"cuda": False}},
    )
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json")
    runs = gpu_runs(tmp_path)
    assert runs == [
        {
            "profile": "paper/gsm8k",
            "stage": "training/sft",
            "gpu": "NVIDIA H100",
            "processes": 2,
            "backend": None,
            "finished": "2026-12-01T10:00:00",
        }
    ]
    assert gpu_runs(tmp_path / "none") == []
    page = status_markdown(tmp_path)  # the known upstream console messages are listed for readers
    assert "## Known issues" in page and all(text in page for text, _ in KNOWN_ISSUES)


def test_progress_messages_print_once_and_can_be_silenced(capsys):
    import logging

    from sdft_lib import report

    logging.basicConfig()  # a root handler, as a user's script may have
    try:
        report.to_stdout()
        report.to_stdout()
        report.say("building demo")
        with report.quiet():
            report.say("reusing demo")
        assert capsys.readouterr().out == "building demo\n"
    finally:
        report.LOGGER.handlers.clear()
        report.LOGGER.setLevel(logging.NOTSET)
        report.LOGGER.propagate = True
        logging.getLogger().handlers.clear()
