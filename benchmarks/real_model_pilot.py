"""Which task can the real model learn on this CPU? The seed against one short SFT run, per candidate.

    .venv/bin/python benchmarks/real_model_pilot.py --out benchmarks/results/real_model_pilot.json

For each candidate task of the paper's data (OpenFunctions; GSM8K, scored on GSM8K and on
MultiArith; Dolly, held-out records scored by ROUGE-L against their reference), on the ``smollm2``
profile (SmolLM2-135M-Instruct, greedy, its own chat template): score the seed on the held-out
prompts, train one LoRA SFT run on the first ``--examples`` training records, and score it again,
all through the library's cached stages (``evaluation.evaluate_seed`` / ``evaluate_point``). Prints
a table (task, benchmark, n, seed, SFT, the gain in points, seconds) and writes it as JSON.
The chosen task is the one where SFT gains at least 10 points on its own benchmark.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def candidates(data_dir: str, n_test: int) -> dict[str, dict]:
    dolly = str(Path(data_dir).expanduser() / "dolly" / "dolly_train.json")
    n_dolly = len(json.loads(Path(dolly).read_text(encoding="utf-8"))) if Path(dolly).is_file() else 2000
    return {
        "openfunction": {
            "dataset": "openfunction",
            "eval_benchmarks": ["openfunction"],
            "eval_limit": n_test,
        },
        "gsm8k": {
            "dataset": "gsm8k",
            "eval_benchmarks": ["gsm8k", "multiarith"],
            "eval_limit": n_test,
            "max_new_tokens": 128,
        },
        # your-own-data path: a held-out fraction of the records, scored by ROUGE-L
        "dolly": {
            "dataset": dolly,
            "test_fraction": min(0.5, round(n_test / n_dolly, 4)),
            "distill_check": "rouge_l",
            "eval_benchmarks": [],
            "max_new_tokens": 96,
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="smollm2")
    ap.add_argument("--tasks", default="openfunction,gsm8k,dolly")
    ap.add_argument("--examples", type=int, default=128, help="training records of the SFT run")
    ap.add_argument(
        "--test",
        type=int,
        default=48,
        help="held-out prompts per benchmark (the first N; OpenFunctions has 112)",
    )
    ap.add_argument("--run-root", default="runs/pilot")
    ap.add_argument(
        "--data-dir", default=None, help="the paper's data folder (default: the profile's data_dir)"
    )
    ap.add_argument(
        "--max-new-tokens", type=int, default=0, help="cap every task's answer length (0: the task's own)"
    )
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    from sdft_lib import evaluation, runtime
    from sdft_lib.config import load_config

    base = load_config(args.profile, **({"data_dir": args.data_dir} if args.data_dir else {}))
    table = []
    for name in args.tasks.split(","):
        over = {"data_dir": base.data_dir, **candidates(base.data_dir, args.test)[name]}
        if args.max_new_tokens:
            over["max_new_tokens"] = min(args.max_new_tokens, over.get("max_new_tokens", base.max_new_tokens))
        cfg = load_config(
            args.profile, run_dir=f"{args.run_root}/{name}", max_train_examples=args.examples, **over
        )
        runtime.setup(cfg)
        t0 = time.time()
        seed = evaluation.evaluate_seed(cfg)
        t1 = time.time()
        sft = evaluation.evaluate_point(cfg, "sft", cfg.learning_rate, cfg.epochs, cfg.ft_seeds[0])
        t2 = time.time()
        for bench, s in seed.items():
            row = {
                "task": name,
                "benchmark": bench,
                "n": s["n"],
                "seed": s["lenient"],
                "sft": sft[bench]["lenient"],
                "seed_strict": s["strict"],
                "sft_strict": sft[bench]["strict"],
                "gain": round(sft[bench]["lenient"] - s["lenient"], 2),
                "seconds_seed_eval": round(t1 - t0, 1),
                "seconds_sft_train_and_eval": round(t2 - t1, 1),
            }
            table.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n{'task':<13}{'benchmark':<14}{'n':>5}{'seed':>8}{'SFT':>8}{'gain':>8}{'s seed':>8}{'s SFT':>8}")
    for r in table:
        print(
            f"{r['task']:<13}{r['benchmark']:<14}{r['n']:>5}{r['seed']:>8.1f}{r['sft']:>8.1f}{r['gain']:>8.1f}"
            f"{r['seconds_seed_eval']:>8.0f}{r['seconds_sft_train_and_eval']:>8.0f}"
        )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(
            json.dumps({"examples": args.examples, "test": args.test, "rows": table}, indent=1)
        )


if __name__ == "__main__":
    main()
