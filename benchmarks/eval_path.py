"""One evaluation of a fine-tuned teaching model, the old path against the new, back to back.

    .venv/bin/python benchmarks/eval_path.py --run-dir runs/toy --runs 4
    .venv/bin/python benchmarks/eval_path.py --run-dir runs/toy --runs 4 --old pooling

``new`` is what the book runs. ``old`` is the same without the speed-ups that ``--old`` names
(default: all three): ``prompts``, every prompt rendered through the chat template at each evaluation
(not cached per tokenizer in ``Benchmark.prompts``); ``decoding``, Hugging Face's ``generate``, where
finished rows ride along to the last step (not ``generation.greedy_decode``, where stopped rows leave
the batch); ``pooling``, one generation per benchmark (not ``benchmarks.answer_pooled``, one for all
the benchmarks that share a length limit). For each of the first ``--runs`` fine-tuning runs of
``--run-dir`` (built by chapter 4 or 7) it evaluates the merged model on the world's benchmarks old,
new, old, new in one process on one thread, checks that both paths give the same rows, and prints one
JSON line: median seconds of each path and their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

SPEED_UPS = ("prompts", "decoding", "pooling")


def speed_ups(text: str) -> tuple[str, ...]:
    """``--old``: some of :data:`SPEED_UPS`, comma-separated."""
    names = tuple(n for n in text.split(",") if n)
    bad = [n for n in names if n not in SPEED_UPS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(SPEED_UPS)}, comma-separated")
    return names


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="toy")
    ap.add_argument("--run-dir", default="runs/toy")
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument(
        "--old",
        type=speed_ups,
        default=SPEED_UPS,
        help=f"what the old path goes without, comma-separated from {','.join(SPEED_UPS)} (default: all)",
    )
    args = ap.parse_args(argv)

    runs = sorted(  # the runs load_finetuned loads: an adapter or a whole model (not ProMoT's prompt stage)
        p
        for p in (Path(args.run_dir) / "training").glob("*")
        if (p / "manifest.json").is_file()
        and ((p / "adapter" / "adapter_config.json").is_file() or (p / "model").is_dir())
    )
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
    lean, pooled = generation.plain_greedy, benchmarks.answer_pooled

    def one_by_one(backend, tokenizer, benches, max_new_tokens):
        return [
            backend.generate(b.prompts(tokenizer), generation.Decoding(b.max_new_tokens or max_new_tokens))
            for b in benches
        ]

    seconds: dict[str, list[float]] = {"old": [], "new": []}
    identical = True
    for run in runs[: args.runs]:
        model, tok = load_finetuned(cfg, run, merge=True)
        rows = {}
        for path in ("old", "new", "old", "new"):
            old = path == "old"
            generation.plain_greedy = (
                (lambda model, decoding: False) if old and "decoding" in args.old else lean
            )
            benchmarks.answer_pooled = one_by_one if old and "pooling" in args.old else pooled
            if old and "prompts" in args.old:
                benchmarks._PROMPT_CACHE.clear()
            start = time.perf_counter()
            with quiet():
                _, out = benchmarks.evaluate(model, tok, benches, cfg.max_new_tokens, cfg.gen_batch_size)
            seconds[path].append(time.perf_counter() - start)
            rows.setdefault(path, out)
        identical &= rows["old"] == rows["new"]
    generation.plain_greedy, benchmarks.answer_pooled = lean, pooled
    old, new = (statistics.median(seconds[k]) for k in ("old", "new"))
    print(
        json.dumps(
            {
                "runs": [r.name for r in runs[: args.runs]],
                "old_lacks": list(args.old),
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
