"""How long one fine-tuning step takes with TRL's own loss and with the project's ``response_loss``.

    .venv/bin/python benchmarks/train_step.py --profile smollm2 --steps 4
    .venv/bin/python benchmarks/train_step.py --profile toy --steps 30
    .venv/bin/python benchmarks/train_step.py --profile toy --whole-run --repeats 1
    .venv/bin/python benchmarks/train_step.py --profile toy --steps 15 --batch-sizes 8,16,32


Both trainers get the same LoRA-wrapped seed, the same first ``--steps`` batches of the profile's SFT
data and the same arguments (``training.training_arguments``); only ``compute_loss`` differs. Each
trains ``--repeats`` times in turn (fresh adapter each time) and the script prints one JSON line per
try: seconds per optimizer step and the mean logged loss, which should agree to float rounding.
``--whole-run`` (the teaching world) trains the profile's whole SFT run both ways instead, and scores
each on the world's held-out skills (the first ``--n`` prompts of each): the same conclusions, or by
how much they differ. ``--batch-sizes`` trains the same examples (``--steps`` batches of the largest
size) with ``response_loss`` at each batch size in turn, and reports milliseconds per example: whether
a larger batch would make the profile's runs cheaper. Nothing is written to the profile's run folder.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sdft_lib import runtime, training
from sdft_lib.config import load_config


def one_try(cfg, loss: str, rows: list[dict], out: Path, sets: dict | None = None) -> dict:
    import torch
    from transformers import PrinterCallback, set_seed
    from trl import SFTTrainer

    from sdft_lib.models import load_model

    set_seed(cfg.seed)
    base, tok = load_model(cfg)
    model = training.prepare_model(cfg, base)
    epochs = cfg.epochs if sets is not None else 1.0
    args = training.training_arguments(cfg, out, cfg.learning_rate, epochs, cfg.seed, "cpu", len(rows))
    args.logging_steps, args.save_strategy = 1, "no"
    cls = SFTTrainer if loss == "trl" else training._response_loss_trainer()
    trainer = cls(model=model, args=args, train_dataset=training.sft_dataset(rows), processing_class=tok)
    trainer.remove_callback(PrinterCallback)
    t0 = time.perf_counter()
    trainer.train()
    secs = time.perf_counter() - t0
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    out_row = {
        "loss_function": loss,
        "batch_size": cfg.batch_size,
        "threads": torch.get_num_threads(),
        "steps": trainer.state.global_step,
        "seconds_per_step": round(secs / max(1, trainer.state.global_step), 3),
        "ms_per_example": round(1000 * secs / max(1, len(rows) * epochs), 2),
        "mean_logged_loss": round(sum(losses) / len(losses), 6),
    }
    if sets is not None:
        from sdft_lib import benchmarks

        merged = model.merge_and_unload().eval() if cfg.finetune == "lora" else model.eval()
        scores, _ = benchmarks.evaluate(
            merged, tok, benchmarks.teaching(sets), benchmarks.TEACHING_MAX_NEW_TOKENS, cfg.gen_batch_size
        )
        out_row["scores"] = {k: v["lenient"] for k, v in scores.items()}
    return out_row


def batch_sizes(text: str) -> list[int]:
    """``--batch-sizes``: whole numbers >= 1, comma-separated."""
    try:
        sizes = [int(b) for b in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give whole numbers >= 1, comma-separated, e.g. 8,16,32")
    return sizes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="toy")
    ap.add_argument("--steps", type=int, default=10, help="optimizer steps per try")
    ap.add_argument("--repeats", type=int, default=2, help="tries of each loss, alternating")
    ap.add_argument(
        "--whole-run", action="store_true", help="the whole SFT run, then its scores (teaching world)"
    )
    ap.add_argument("--n", type=int, default=150, help="held-out prompts per skill (--whole-run)")
    ap.add_argument(
        "--batch-sizes", type=batch_sizes, default=[], help="e.g. 8,16,32: each trains on the same examples"
    )
    args = ap.parse_args()
    sizes = args.batch_sizes
    if sizes and args.whole_run:
        ap.error("--batch-sizes and --whole-run do not go together: choose one")
    cfg = load_config(args.profile)
    runtime.setup(cfg)
    from sdft_lib.models import load_model
    from sdft_lib.templates import train_example

    records, _ = training.variant_data(cfg, "sft")
    _, tok = load_model(cfg)
    sets = None
    if args.whole_run:
        from sdft_lib.teaching_world import build as tw

        if not cfg.is_teaching:
            raise SystemExit("--whole-run scores the teaching world's skills: give a teaching profile")
        sets = {k: v[: args.n] for k, v in tw.eval_sets(tw.build_world_data(cfg)).items()}
    kept = records if args.whole_run else records[: args.steps * max(sizes or [cfg.batch_size])]
    rows = [train_example(tok, cfg.train_template, r, cfg.cutoff_len, cfg.paper_branch) for r in kept]
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            if sizes:
                for b in sizes:
                    row = one_try(cfg.replace(batch_size=b), "response_loss", rows, Path(tmp) / f"b{b}")
                    print(json.dumps({"profile": args.profile, **row}), flush=True)
                continue
            for loss in ("trl", "response_loss"):
                print(
                    json.dumps({"profile": args.profile, **one_try(cfg, loss, rows, Path(tmp) / loss, sets)}),
                    flush=True,
                )


if __name__ == "__main__":
    main()
