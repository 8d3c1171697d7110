"""The test suite's own profile: conftest's SDFT_TEST_TIMELINE hook and benchmarks/suite_schedule.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import suite_schedule  # noqa: E402


def _timeline(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_the_summary_shows_each_workers_idle_tail_and_the_heaviest_first_span(tmp_path):
    rows = [
        {"worker": "gw0", "test": "tests/test_a.py::one", "start": 0, "stop": 10},
        {"worker": "gw0", "test": "tests/test_a.py::two", "start": 10, "stop": 12},
        {"worker": "gw1", "test": "tests/test_b.py::one", "start": 0, "stop": 4},
        {"worker": "gw1", "test": "tests/test_c.py::one", "start": 4, "stop": 6},
    ]
    s = suite_schedule.summary(suite_schedule.load(_timeline(tmp_path / "t.jsonl", rows)))
    assert s["span_s"] == 12 and s["busy_s"] == 18 and s["even_split_s"] == 9
    assert s["workers"]["gw0"] == {"busy_s": 12, "idle_at_end_s": 0, "tests": 2}
    assert s["workers"]["gw1"]["idle_at_end_s"] == 6
    # whole files, heaviest first: test_a (12) on one worker, test_b and test_c (4 + 2) on the other
    assert s["heaviest_first_files_s"] == 12
    assert s["heaviest_files"][0] == ["tests/test_a.py", 12]
    assert s["slowest_tests"][0] == ["tests/test_a.py::one", 10]
    # a queue handed out heaviest first, not the best split: 5+3 | 4+3+3 gives 10, though 5+4 | 3+3+3 is 9
    assert suite_schedule.lpt_span([5, 4, 3, 3, 3], 2) == 10


def test_a_broken_timeline_is_one_line_naming_the_file_and_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"worker": "gw0", "test": "a", "start": 0, "stop": 1}\nnot json\n')
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "suite_schedule.py"), str(path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    why = "not a timeline record (Expecting value: line 1 column 1 (char 0))"
    assert proc.stderr.strip().splitlines() == [f"{path}, line 2: {why}"]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "suite_schedule.py"), str(tmp_path / "none.jsonl")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "no such file" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_the_timeline_hook_writes_one_line_per_test_and_the_script_reads_it(tmp_path):
    """The README's command on a small pytest run: conftest writes the timeline, the script reads it."""
    timeline = tmp_path / "timeline.jsonl"
    env = {**os.environ, "SDFT_TEST_TIMELINE": str(timeline)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider"]
        + ["tests/test_keys.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    rows = [json.loads(line) for line in timeline.read_text().splitlines()]
    passed = int(proc.stdout.strip().splitlines()[-1].split(" passed")[0].split()[-1])
    assert len(rows) == passed and all(r["stop"] >= r["start"] and r["worker"] == "main" for r in rows)
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "suite_schedule.py"), str(timeline), "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    s = json.loads(out)
    assert s["heaviest_files"][0][0] == "tests/test_keys.py" and s["workers"]["main"]["tests"] == passed
