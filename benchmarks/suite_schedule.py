"""Where a parallel `make test` spent its time: per worker, per test file, and the idle tail.

    SDFT_TEST_TIMELINE=/tmp/timeline.jsonl make test
    .venv/bin/python benchmarks/suite_schedule.py /tmp/timeline.jsonl

The timeline has one JSON line per test (``tests/conftest.py`` writes it when SDFT_TEST_TIMELINE is
set): the worker, the test's id, its start and stop (setup and teardown included). This prints the
span of the run, each worker's busy seconds and how long it sat idle at the end while the other
worked, the heaviest test files, and the span that the heaviest-first order of those files would give
(longest-processing-time scheduling of whole files, the unit ``--dist loadfile`` sends). With
``--json`` it prints one JSON line instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


def load(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            row["seconds"] = float(row["stop"]) - float(row["start"])
            row["file"] = row["test"].split("::", 1)[0]
        except (ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"{path}, line {n}: not a timeline record ({exc})") from None
        rows.append(row)
    if not rows:
        raise SystemExit(f"{path}: no tests in the timeline")
    return rows


def lpt_span(costs: list[float], workers: int) -> float:
    """The span of whole units handed out heaviest first, each to the worker free soonest."""
    loads = [0.0] * workers
    for cost in sorted(costs, reverse=True):
        loads[loads.index(min(loads))] += cost
    return max(loads)


def summary(rows: list[dict], top: int = 12) -> dict:
    start = min(r["start"] for r in rows)
    stop = max(r["stop"] for r in rows)
    workers = defaultdict(list)
    for r in rows:
        workers[r["worker"]].append(r)
    per_worker = {
        w: {
            "busy_s": round(sum(r["seconds"] for r in rs), 1),
            "idle_at_end_s": round(stop - max(r["stop"] for r in rs), 1),
            "tests": len(rs),
        }
        for w, rs in sorted(workers.items())
    }
    files = defaultdict(float)
    for r in rows:
        files[r["file"]] += r["seconds"]
    heaviest = sorted(files.items(), key=lambda kv: -kv[1])[:top]
    tests = sorted(rows, key=lambda r: -r["seconds"])[:top]
    busy = sum(r["seconds"] for r in rows)
    return {
        "span_s": round(stop - start, 1),
        "busy_s": round(busy, 1),
        "workers": per_worker,
        "even_split_s": round(busy / len(workers), 1),
        "heaviest_first_files_s": round(lpt_span(list(files.values()), len(workers)), 1),
        "heaviest_files": [[f, round(s, 1)] for f, s in heaviest],
        "slowest_tests": [[r["test"], round(r["seconds"], 1)] for r in tests],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("timeline", type=Path)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not args.timeline.is_file():
        why = "no such file (run make test with SDFT_TEST_TIMELINE set)"
        print(f"timeline {args.timeline}: {why}", file=sys.stderr)
        return 2
    s = summary(load(args.timeline), args.top)
    if args.json:
        print(json.dumps(s))
        return 0
    print(f"span {s['span_s']} s, busy {s['busy_s']} s over {len(s['workers'])} workers")
    for w, v in s["workers"].items():
        print(f"  {w}: busy {v['busy_s']} s, {v['tests']} tests, idle at the end {v['idle_at_end_s']} s")
    print(
        f"an even split would take {s['even_split_s']} s; "
        f"whole files heaviest first {s['heaviest_first_files_s']} s"
    )
    print("heaviest files:")
    for f, sec in s["heaviest_files"]:
        print(f"  {sec:8.1f}  {f}")
    print("slowest tests:")
    for t, sec in s["slowest_tests"]:
        print(f"  {sec:8.1f}  {t}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
