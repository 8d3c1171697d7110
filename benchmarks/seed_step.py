"""Where the teaching world's seed model spends a training step: the cold book's largest stage.

    .venv/bin/python benchmarks/seed_step.py --profile toy --steps 150
    .venv/bin/python benchmarks/seed_step.py --profile toy --steps 150 --variant compile
    .venv/bin/python benchmarks/seed_step.py --profile toy --steps 20 --profile-ops

The seed's own loop (``teaching_world.model.train_from_scratch``: a from-scratch Llama, AdamW, the
world's chat records grouped by length) on the profile's world and settings, timed after ``--warmup``
steps, one JSON line per run: milliseconds per step, tokens per step and the matmuls' share.
``--variant`` changes one thing: ``plain`` (the book's loop), ``fused`` (AdamW's fused kernel) or
``compile`` (``torch.compile(dynamic=True)`` on the model). ``--profile-ops`` adds torch's profiler
table of the most expensive operators. It builds the profile's world (cached) and a fresh model of
the profile's shape; nothing is written to the seed model's folder.
"""

from __future__ import annotations

import argparse
import json
import random
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="toy")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--variant", choices=("plain", "fused", "compile"), default="plain")
    ap.add_argument("--profile-ops", action="store_true")
    args = ap.parse_args(argv)

    import torch

    from sdft_lib import runtime
    from sdft_lib.config import load_config
    from sdft_lib.report import quiet
    from sdft_lib.runs import read_json
    from sdft_lib.teaching_world.build import build_world_data, untrained_seed
    from sdft_lib.teaching_world.model import length_grouped_batches
    from sdft_lib.templates import collator, train_example

    cfg = load_config(args.profile)
    runtime.setup(cfg, report=False)
    with quiet():
        records = read_json(build_world_data(cfg) / "seed_train.json")
    model, tok = untrained_seed(cfg, records)  # the seed stage's own model, before training
    enc = [train_example(tok, "chat", r, cutoff=model.config.max_position_embeddings) for r in records]
    batches = list(
        length_grouped_batches([len(e["input_ids"]) for e in enc], cfg.seed_batch_size, random.Random(0))
    )
    need = args.warmup + args.steps
    batches = (batches * (need // max(1, len(batches)) + 1))[:need]
    extra = {"fused": True} if args.variant == "fused" else {}
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.seed_lr, betas=(0.9, 0.95), weight_decay=0.1, **extra)
    forward = torch.compile(model, dynamic=True) if args.variant == "compile" else model
    collate = collator(tok.pad_token_id)
    model.train()

    def step(idx):
        batch = collate([enc[i] for i in idx])
        loss = forward(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return int(batch["attention_mask"].sum()), float(loss)

    for idx in batches[: args.warmup]:
        step(idx)
    timed = batches[args.warmup :]
    table, mm_share = None, None
    if args.profile_ops:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            done = [step(idx) for idx in timed]
            secs = time.perf_counter() - t0
        ops = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in ops)
        mm = sum(e.self_cpu_time_total for e in ops if e.key in ("aten::mm", "aten::addmm", "aten::bmm"))
        mm_share = round(100 * mm / total, 1) if total else None
        table = ops.table(sort_by="self_cpu_time_total", row_limit=12)
    else:
        t0 = time.perf_counter()
        done = [step(idx) for idx in timed]
        secs = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "profile": args.profile,
                "variant": args.variant,
                "threads": torch.get_num_threads(),
                "parameters": sum(p.numel() for p in model.parameters()),
                "steps": len(done),
                "ms_per_step": round(1000 * secs / len(done), 1),
                "tokens_per_step": round(sum(t for t, _ in done) / len(done), 1),
                "last_loss": round(done[-1][1], 4),
                "matmul_share_pct": mm_share,
            }
        )
    )
    if table:
        print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
