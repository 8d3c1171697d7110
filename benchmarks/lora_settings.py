"""Which fine-tuning settings learn the teaching world's task, and what do SFT and SDFT forget?

    .venv/bin/python benchmarks/lora_settings.py --profile toy --n 100 \
        --setting '{"lora_targets": "q_proj,v_proj", "lora_r": 8, "learning_rate": 1e-4,
                   "epochs": 2, "batch_size": 2, "grad_accum": 4}' \
        --setting '{"learning_rate": 1e-3}' --setting '{"learning_rate": 3e-3}'

Each --setting is a JSON object of RunConfig overrides on top of the profile. For each one, trains
SFT and SDFT (reusing finished runs in the profile's run directory), evaluates the merged model on
the first --n held-out prompts of every skill (greedy), and prints one JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import time

from sdft_lib import benchmarks, runtime, training
from sdft_lib.config import load_config
from sdft_lib.teaching_world import build as tw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="toy")
    ap.add_argument("--n", type=int, default=100, help="held-out prompts per skill")
    ap.add_argument("--setting", action="append", default=[], help="JSON overrides; repeatable")
    args = ap.parse_args()
    for overrides in [json.loads(s) for s in args.setting] or [{}]:
        cfg = load_config(args.profile, **overrides)
        runtime.setup(cfg)
        sets = {k: v[: args.n] for k, v in tw.eval_sets(tw.build_world_data(cfg)).items()}
        for variant in training.VARIANTS:
            t0 = time.time()
            path = training.train_adapter(cfg, variant)
            model, tok = training.load_finetuned(cfg, path, merge=True)
            scores, _ = benchmarks.evaluate(
                model, tok, benchmarks.teaching(sets), benchmarks.TEACHING_MAX_NEW_TOKENS, cfg.gen_batch_size
            )
            print(
                json.dumps(
                    {
                        "setting": overrides,
                        "variant": variant,
                        "train_seconds": training.run_metrics(path)["train_seconds"],
                        "wall_seconds": round(time.time() - t0, 1),
                        "lenient": {k: v["lenient"] for k, v in scores.items()},
                        "strict": {k: v["strict"] for k, v in scores.items()},
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
