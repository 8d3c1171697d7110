"""Runs one stage of the smoke pipeline, optionally killing itself with SIGKILL at a chosen point.

    python tests/resume_driver.py STAGE RUN_DIR [KILL]

STAGE: world | distill | train | eval | all. KILL (``what:n``): ``generate:n`` (before the n-th
chunk of rewrites), ``step:n`` (after training step n), ``trainend:1`` (training done, adapter not
yet saved), ``evaluate:n`` (before the n-th model is scored), ``write:<file>`` (just before that file
is written). Used by tests/test_resume.py; the kill is a real SIGKILL, so nothing gets to clean up.
"""

from __future__ import annotations

import os
import signal
import sys

PARAMS = dict(
    ft_seeds="0",
    sweep_lrs="",
    distill_chunk_size=10,
    epochs=2.0,
    batch_size=4,
    grad_accum=1,
    task_train_size=40,
)
SAVE_STEPS = 4


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def arm(kill: str) -> list:
    """Install the kill point; return training callbacks (if the kill is inside training)."""
    what, _, n = kill.partition(":")
    if what == "generate":
        from sdft_lib import generation

        calls = [0]
        real = generation.HFBackend.generate_full

        def generate_full(self, *a, **k):
            calls[0] += 1
            if calls[0] == int(n):
                die()
            return real(self, *a, **k)

        generation.HFBackend.generate_full = generate_full
    elif what == "evaluate":
        from sdft_lib import benchmarks

        calls = [0]
        real_eval = benchmarks.evaluate

        def evaluate(*a, **k):
            calls[0] += 1
            if calls[0] == int(n):
                die()
            return real_eval(*a, **k)

        benchmarks.evaluate = evaluate
    elif what == "write":
        from sdft_lib import runs

        real_write = runs.write_text

        def write_text(path, text):
            if os.path.basename(str(path)) == n:
                die()
            return real_write(path, text)

        runs.write_text = write_text
    elif what in ("step", "trainend"):
        from transformers import TrainerCallback

        class Kill(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                if what == "step" and state.global_step == int(n):
                    die()

            def on_train_end(self, args, state, control, **kw):
                if what == "trainend":
                    die()

        return [Kill()]
    elif kill:
        raise SystemExit(f"unknown kill point {kill!r}")
    return []


def main() -> None:
    stage, run_dir = sys.argv[1], sys.argv[2]
    kill = sys.argv[3] if len(sys.argv) > 3 else ""
    callbacks = arm(kill)
    from sdft_lib.config import load_config
    from sdft_lib.runtime import setup

    cfg = load_config("smoke", run_dir=run_dir, **PARAMS)
    setup(cfg)
    quiet = dict()
    if stage in ("world", "all"):
        from sdft_lib.teaching_world.build import build_seed_model

        build_seed_model(cfg, **quiet)
    if stage in ("distill", "all"):
        from sdft_lib.self_distillation import run_self_distillation

        run_self_distillation(cfg, **quiet)
    if stage in ("train", "all"):
        from sdft_lib.training import train_adapter

        for variant in ("sft", "sdft"):
            train_adapter(cfg, variant, callbacks=callbacks, save_steps=SAVE_STEPS, **quiet)
    if stage in ("eval", "all"):
        from sdft_lib.evaluation import run_evaluation

        run_evaluation(cfg, **quiet)


if __name__ == "__main__":
    main()
