"""GPU smoke run: the whole pipeline on the teaching model, on one GPU, in bf16, HF backend.

    python scripts/gpu_smoke.py                  # profile toy, runs under runs/gpu-smoke
    python scripts/gpu_smoke.py --profile smoke  # seconds instead of minutes

Prints the time of every stage and a JSON summary (also written to runs/gpu-smoke/summary.json):
world + seed model, self-distillation, SFT and SDFT training (one seed), evaluation of the three
models, and a check that batched greedy generation returns the same text as one-at-a-time
generation on this GPU (the original code warned that multi-GPU inference garbled its outputs).
Reruns reuse finished stages; delete runs/gpu-smoke for a cold measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    import torch

    from sdft_lib import evaluation, training
    from sdft_lib.config import load_config, runs_root
    from sdft_lib.generation import Decoding, HFBackend
    from sdft_lib.models import load_model, seed_weights
    from sdft_lib.runs import write_json
    from sdft_lib.runtime import setup
    from sdft_lib.self_distillation import load_report, run_self_distillation
    from sdft_lib.templates import render_prompt_text

    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="toy")
    ap.add_argument("--run-dir", default=str(runs_root() / "gpu-smoke"))
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU here: this script checks the GPU path (use make book on a CPU)", file=sys.stderr)
        return 2
    cfg = load_config(
        args.profile,
        device="cuda",
        dtype="bfloat16",
        gen_backend="hf",
        run_dir=args.run_dir,
        ft_seeds=[0],
        sweep_lrs=[],
        sweep_epochs=[],
    )
    info = setup(cfg)
    times, out = {}, {"profile": args.profile, "gpu": torch.cuda.get_device_name(0), "setup": info}

    def stage(name, fn):
        torch.cuda.synchronize()
        t0 = time.time()
        r = fn()
        torch.cuda.synchronize()
        times[name] = round(time.time() - t0, 1)
        print(f"{name:<28} {times[name]:>8.1f} s", flush=True)
        return r

    seed_dir = stage("world + seed model", lambda: seed_weights(cfg))
    distilled = stage("self-distillation", lambda: run_self_distillation(cfg))
    out["distillation"] = {k: load_report(distilled)[k] for k in ("total", "accepted")}
    for v in ("sft", "sdft"):
        stage(f"training {v}", lambda v=v: training.train_adapter(cfg, v))
    paths = stage("evaluation (3 models)", lambda: evaluation.run_evaluation(cfg))
    import pandas as pd

    df = pd.read_csv(paths["results"])
    out["scores"] = df.pivot_table(index="benchmark", columns="variant", values="score").round(1).to_dict()

    model, tok = load_model(cfg, path=seed_dir)
    from sdft_lib.teaching_world import build as tw

    sets = tw.eval_sets(tw.build_world_data(cfg))
    prompts = [render_prompt_text("chat", r, tok) for rows in sets.values() for r in rows[:32]]
    dec = Decoding(max_new_tokens=cfg.max_new_tokens)
    batched = stage(
        "generate batched (64)", lambda: HFBackend(model, tok, batch_size=64).generate(prompts, dec)
    )
    single = stage(
        "generate one at a time", lambda: HFBackend(model, tok, batch_size=1).generate(prompts, dec)
    )
    same = sum(a == b for a, b in zip(batched, single))
    out["batched_equals_single"] = {"prompts": len(prompts), "identical": same}
    out["times_s"] = times
    out["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    write_json(Path(args.run_dir) / "summary.json", out)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
