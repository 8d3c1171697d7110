"""Independent runs one after another on every thread, against side by side one thread each.

    .venv/bin/python benchmarks/parallel_runs.py --profile toy --teaching-world-dir runs/toy/teaching_world \
        --runs 4 --out benchmarks/results/parallel_runs.json

Trains and scores ``--runs`` SFT runs (seeds 100, 101, ...) of the profile twice, each time in a new
run folder under a temporary directory that shares the seed model (``--teaching-world-dir``, built
if missing): first in this process with all threads (``OMP_NUM_THREADS`` or every core), then
through :func:`sdft_lib.parallel.prebuild` with one worker per thread. Prints the wall seconds of
both and their ratio, and whether the two ways gave the same scores (thread counts can change float
sums, so a greedy answer may differ).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="toy")
    ap.add_argument("--teaching-world-dir", required=True)
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads here, and workers (0: OMP_NUM_THREADS or every core)",
    )
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    from sdft_lib import evaluation, parallel, runtime
    from sdft_lib.config import load_config

    world = str(Path(args.teaching_world_dir).resolve())
    seeds = list(range(100, 100 + args.runs))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("sequential", "parallel"):
            cfg = load_config(
                args.profile,
                run_dir=str(Path(tmp) / mode),
                teaching_world_dir=world,
                threads=args.threads,
                parallel_runs=0 if mode == "parallel" else 1,
            )
            info = runtime.setup(cfg)
            jobs = [
                (
                    "sdft_lib.evaluation:evaluate_point",
                    {"variant": "sft", "lr": cfg.learning_rate, "epochs": cfg.epochs, "seed": s},
                )
                for s in seeds
            ]
            evaluation.evaluate_seed(cfg)  # built once, outside the timing
            t0 = time.perf_counter()
            workers = parallel.prebuild(cfg, jobs) if mode == "parallel" else 1
            scores = [evaluation.evaluate_point(cfg, "sft", cfg.learning_rate, cfg.epochs, s) for s in seeds]
            secs = time.perf_counter() - t0
            results[mode] = {
                "seconds": round(secs, 1),
                "workers": workers,
                "threads": info["threads"],
                "scores": scores,
            }
            print(f"{mode}: {secs:.1f} s ({workers} worker(s), {info['threads']} thread(s) in this process)")
    ratio = results["sequential"]["seconds"] / results["parallel"]["seconds"]
    same = results["sequential"]["scores"] == results["parallel"]["scores"]
    print(f"speed-up {ratio:.2f}x; identical scores: {same}")
    report = {
        "profile": args.profile,
        "runs": args.runs,
        "cpus": os.cpu_count(),
        "speedup": round(ratio, 2),
        "identical_scores": same,
        **{k: {kk: vv for kk, vv in v.items() if kk != "scores"} for k, v in results.items()},
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
