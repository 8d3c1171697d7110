"""How long one fine-tuning step takes with TRL's own loss and with the project's ``response_loss``.

    .venv/bin/python benchmarks/train_step.py --profile smollm2 --steps 4
    .venv/bin/python benchmarks/train_step.py --profile toy --steps 30

Both trainers get the same LoRA-wrapped seed, the same first ``--steps`` batches of the profile's SFT
data and the same arguments (``training.training_arguments``); only ``compute_loss`` differs. Each
trains ``--repeats`` times in turn (fresh adapter each time) and the script prints one JSON line per
try: seconds per optimizer step and the mean logged loss, which should agree to float rounding.
Nothing is written to the profile's run folder.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sdft_lib import runtime, training
from sdft_lib.config import load_config


def one_try(cfg, loss: str, rows: list[dict], out: Path) -> dict:
    from transformers import PrinterCallback, set_seed
    from trl import SFTTrainer

    from sdft_lib.models import load_model

    set_seed(cfg.seed)
    base, tok = load_model(cfg)
    model = training.prepare_model(cfg, base)
    args = training.training_arguments(cfg, out, cfg.learning_rate, 1.0, cfg.seed, "cpu", len(rows))
    args.logging_steps, args.save_strategy = 1, "no"
    cls = SFTTrainer if loss == "trl" else training._response_loss_trainer()
    trainer = cls(model=model, args=args, train_dataset=training.sft_dataset(rows), processing_class=tok)
    trainer.remove_callback(PrinterCallback)
    t0 = time.perf_counter()
    trainer.train()
    secs = time.perf_counter() - t0
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"loss_function": loss, "steps": trainer.state.global_step,
            "seconds_per_step": round(secs / max(1, trainer.state.global_step), 3),
            "mean_logged_loss": round(sum(losses) / len(losses), 6)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="toy")
    ap.add_argument("--steps", type=int, default=10, help="optimizer steps per try")
    ap.add_argument("--repeats", type=int, default=2, help="tries of each loss, alternating")
    args = ap.parse_args()
    cfg = load_config(args.profile)
    runtime.setup(cfg)
    from sdft_lib.models import load_model
    from sdft_lib.templates import train_example

    records, _ = training.variant_data(cfg, "sft", log=lambda m: None)
    _, tok = load_model(cfg)
    rows = [train_example(tok, cfg.train_template, r, cfg.cutoff_len, cfg.paper_branch)
            for r in records[:args.steps * cfg.batch_size]]
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for loss in ("trl", "response_loss"):
                print(json.dumps({"profile": args.profile, **one_try(cfg, loss, rows, Path(tmp) / loss)}),
                      flush=True)


if __name__ == "__main__":
    main()
