"""One evaluation of a fine-tuned teaching model, the old path against the new, back to back.

    .venv/bin/python benchmarks/eval_path.py --run-dir runs/toy --runs 4

``old``: every prompt rendered through the chat template at each evaluation, and Hugging Face's
``generate`` (finished rows ride along to the last step). ``new``: what the book runs since
2026-12-06: rendered prompts cached per tokenizer (``Benchmark.prompts``) and plain greedy search
through ``generation.greedy_decode`` (stopped rows leave the batch). For each of the first ``--runs``
fine-tuning runs of ``--run-dir`` (built by chapter 4 or 7) it evaluates the merged model on the
world's benchmarks old, new, old, new in one process on one thread, checks that both paths give the
same rows, and prints one JSON line: median seconds of each path and their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="toy")
    ap.add_argument("--run-dir", default="runs/toy")
    ap.add_argument("--runs", type=int, default=4)
    args = ap.parse_args(argv)

    runs = sorted(p for p in (Path(args.run_dir) / "training").glob("*") if (p / "manifest.json").is_file())
    if not runs:
        print(
            f"--run-dir {args.run_dir}: no training runs in its training/ (build chapter 4 first)",
            file=sys.stderr,
        )
        return 2
    import torch

    torch.set_num_threads(1)
    from sdft_lib import benchmarks, generation
    from sdft_lib.config import load_config
    from sdft_lib.evaluation import run_benchmarks
    from sdft_lib.report import quiet
    from sdft_lib.training import load_finetuned

    cfg = load_config(args.profile, run_dir=args.run_dir)
    benches, _ = run_benchmarks(cfg)
    lean = generation.plain_greedy
    seconds: dict[str, list[float]] = {"old": [], "new": []}
    identical = True
    for run in runs[: args.runs]:
        model, tok = load_finetuned(cfg, run, merge=True)
        rows = {}
        for path in ("old", "new", "old", "new"):
            generation.plain_greedy = (lambda model, decoding: False) if path == "old" else lean
            if path == "old":
                benchmarks._PROMPT_CACHE.clear()
            start = time.perf_counter()
            with quiet():
                _, out = benchmarks.evaluate(model, tok, benches, cfg.max_new_tokens, cfg.gen_batch_size)
            seconds[path].append(time.perf_counter() - start)
            rows.setdefault(path, out)
        identical &= rows["old"] == rows["new"]
    generation.plain_greedy = lean
    old, new = (statistics.median(seconds[k]) for k in ("old", "new"))
    print(
        json.dumps(
            {
                "runs": [r.name for r in runs[: args.runs]],
                "prompts": sum(len(b.records) for b in benches),
                "old_s": round(old, 2),
                "new_s": round(new, 2),
                "ratio": round(old / new, 2),
                "identical_rows": identical,
            }
        )
    )
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
