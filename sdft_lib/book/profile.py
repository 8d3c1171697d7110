"""Where a build of the book spends its time: every notebook, and every artifact it built.

Read after the fact from what a build leaves behind, so it costs the build nothing:

- each executed notebook's papermill metadata (its wall time, and each cell's);
- each artifact's ``manifest.json`` under the run folder (its stage, the seconds its build took, the
  part spent in the training loop or in generation, and when it finished).

An artifact belongs to the notebook that was running when it finished. Artifacts built in parallel
workers add up to more seconds than the notebook's wall time; ``busy s`` is that sum.

    python -m sdft_lib.book.profile book/executed runs/toy      # the table, as Markdown
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

# How each stage's seconds split: (field in the manifest, what that part is); the first match wins
_PARTS = {
    "teaching_world/seed": (("timings", "training"), "training steps"),
    "training/onpolicy": (("metrics", "train_seconds"), "training steps (with generation)"),
    "training": (("metrics", "train_seconds"), "training steps"),
    "self_distillation": (("report", "generation_seconds"), "generation"),
}


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            t = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def stage_kind(stage: str) -> str:
    """A stage name as the profile groups it: ``evaluation/sft-lr0.003-...`` -> ``evaluation``,
    lm-eval runs apart, WiSE-FT/LiNeS evaluations apart."""
    head, _, name = stage.partition("/")
    if head == "evaluation":
        if name.startswith("lm_eval"):
            return "lm-eval"
        if "-wise-" in name or "-lines-" in name:
            return "evaluation (rescaled)"
        return "evaluation"
    if head == "training" and name not in ("sft", "sdft"):
        return f"training/{name.split('-')[0]}"
    return stage


def _part(man: dict) -> tuple[float | None, str]:
    stage = man.get("stage", "")
    for prefix, (path, what) in _PARTS.items():
        if stage == prefix or stage.startswith(prefix + "/"):
            value = man
            for k in path:
                value = (value or {}).get(k) if isinstance(value, dict) else None
            return (float(value) if isinstance(value, (int, float)) else None), what
    if stage.startswith("evaluation"):
        return float(man.get("seconds") or 0.0), "generation and scoring"
    return None, ""


def artifacts(runs_root: Path) -> list[dict]:
    """Every finished artifact under ``runs_root``: stage, kind, seconds, the dominant part's seconds."""
    out = []
    for m in sorted(Path(runs_root).rglob("manifest.json")) if Path(runs_root).is_dir() else []:
        if any(p.startswith(".") for p in m.relative_to(runs_root).parts[:-1]):
            continue  # partial folders
        try:
            man = json.loads(m.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if "stage" not in man or "seconds" not in man:
            continue
        part, what = _part(man)
        out.append(
            {
                "stage": man["stage"],
                "kind": stage_kind(man["stage"]),
                "seconds": float(man["seconds"]),
                "part_seconds": part,
                "part": what,
                "finished": _when(man.get("finished")),
                "path": str(m.parent.relative_to(runs_root)),
            }
        )
    return out


def notebooks(executed: Path) -> list[dict]:
    """Each executed notebook: name, wall seconds, start and end (papermill's metadata)."""
    paths = [
        p
        for p in sorted(Path(executed).glob("[0-9]*.ipynb")) + sorted(Path(executed).glob("lab*.ipynb"))
        if ".partial" not in p.name
    ]  # a notebook still running
    out = []
    for p in paths:
        pm = json.loads(p.read_text(encoding="utf-8")).get("metadata", {}).get("papermill", {})
        out.append(
            {
                "notebook": p.stem,
                "seconds": float(pm.get("duration") or 0.0),
                "start": _when(pm.get("start_time")),
                "end": _when(pm.get("end_time")),
            }
        )
    return out


def profile(executed: Path, runs_root: Path) -> list[dict]:
    """One row per (notebook, stage kind): artifacts built, their summed seconds, the dominant part;
    and one row per notebook for what no artifact accounts for (loading, plotting, reused lookups)."""
    nbs = notebooks(executed)
    arts = artifacts(runs_root)
    rows = []
    for nb in nbs:
        mine = [
            a
            for a in arts
            if nb["start"] and nb["end"] and a["finished"] and nb["start"] <= a["finished"] <= nb["end"]
        ]
        kinds: dict[str, list[dict]] = {}
        for a in mine:
            kinds.setdefault(a["kind"], []).append(a)
        for kind, group in sorted(kinds.items(), key=lambda kv: -sum(a["seconds"] for a in kv[1])):
            parts = [a["part_seconds"] for a in group if a["part_seconds"] is not None]
            rows.append(
                {
                    "notebook": nb["notebook"],
                    "stage": kind,
                    "built": len(group),
                    "busy_s": round(sum(a["seconds"] for a in group), 1),
                    "dominant": (f"{group[0]['part']} {sum(parts):.0f} s" if parts else ""),
                }
            )
        busy = sum(a["seconds"] for a in mine)
        rows.append(
            {
                "notebook": nb["notebook"],
                "stage": "(notebook wall time)",
                "built": len(mine),
                "busy_s": round(nb["seconds"], 1),
                "dominant": (
                    f"artifacts {busy:.0f} s busy; the rest {max(0.0, nb['seconds'] - busy):.0f} s"
                    " (loading, reuse, plots)"
                    if busy <= nb["seconds"]
                    else f"artifacts {busy:.0f} s busy in parallel workers"
                ),
            }
        )
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| notebook | stage | artifacts built | busy s | what dominates |", "|---|---|---|---|---|"]
    lines += [
        f"| {r['notebook']} | {r['stage']} | {r['built']} | {r['busy_s']:.0f} | {r['dominant']} |"
        for r in rows
    ]
    walls = [r["busy_s"] for r in rows if r["stage"] == "(notebook wall time)"]
    lines.append(f"| **all notebooks** | | | {sum(walls):.0f} ({sum(walls) / 60:.1f} min) | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(
            "usage: python -m sdft_lib.book.profile <executed notebooks folder> <run folder>", file=sys.stderr
        )
        return 2
    print(markdown(profile(Path(argv[0]), Path(argv[1]))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
