"""Command line for the training stage, for ``accelerate launch`` (multi-GPU) or plain ``python``::

    python -m sdft_lib.cli paper/gsm8k -p data_dir ~/sdft-data            # one GPU
    accelerate launch --config_file configs/accelerate/fsdp.yaml \\
        -m sdft_lib.cli paper/gsm8k -p data_dir ~/sdft-data               # several GPUs
    accelerate launch --multi_gpu --num_processes 2 -m sdft_lib.cli smoke # DDP on a CPU (gloo)

(On a machine without GPUs, ``--multi_gpu`` starts the processes with torchrun and they join a gloo
group on the CPU; accelerate's ``--cpu --num_processes 2`` starts only one process unless MPI is
installed.) Only the main process writes; the adapter is saved through the Trainer, which gathers
FSDP-sharded weights first.

Trains SFT and SDFT (the distilled set is built first if it is missing) for every fine-tuning seed
of the profile, through :func:`sdft_lib.training.sweep`. Under several processes, distillation runs
on the main process only; build it first with one GPU (the notebooks or ``--distill-only``).
"""

from __future__ import annotations

import argparse
import os
import sys

from .config import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sdft_lib.cli")
    ap.add_argument("profile")
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    ap.add_argument("--variants", default="sft,sdft")
    ap.add_argument("--distill-only", action="store_true")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(args.profile, **dict(args.p))
    except ConfigError as exc:
        print(f"ConfigError: {exc}", file=sys.stderr)
        return 2
    from .runtime import setup
    from .self_distillation import distilled_path, run_self_distillation
    from .training import sweep

    rank = int(os.environ.get("RANK", "0"))
    setup(cfg, report=rank == 0)  # one process reports what it builds or reuses
    several = int(os.environ.get("WORLD_SIZE", "1")) > 1
    first = f"build it first with one process (python -m sdft_lib.cli {args.profile} --distill-only ...)"
    if several and cfg.is_teaching:
        from .teaching_world.build import seed_model_path

        if not (seed_model_path(cfg) / "manifest.json").is_file():
            print(f"the teaching world's seed model is missing: {first}", file=sys.stderr)
            return 2
    if "sdft" in args.variants.split(",") and not (distilled_path(cfg) / "manifest.json").is_file():
        if several:
            print(f"the distilled set is missing: {first}", file=sys.stderr)
            return 2
        run_self_distillation(cfg)
    if args.distill_only:
        return 0
    for m in sweep(cfg, variants=args.variants.split(",")):
        if rank == 0:
            print(m)
    return 0


if __name__ == "__main__":
    sys.exit(main())
