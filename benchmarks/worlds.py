"""Does the frontier's story hold in other teaching worlds? SFT against SDFT, and the methods' ranking,
world by world.

    .venv/bin/python benchmarks/worlds.py --worlds 0,1,2 --weight-lrs 0.0003,0.001 \
        --out benchmarks/measured/worlds.json

Each world seed is the profile's ``seed`` (``-p seed`` in a notebook): another synthetic world, drawn
afresh, and another seed model trained from scratch on it. In each world the script runs the core of
chapter 7 through the same library calls (``frontier.world_study``): SFT and SDFT at every learning
rate of the sweep and every fine-tuning seed, replay, WiSE-FT of SFT's runs and, with
``--weight-lrs``, full fine-tuning and Half Fine-Tuning. It scores them as chapter 7 does: the verdict
at matched task accuracy, and the ranking at 90% of SFT's task accuracy. Finished runs are reused
(world 0 is the book's own world when the profile's run folder holds it).

It writes one JSON file (atomically): the command, the date, the commit, the settings, one record
per world and the wall seconds. It also prints one JSON line per world. Chapter 7 renders the file
``benchmarks/measured/worlds.json``: the book's build does not rerun it (on 2 cores a new world took
about 8 minutes on 2026-12-04: its seed model, then 33 runs and their scores).
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

from sdft_lib import config, frontier, runtime
from sdft_lib.config import load_config
from sdft_lib.errors import ConfigError
from sdft_lib.runs import write_text

ROOT = Path(__file__).resolve().parents[1]


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="toy")
    ap.add_argument("--worlds", default="0,1,2", help="world seeds, comma-separated")
    ap.add_argument("--ft-seeds", default=None, help="fine-tuning seeds (default: the profile's ft_seeds)")
    ap.add_argument("--lrs", default=None, help="SFT's and SDFT's learning rates (default: sweep_lrs)")
    ap.add_argument("--replay", default="1", help="replay ratios ('' for none)")
    ap.add_argument("--alphas", default="0.5", help="WiSE-FT's α for SFT's runs ('' for none)")
    ap.add_argument(
        "--weight-lrs", default="", help="full fine-tuning's and HFT's learning rates ('' for none)"
    )
    ap.add_argument("--out", required=True, help="the JSON file to write")
    args = ap.parse_args()
    try:
        worlds = [int(w) for w in config.parse_floats("--worlds", args.worlds, 0, 2**31 - 1)]
        base = load_config(args.profile)
        seeds = (
            [int(s) for s in config.parse_floats("--ft-seeds", args.ft_seeds, 0, 2**31 - 1)]
            if args.ft_seeds
            else list(base.ft_seeds or [base.seed])
        )
        lrs = (
            config.parse_floats("--lrs", args.lrs, 1e-8, 1.0)
            if args.lrs
            else list(base.sweep_lrs or [base.learning_rate])
        )
        replay = config.parse_floats("--replay", args.replay, 0.0, 4.0) if args.replay else []
        alphas = config.parse_floats("--alphas", args.alphas, 0.0, 1.0) if args.alphas else []
        weight_lrs = (
            config.parse_floats("--weight-lrs", args.weight_lrs, 1e-8, 1.0) if args.weight_lrs else []
        )
        if not base.is_teaching:
            raise ConfigError(f"--profile {args.profile} is not allowed: the worlds are the teaching world's")
        if base.learning_rate not in lrs:
            raise ConfigError(
                f"--lrs {args.lrs} is not allowed: it must hold the profile's {base.learning_rate:g}"
            )
    except ConfigError as e:
        sys.exit(f"worlds.py: {e}")
    t0 = time.time()
    records = []
    for w in worlds:
        cfg = base.replace(seed=w)
        runtime.setup(cfg)
        t = time.time()
        rec = frontier.world_study(cfg, seeds, lrs, replay, alphas, weight_lrs)
        rec["seconds"] = round(time.time() - t, 1)
        records.append(rec)
        print(json.dumps({k: rec[k] for k in ("world", "seed_model", "best_method", "sdft_rank", "seconds")}))
        print(json.dumps({"world": w, "verdict": rec["verdict"]}), flush=True)
    out = {
        "command": shlex.join(["python", "benchmarks/worlds.py", *sys.argv[1:]]),
        "date": datetime.date.today().isoformat(),
        "commit": _commit(),
        "profile": args.profile,
        "settings": {
            "worlds": worlds,
            "ft_seeds": seeds,
            "lrs": lrs,
            "learning_rate": base.learning_rate,
            "replay": replay,
            "alphas": alphas,
            "weight_lrs": weight_lrs,
        },
        "threads": torch.get_num_threads(),
        "seconds": round(time.time() - t0, 1),
        "records": records,
    }
    write_text(Path(args.out), json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
