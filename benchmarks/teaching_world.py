"""The teaching world's seed against its targets: skills, rewrite acceptance, build time.

    .venv/bin/python benchmarks/teaching_world.py --profile toy --run-dir runs/toy
    .venv/bin/python benchmarks/teaching_world.py --profile toy --run-dir /tmp/tw --set seed_epochs=3

Builds (or reuses) the world and the seed model of ``--profile`` (with each ``--set key=value``, the
value read as YAML) in ``--run-dir``, then prints one JSON line: the seed's build timings and
parameter count, its held-out accuracy per skill (lenient and strict), and its rewrite acceptance on
the task's whole training set (the prompt self-distillation sends: the paper's final-answer check,
and the stricter check that every ``a op b = c`` of the working is right), with the NLL the seed gives
the task's original answers, its own rewrites and the ideal rewrite in its voice. A fresh
``--run-dir`` measures a cold build; ``--out`` also writes the report as JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time

import yaml


def _overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {pair!r}: give key=value (a RunConfig field and a YAML value)")
        out[key.strip()] = yaml.safe_load(value)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="toy")
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", default=None, help="also write the report as JSON here")
    args = ap.parse_args(argv)

    from sdft_lib import benchmarks, runtime
    from sdft_lib.config import ConfigError, load_config
    from sdft_lib.data import read_records
    from sdft_lib.likelihood import mean_nll, response_nll
    from sdft_lib.models import load_model
    from sdft_lib.teaching_world import build as tw
    from sdft_lib.teaching_world.world import TASK

    overrides = _overrides(args.set)
    try:
        cfg = load_config(args.profile, run_dir=args.run_dir, **overrides)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if not cfg.is_teaching:
        print(f"--profile {args.profile}: not a teaching-world profile (model: {cfg.model})", file=sys.stderr)
        return 2
    runtime.setup(cfg)
    t0 = time.time()
    seed_dir = tw.build_seed_model(cfg)
    wall = time.time() - t0
    info = tw.seed_summary(seed_dir)
    model, tok = load_model(cfg, path=str(seed_dir))
    task = read_records(tw.world_path(cfg) / "task_train.json")

    t1 = time.time()
    probe = benchmarks.run_rewrite_probe(model, tok, task, cfg.gen_batch_size)
    probe_s = time.time() - t1
    rewrites = [dict(r, output=ex) for r, ex in zip(task, probe["rewrites"])]
    voice = [dict(r, output=_voice(r)) for r in task]

    kept = {k: v for k, v in info["scores"].items() if k != TASK}
    report = {
        "profile": cfg.profile,
        "overrides": overrides,
        "parameters": info["parameters"],
        "build_seconds_this_call": round(wall, 1),
        "timings": info["timings"],
        "scores": info["scores"],
        "kept_mean_lenient": round(sum(v["lenient"] for v in kept.values()) / len(kept), 2),
        "rewrite": {k: probe[k] for k in ("n", "final_answer_ok", "working_ok")},
        "rewrite_seconds": round(probe_s, 1),
        "nll_task_original": round(mean_nll(response_nll(model, tok, task)), 3),
        "nll_task_seed_rewrites": round(mean_nll(response_nll(model, tok, rewrites)), 3),
        "nll_task_ideal_voice": round(mean_nll(response_nll(model, tok, voice)), 3),
        "targets": {
            "task < 20": info["scores"][TASK]["lenient"] < 20,
            "rewrite acceptance >= 90": probe["final_answer_ok"] >= 90,
        },
    }
    print(json.dumps(report))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
    return 0


def _voice(rec: dict) -> str:
    """The task's answer in the seed's voice (what a perfect rewrite says)."""
    from sdft_lib.teaching_world.world import task_voice

    a, b, c = map(int, re.match(r"(\d+)\*(\d+)=<<\d+\*\d+=(\d+)>>", rec["output"]).groups())
    return task_voice({"a": a, "b": b, "op": "*", "c": c})


if __name__ == "__main__":
    sys.exit(main())
