"""Write the book's status page: each executed notebook, its profile, when it ran and how long.

Read from the metadata papermill stores in every executed notebook, so the page says what the
rendered book really shows. Usage: ``python -m sdft_lib.bookstatus book/executed book/status.md``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .runs import write_text


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


def status_markdown(folder: Path) -> str:
    rows = [notebook_status(p) for p in sorted(folder.glob("[0-9]*.ipynb"))]
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
    lines += [f"| {r['notebook']} | {r['profile']} | {r['parameters']} | {r['finished']} | "
              f"{r['seconds']} | {r['status']} |" for r in rows]
    if not rows:
        lines.append("| (none executed yet) | | | | | |")
    lines += ["", "Rerun them all with `make book` (or `make book PROFILE=<name>`).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder, out = Path(argv[0]), Path(argv[1])
    write_text(out, status_markdown(folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
