"""Benchmark the teaching world against its targets (issue: the teaching world).

    .venv/bin/python benchmarks/teaching_world.py --profile toy --run-dir /tmp/tw-bench

Builds (or reuses) the world and the seed model in --run-dir, then reports: build timings, per-skill
held-out accuracy (lenient and strict), rewrite acceptance on the task's training set with the
paper's final-answer check and the stricter working check, and the NLL gap between the task's
original responses and the seed's rewrites. A fresh --run-dir measures a cold build.
"""

from __future__ import annotations

import argparse
import json
import time

from sdft_lib import runtime
from sdft_lib.config import load_config
from sdft_lib.likelihood import mean_nll, response_nll
from sdft_lib.teaching_world import build as tw
from sdft_lib.teaching_world.world import TASK, task_voice


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="toy")
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--out", default=None, help="also write the report as JSON here")
    args = ap.parse_args()

    cfg = load_config(args.profile, run_dir=args.run_dir)
    runtime.setup(cfg)
    t0 = time.time()
    seed_dir = tw.build_seed_model(cfg)
    wall = time.time() - t0
    info = tw.seed_summary(seed_dir)
    world_dir = tw.world_path(cfg)
    model, tok = tw.load_seed_model(seed_dir)
    task = tw.load_records(world_dir / "task_train.json")

    t1 = time.time()
    probe = tw.rewrite_probe(model, tok, task, cfg)
    probe_s = time.time() - t1
    rewrites = [dict(r, output=ex) for r, ex in zip(task, probe["rewrites"])]
    nll_orig = mean_nll(response_nll(model, tok, task))
    nll_rew = mean_nll(response_nll(model, tok, rewrites))
    nll_voice = mean_nll(response_nll(model, tok, [dict(r, output=_voice(r)) for r in task]))

    kept = {k: v for k, v in info["scores"].items() if k != TASK}
    report = {
        "profile": cfg.profile,
        "parameters": info["parameters"],
        "build_seconds_this_call": round(wall, 1),
        "build_seconds_recorded": info["seconds"],
        "timings": info["timings"],
        "scores": info["scores"],
        "rewrite": {k: probe[k] for k in ("n", "final_answer_ok", "working_ok")},
        "rewrite_seconds": round(probe_s, 1),
        "nll_task_original": round(nll_orig, 3),
        "nll_task_seed_rewrites": round(nll_rew, 3),
        "nll_task_ideal_voice": round(nll_voice, 3),
        "targets": {
            "kept skills >= 95 (lenient)": min(v["lenient"] for v in kept.values()) >= 95,
            "task < 20": info["scores"][TASK]["lenient"] < 20,
            "seed build <= 360 s": info["seconds"] <= 360,
            "rewrite acceptance >= 90": probe["final_answer_ok"] >= 90,
        },
    }
    print(json.dumps(report, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)


def _voice(rec):
    """The task's answer written in the seed's voice (what a perfect rewrite would say)."""
    import re

    a, b, c = map(int, re.match(r"(\d+)\*(\d+)=<<\d+\*\d+=(\d+)>>", rec["output"]).groups())
    return task_voice({"a": a, "b": b, "op": "*", "c": c})


if __name__ == "__main__":
    main()
