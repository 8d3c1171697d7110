"""Bad input the way a user meets it: ``papermill ... -p name value`` on a chapter, not the library.

Each case runs the self-distillation chapter (or the frontier chapter, for its own parameters)
through papermill and checks that the first code cell stops it with one ``ConfigError`` line that
names the parameter or the file and record at fault, and that nothing was written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "paper-data"
DISTILL = ROOT / "notebooks" / "02_self_distillation.ipynb"
FRONTIER = ROOT / "notebooks" / "07_frontier.ipynb"

pytestmark = pytest.mark.slow


def refused(nb: Path, tmp_path: Path, **params):
    """Run ``nb`` with ``params``; return the one-line error it stopped with (checked here)."""
    import papermill as pm

    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(
            str(nb),
            str(tmp_path / "out.ipynb"),
            parameters=params,
            kernel_name="python3",
            cwd=str(ROOT),
            progress_bar=False,
            log_output=False,
        )
    e = err.value
    assert e.ename == "ConfigError", e.evalue
    assert "\n" not in e.evalue
    assert e.exec_count <= 3  # the parameters cell, papermill's injected one, then the config cell
    assert not (tmp_path / "run").exists()  # nothing was built
    return e.evalue


def test_a_misspelled_parameter_is_refused_with_the_close_match(tmp_path):
    message = refused(DISTILL, tmp_path, profile="smoke", run_dir=str(tmp_path / "run"), learning_rat=1e-3)
    assert message.startswith("`learning_rat` is not a known parameter, did you mean `learning_rate`")


def test_a_misspelled_notebook_parameter_is_refused_too(tmp_path):
    message = refused(FRONTIER, tmp_path, profile="smoke", run_dir=str(tmp_path / "run"), replay_ratio="0.5")
    assert "`replay_ratio` is not a known parameter, did you mean `replay_ratios`" in message


@pytest.mark.parametrize(
    "name, value, why",
    [
        ("weight_lrs", "0.001,fast", "give comma-separated numbers in"),
        ("promot_settings", "eight:0.1", "give tokens:prompt_lr pairs such as 8:0.03"),
        ("tempbalance_range", "1.5,0.5", "give two numbers low,high"),
    ],
)
def test_the_frontiers_new_settings_are_refused_by_name(tmp_path, name, value, why):
    message = refused(FRONTIER, tmp_path, profile="smoke", run_dir=str(tmp_path / "run"), **{name: value})
    assert message.startswith(f"{name}={value!r} is not allowed: {why}")


def _no_answer(path: Path) -> None:
    rows = json.loads(path.read_text())
    del rows[1]["answer"]
    path.write_text(json.dumps(rows))


def _wrong_type(path: Path) -> None:
    rows = json.loads(path.read_text())
    rows[2]["question"] = 42
    path.write_text(json.dumps(rows))


DAMAGE = {
    "a record without its answer": (_no_answer, "record 1: output (column 'answer') is missing"),
    "an empty list": (lambda p: p.write_text("[]"), "holds no records"),
    "a question that is a number": (_wrong_type, "record 2: instruction (column 'question') is a number"),
    "not UTF-8": (lambda p: p.write_bytes(p.read_bytes().replace(b"a", b"\xe9", 1)), "is not UTF-8 text"),
    "cut off mid-record": (
        lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
        "could not be read as JSON records",
    ),
    "an empty file": (lambda p: p.write_bytes(b""), "is empty"),
    "an object, not a list": (
        lambda p: p.write_text('{"question": "q", "answer": "a"}'),
        "not a list of records",
    ),
}


@pytest.mark.parametrize("case", list(DAMAGE), ids=lambda c: c.replace(" ", "-"))
def test_a_damaged_paper_file_is_refused_naming_file_and_record(case, tmp_path, standin_dir):
    damage, expected = DAMAGE[case]
    data = tmp_path / "data"
    shutil.copytree(FIXTURE, data)
    target = data / "gsm8k" / "gsm8k_train.json"
    damage(target)
    before = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()}
    message = refused(
        DISTILL,
        tmp_path,
        profile="paper/gsm8k",
        data_dir=str(data),
        model=str(standin_dir),
        run_dir=str(tmp_path / "run"),
    )
    assert message.startswith("dataset='gsm8k' is not allowed:") and "gsm8k_train.json" in message
    assert expected in message
    assert {p: p.read_bytes() for p in data.rglob("*") if p.is_file()} == before
