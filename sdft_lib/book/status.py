"""Write the book's status page: each executed notebook, its profile, when it ran and how long.

Read from the metadata papermill stores in every executed notebook, so the page says what the
rendered book really shows. Also hides papermill's injected-parameters cell on the rendered pages
(the notebook's own parameters cell stays; the values used are in the status table).
Usage: ``python -m sdft_lib.book.status book/executed book/status.md [runs/<profile>]`` (with the run
folder, the page also shows where the build's time went: :mod:`sdft_lib.book.profile`).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from ..runs import write_text

# Console messages of the built book that come from upstream packages, with why they are harmless.
# The browser test (tests/browser) tolerates exactly these texts and no other console error; the
# status page lists them, so a reader sees the same list.
KNOWN_ISSUES = [
    (
        "Identifier 'THEBE_JS_URL' has already been declared",
        "jupyter-book 1.0.4's sphinx-thebe adds its inline config script twice, so every page logs this "
        "JavaScript error once; live code cells are off in this book, so nothing depends on it.",
    ),
    (
        "Got invalid theme mode: . Resetting to auto.",
        "pydata-sphinx-theme logs this once in a browser that has no stored light/dark choice.",
    ),
    ("/favicon.ico - Failed to load resource", "the browser asks for /favicon.ico and the book has none."),
]


# What an executed page must not show a reader. The smoke notebooks (tests/test_notebooks.py) and the
# rendered book (tests/browser) are checked against these patterns.
OUTPUT_DEFECTS = {
    "progress bar": re.compile(r"\d+%\|[^\n]{0,80}\||\d+/\d+ \[\d+:\d+|\d(?:it|s)/(?:s|it)\]"),
    # a Python warning, or a library's log line ("[transformers] ...", as transformers prints them)
    "warning": re.compile(
        r"\b[A-Z][A-Za-z]*Warning\b|warnings\.warn\(|^\[(?:transformers|datasets|trl|peft)\] ", re.M
    ),
    # an absolute path on some machine, or into an installed package
    # (a relative .venv/bin/python is a command)
    "machine path": re.compile(
        r"(?<![\w.~])/(?:root|home|Users|tmp|work|private|var/folders)/\S*|\S*site-packages\S*"
    ),
}


def output_defects(text: str, kinds=tuple(OUTPUT_DEFECTS)) -> list[str]:
    """What of ``OUTPUT_DEFECTS`` (those named in ``kinds``) the text shows: "kind: the match"."""
    return [f"{kind}: {m.group(0)[:80]!r}" for kind in kinds for m in OUTPUT_DEFECTS[kind].finditer(text)]


STDERR = "stderr"  # a kind of its own: anything a cell wrote to its standard error


def notebook_output_defects(path: Path, kinds=(*OUTPUT_DEFECTS, STDERR)) -> list[str]:
    """``output_defects`` of every code cell's outputs (streams, and the plain text and HTML of results)
    in an executed notebook, each prefixed with the cell's number; with ``"stderr"`` in ``kinds``,
    also every stream a cell wrote to its standard error. The library's messages go to standard
    output, so what reaches standard error is a library's notice nobody chose to show (a log line
    through Python's last-resort handler, a progress bar)."""
    found = []
    for n, cell in enumerate(json.loads(Path(path).read_text())["cells"]):
        for out in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            texts = [out.get("text", "")] + [
                out.get("data", {}).get(m, "") for m in ("text/plain", "text/html")
            ]
            text = "".join("".join(t) if isinstance(t, list) else t for t in texts)
            found += [f"cell {n}: {d}" for d in output_defects(text, [k for k in kinds if k != STDERR])]
            if STDERR in kinds and out.get("output_type") == "stream" and out.get("name") == "stderr":
                found.append(f"cell {n}: {STDERR}: {text.strip()[:80]!r}")
    return found


