"""The build profile: notebooks' wall times and the artifacts each built, from what a build leaves."""

import json
from pathlib import Path

from sdft_lib.book.profile import markdown, profile, stage_kind


def _notebook(folder: Path, name: str, start: str, end: str, seconds: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    nb = {
        "cells": [],
        "metadata": {"papermill": {"start_time": start, "end_time": end, "duration": seconds}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (folder / f"{name}.ipynb").write_text(json.dumps(nb))


def _artifact(root: Path, rel: str, stage: str, seconds: float, finished: str, **extra) -> None:
    (root / rel).mkdir(parents=True, exist_ok=True)
    (root / rel / "manifest.json").write_text(
        json.dumps({"stage": stage, "seconds": seconds, "finished": finished, **extra})
    )


def test_artifacts_are_charged_to_the_notebook_that_built_them(tmp_path):
    ex, runs = tmp_path / "executed", tmp_path / "runs"
    _notebook(ex, "01_a", "2026-12-01T10:00:00.000000Z", "2026-12-01T10:05:00.000000Z", 300.0)
    _notebook(ex, "02_b", "2026-12-01T10:05:01.000000Z", "2026-12-01T10:06:00.000000Z", 59.0)
    _artifact(
        runs,
        "teaching_world/seed-1",
        "teaching_world/seed",
        250.0,
        "2026-12-01T10:04:00+0000",
        timings={"training": 200.0},
    )
    _artifact(
        runs,
        "training/sft-1",
        "training/sft",
        20.0,
        "2026-12-01T10:05:30+0000",
        metrics={"train_seconds": 15.0},
    )
    _artifact(
        runs,
        "training/sft-2",
        "training/sft",
        22.0,
        "2026-12-01T10:05:50+0000",
        metrics={"train_seconds": 16.0},
    )
    _artifact(
        runs, "training/.sft-3.partial", "training/sft", 5.0, "2026-12-01T10:05:55+0000"
    )  # not finished
    rows = profile(ex, runs)
    by = {(r["notebook"], r["stage"]): r for r in rows}
    assert by["01_a", "teaching_world/seed"]["busy_s"] == 250.0
    assert by["01_a", "teaching_world/seed"]["dominant"] == "training steps 200 s"
    assert by["02_b", "training/sft"]["built"] == 2 and by["02_b", "training/sft"]["busy_s"] == 42.0
    assert by["02_b", "training/sft"]["dominant"] == "training steps 31 s"
    assert by["02_b", "(notebook wall time)"]["busy_s"] == 59.0
    assert "the rest 17 s" in by["02_b", "(notebook wall time)"]["dominant"]
    assert "| **all notebooks** | | | 359 (6.0 min) | |" in markdown(rows)


def test_stage_kinds_group_evaluations_by_what_they_score():
    assert stage_kind("evaluation/sft-lr0.003-ep2-s0-abc") == "evaluation"
    assert stage_kind("evaluation/lm_eval-cross-seed") == "lm-eval"
    assert stage_kind("evaluation/sft-lr0.003-ep2-s0-abc-wise-alpha0.5") == "evaluation (rescaled)"
    assert stage_kind("training/replay0.25") == "training/replay0.25"
    assert stage_kind("training/sdft") == "training/sdft"


def test_the_status_page_says_where_the_build_ran(tmp_path):
    from sdft_lib.book.status import provenance

    _artifact(
        tmp_path,
        "a",
        "training/sft",
        1.0,
        "2026-12-01T10:00:00+0000",
        git_commit="old",
        packages={"torch": "1.0"},
        hardware={"cpu_count": 2, "torch_threads": 1},
    )
    _artifact(
        tmp_path,
        "b",
        "training/sdft",
        1.0,
        "2026-12-01T11:00:00+0000",
        git_commit="abc123",
        packages={"torch": "2.13.0", "vllm": None},
        hardware={"cpu_count": 16, "gpus": ["H200"]},
    )
    text = "\n".join(provenance(tmp_path))
    assert "commit `abc123`" in text and "16 CPU cores" in text and "H200" in text
    assert "torch 2.13.0" in text and "vllm" not in text and "torch 1.0" not in text


def test_output_defects_catch_bars_warnings_and_paths_and_nothing_else(tmp_path):
    import json

    from sdft_lib.book.status import notebook_output_defects, output_defects

    bar = "Loading weights: 100%|##########| 272/272 [00:00<00:00, 1234.5it/s]"
    assert [d.split(":")[0] for d in output_defects(bar)] == ["progress bar"] * 3
    warn = "/home/ana/p/.venv/lib/python3.11/site-packages/tqdm/auto.py:21: TqdmWarning: IProgress not found"
    assert {d.split(":")[0] for d in output_defects(warn)} == {"warning", "machine path"}
    assert output_defects(warn, ("progress bar",)) == []
    fine = "SFT kept 93.3% | SDFT 12/150 right [reused] tools/calls: 4 answers"
    assert output_defects(fine) == []
    log = (
        "ok\n[transformers] mtime may not be reliable on this filesystem, falling back to numerical ordering"
    )
    assert [d.split(":")[0] for d in output_defects(log)] == ["warning"]
    assert output_defects("a list [transformers] in prose") == []  # only at the start of a line
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": bar},
            {
                "cell_type": "code",
                "outputs": [{"output_type": "stream", "text": ["ok\n", "TRLExperimentalWarning: x"]}],
            },
            {
                "cell_type": "code",
                "outputs": [{"output_type": "execute_result", "data": {"text/plain": fine}}],
            },
        ]
    }
    (tmp_path / "n.ipynb").write_text(json.dumps(nb))
    assert notebook_output_defects(tmp_path / "n.ipynb") == ["cell 1: warning: 'TRLExperimentalWarning'"]
    # a notice on a cell's standard error, which no pattern knows (vLLM's, through Python's
    # last-resort handler), is one too; the same text on standard output is not
    notice = "Triton is installed, but doesn't include CPU backend. Disabling Triton.\n"
    for name, expected in (("stderr", [f"cell 0: stderr: {notice.strip()!r}"]), ("stdout", [])):
        out = {"output_type": "stream", "name": name, "text": [notice]}
        (tmp_path / "e.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "outputs": [out]}]}))
        assert notebook_output_defects(tmp_path / "e.ipynb") == expected
        assert notebook_output_defects(tmp_path / "e.ipynb", ("warning",)) == []
