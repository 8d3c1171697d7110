"""One source for dependencies: requirements.txt. pyproject.toml's dependencies and extras,
environment.yml and the lock (constraints.txt) are checked against it."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
GPU_ONLY_EXTRAS = {"vllm"}  # installed on GPU machines beside the lock, not part of requirements.txt


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[;]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def requirements() -> dict[str, set[str]]:
    """{package: extras it belongs to} from requirements.txt (empty set: a core dependency)."""
    out = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        spec, _, comment = line.partition("#")
        if not spec.strip():
            continue
        m = re.search(r"extras:\s*([\w ,-]+?)(?:\s*\(|$)", comment.strip())
        out[_name(spec)] = {e.strip() for e in m.group(1).split(",")} if m else set()
    return out


def test_pyproject_dependencies_and_extras_follow_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = requirements()
    core = {n for n, extras in reqs.items() if not extras}
    assert {_name(d) for d in project["dependencies"]} == core
    extras = project["optional-dependencies"]
    for extra in set(extras) - GPU_ONLY_EXTRAS:
        assert {_name(d) for d in extras[extra]} == {n for n, e in reqs.items() if extra in e}, extra
    assert set().union(*reqs.values()) <= set(extras)


def test_every_requirement_is_pinned_in_the_lock():
    lock = {
        _name(line)
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert set(requirements()) - lock == set()


def test_environment_yml_installs_the_requirements_with_the_lock():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == ["-r requirements.txt", "-c constraints.txt", "-e ."]
    assert "python=3.11" in env["dependencies"]


def test_make_lint_passes_and_catches_a_long_line_and_bad_format(tmp_path):
    """make lint (which make test runs) is clean on the tree, and the project's ruff settings reject
    a line over 110 characters and code that ruff format would change."""
    import subprocess

    ruff = ROOT / ".venv" / "bin" / "ruff"
    if not ruff.exists():
        import shutil

        ruff = shutil.which("ruff")
    assert ruff, "ruff is not installed (make install)"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^LINTED := .*\bnotebooks\b", makefile, re.M)  # the notebooks' code cells too
    clean = subprocess.run(["make", "-s", "lint"], cwd=ROOT, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    bad = tmp_path / "bad.py"
    bad.write_text("x = {'a':1}\n" + "y = '" + "z" * 120 + "'\n")
    cfg = ["--config", str(ROOT / "pyproject.toml")]
    lint = subprocess.run([str(ruff), "check", *cfg, str(bad)], capture_output=True, text=True)
    assert lint.returncode != 0 and "E501" in lint.stdout, lint.stdout
    fmt = subprocess.run([str(ruff), "format", "--check", *cfg, str(bad)], capture_output=True, text=True)
    assert fmt.returncode != 0 and "would be reformatted" in fmt.stdout + fmt.stderr, fmt.stdout + fmt.stderr


def test_a_notebook_run_imports_no_parser_built_at_import_time():
    """make install removes rfc3987-syntax (Makefile: IMPORT_TIME_ONLY): jsonschema imports it
    whenever it is installed, and it builds an Earley grammar at import, 1.5-2.6 s on every nbformat
    import, twice per notebook run. Papermill and myst-nb's glue (every notebook's first cell) must
    import without it, and jsonschema's validation, which nbformat uses, must still work."""
    import subprocess
    import sys

    code = (
        "import sys, papermill, myst_nb.ext.glue, nbformat\n"
        "nbformat.validate(nbformat.v4.new_notebook())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rfc3987_syntax', 'lark')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^IMPORT_TIME_ONLY := rfc3987-syntax$", makefile, re.M)
    assert "$(PIP) uninstall -q -y $(IMPORT_TIME_ONLY)" in makefile


def test_the_trainers_mtime_notice_is_dropped_and_other_log_lines_are_not():
    """hardware.quiet_libraries drops one transformers notice (checkpoints written within a second:
    the Trainer sorts them by step instead), which a cold build printed into chapters 4 and 5."""
    import logging

    from sdft_lib.hardware import MTIME_NOTICE, quiet_libraries

    quiet_libraries()
    quiet_libraries()  # idempotent: one filter
    log = logging.getLogger("transformers.trainer_utils")
    assert sum(type(f).__name__ == "_DropMessage" for f in log.filters) == 1
    seen = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    log.addHandler(handler)  # transformers' loggers do not propagate to the root logger
    try:
        log.warning(MTIME_NOTICE + " on this filesystem, falling back to numerical ordering")
        log.warning("something else")
    finally:
        log.removeHandler(handler)
    assert seen == ["something else"]