def gpu_runs(root: Path) -> list[dict]:
    """Every finished artifact under ``root`` (a runs folder) that was built on a GPU, from its
    manifest: profile, stage, GPU, processes, finished. The GPU chapter's "what has run" table is
    read from these, so it says what this build's machine holds, never a hand-kept list."""
    import json

    out = []
    for m in sorted(Path(root).rglob("manifest.json")) if Path(root).is_dir() else []:
        try:
            man = json.loads(m.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        hw = man.get("hardware") or {}
        if hw.get("cuda"):
            out.append(
                {
                    "profile": (man.get("params") or {}).get("profile"),
                    "stage": man.get("stage"),
                    "gpu": ", ".join(hw.get("gpus") or []) or "a GPU",
                    "processes": man.get("processes", 1),
                    "backend": ((man.get("report") or {}).get("backend")),
                    "finished": man.get("finished", ""),
                }
            )
    return out


def notebook_status(path: Path) -> dict:
    nb = json.loads(path.read_text(encoding="utf-8"))
    pm = nb.get("metadata", {}).get("papermill", {})
    params = pm.get("parameters", {})
    return {
        "notebook": path.stem,
        "profile": params.get("profile", "(default)"),
        "parameters": ", ".join(f"{k}={v}" for k, v in params.items() if k != "profile") or "-",
        "finished": (pm.get("end_time") or "?")[:19].replace("T", " "),
        "seconds": round(pm["duration"]) if pm.get("duration") is not None else "?",
        "status": "failed" if pm.get("exception") else "ok",
    }


def hide_injected_parameters(path: Path) -> bool:
    """Tag papermill's injected-parameters cell ``remove-cell`` (rewritten atomically); True if changed."""
    from ..runs import write_json

    nb = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    for cell in nb.get("cells", []):
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
            changed = True
    if changed:
        write_json(path, nb)
    return changed


def provenance(runs_root: Path) -> list[str]:
    """Where this build ran: the commit the book was built from, and the machine, commit and package
    versions recorded in the newest artifact manifest under ``runs_root``."""
    from ..runs import git_commit

    newest, when = None, ""
    for m in Path(runs_root).rglob("manifest.json") if Path(runs_root).is_dir() else []:
        try:
            man = json.loads(m.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if man.get("packages") and str(man.get("finished", "")) >= when:
            newest, when = man, str(man.get("finished", ""))
    lines = ["## Where this build ran", "", f"- book built from commit `{git_commit() or 'unknown'}`"]
    if newest:
        hw = newest.get("hardware") or {}
        gpus = ", ".join(hw.get("gpus") or []) or "no GPU"
        lines += [
            f"- the newest run artifact ({newest.get('stage')}, finished {when}): commit "
            f"`{newest.get('git_commit') or 'unknown'}`, {hw.get('cpu_count', '?')} CPU cores, "
            f"{hw.get('torch_threads', '?')} torch threads, {gpus}, {hw.get('platform', '?')}",
            "- packages: " + ", ".join(f"{k} {v}" for k, v in (newest.get("packages") or {}).items() if v),
        ]
    return lines + [""]


def status_markdown(folder: Path, runs_root: Path | None = None) -> str:
    paths = sorted(folder.glob("[0-9]*.ipynb")) + sorted(folder.glob("lab*.ipynb"))
    rows = [notebook_status(p) for p in paths]
    lines = [
        "# Status of this build",
        "",
        "Every chapter built from a notebook shows outputs that papermill wrote when it executed",
        "that notebook; the book itself executes nothing (`execute_notebooks: off`). This table is",
        "read from the executed notebooks' own metadata when the book is built.",
        "",
        "| notebook | profile | other parameters | finished (UTC) | run time (s) | status |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['notebook']} | {r['profile']} | {r['parameters']} | {r['finished']} | "
        f"{r['seconds']} | {r['status']} |"
        for r in rows
    ]
    if not rows:
        lines.append("| (none executed yet) | | | | | |")
    else:
        total = sum(r["seconds"] for r in rows if isinstance(r["seconds"], int))
        lines.append(f"| **all notebooks** | | | | {total} ({total / 60:.1f} min) | |")
    lines += ["", "Rerun them all with `make book` (or `make book PROFILE=<name>`).", ""]
    if runs_root is not None and rows:
        lines += provenance(runs_root)
        from .profile import markdown, profile

        lines += [
            "## Where the time went",
            "",
            "Each notebook's wall time, and the artifacts it built, by stage: how many, their build",
            "seconds added up (runs built side by side in worker processes add up to more than the",
            "wall time), and the part spent in training steps or generation. Read from the executed",
            "notebooks and the artifacts' manifests (`python -m sdft_lib.book.profile book/executed",
            "runs/<profile>`); a notebook that reused everything built nothing.",
            "",
            markdown(profile(folder, runs_root)),
            "",
        ]
    lines += [
        "## Known issues",
        "",
        "Messages the built pages log in the browser's console that come from the packages the book",
        "is built with; the browser test allows exactly these and fails on any other:",
        "",
    ]
    lines += [f"- `{text}`: {why}" for text, why in KNOWN_ISSUES]
    lines.append("")
    return "\n".join(lines)


def parameters_markdown() -> str:
    """The parameter reference page, generated from the configuration itself (its fields, their
    descriptions and bounds, and which artifacts each rebuilds: ``config.ARTIFACT_FIELDS``): one
    entry per parameter, so the page reads on a narrow screen."""
    from ..config import parameter_reference

    text = lambda t: str(t).replace("<", "&lt;").replace(">", "&gt;")
    lines = [
        "# Parameters",
        "",
        "Every parameter a run takes, generated from the configuration (`sdft_lib/config.py`) when the",
        "book is built. Give one to a notebook as `-p name value` (papermill, `make pipeline",
        "PARAMS=...`), to the command line as `python -m sdft_lib.cli <profile> -p name value`, or in a",
        "profile (`params/<name>.yaml`); the values shown are the defaults a profile starts from. A new",
        "value rebuilds the artifacts listed and reuses every other one (each artifact's cache key is",
        "built from the parameters it depends on; `tests/test_keys.py` checks that none is left out).",
        "",
    ]
    for r in parameter_reference():
        lines.append(
            f"- **`{r['name']}`** ({text(r['allowed'])}; default `{r['default']}`): {text(r['description'])} "
            f"*A new value rebuilds:* {text(r['rebuilds'])}."
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder, out = Path(argv[0]), Path(argv[1])
    runs_root = Path(argv[2]) if len(argv) > 2 else None
    for path in sorted(folder.glob("*.ipynb")):
        hide_injected_parameters(path)
    write_text(out, status_markdown(folder, runs_root))
    write_text(out.parent / "parameters.md", parameters_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
