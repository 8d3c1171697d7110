"""Distilled responses per second: the batched HF backend against batch size 1 (issue: self-distillation).

    .venv/bin/python benchmarks/distill_speed.py --profile toy --n 256 --batch-sizes 1,16,64,128

Uses the run's seed model (built if missing, in runs/<profile> or --run-dir) and the first --n
training examples of its task, rendered through the run's distillation template, greedy decoding.
Checks that every batch size returns exactly the batch-size-1 text.
"""

from __future__ import annotations

import argparse
import json

from sdft_lib import runtime
from sdft_lib import self_distillation as sd
from sdft_lib.config import load_config
from sdft_lib.data import load_task
from sdft_lib.generation import throughput
from sdft_lib.models import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="toy")
    ap.add_argument("--run-dir", default=None)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--batch-sizes", default="1,16,64,128")
    args = ap.parse_args()

    cfg = load_config(args.profile, run_dir=args.run_dir)
    info = runtime.setup(cfg)
    model, tok = load_model(cfg)
    records, _ = load_task(cfg, "train")
    prompts = sd.distill_prompts(
        records[: args.n], sd.distill_template_name(cfg), tok, cfg.cutoff_len, cfg.paper_branch
    )
    rows, reference = [], None
    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        r = throughput(model, tok, prompts, cfg.decoding(), batch_size=bs)
        reference = reference or r["outputs"]
        r["identical_to_batch_1"] = r["outputs"] == reference
        del r["outputs"]
        rows.append(r)
    base = rows[0]["responses_per_s"]
    for r in rows:
        r["speedup_vs_first"] = round(r["responses_per_s"] / base, 2)
    print(
        json.dumps(
            {"profile": cfg.profile, "device": info["device"], "threads": info["threads"], "results": rows},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
