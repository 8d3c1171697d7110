"""Training under several processes: DDP on this CPU (gloo), two processes, against one process.

    accelerate launch --multi_gpu --num_processes 2 -m sdft_lib.cli smoke ...

(accelerate's ``--cpu --num_processes 2`` starts a single process unless MPI is installed;
``--multi_gpu`` on a machine without GPUs starts two through torchrun, and they join a gloo group.)
The two processes train with a per-process batch of 4, the single process with 8: the same global
batch. Within the first epoch both see the same batches in the same order, so their loss curves
agree closely (LoRA dropout draws differ per process); the later epoch's order differs.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PARAMS = [
    "-p",
    "sweep_lrs",
    "[]",
    "-p",
    "task_train_size",
    "96",
    "-p",
    "epochs",
    "1",
    "-p",
    "learning_rate",
    "0.01",
    "-p",
    "grad_accum",
    "1",
]
TOLERANCE = 0.01  # largest |loss difference| per logged step (losses here are about 5)


def train(run_dir: Path, *launcher: str, batch: int, extra=()) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("SDFT_RUNS_ROOT", None)
    cmd = [
        *launcher,
        "-m",
        "sdft_lib.cli",
        "smoke",
        "-p",
        "run_dir",
        str(run_dir),
        *PARAMS,
        "-p",
        "batch_size",
        str(batch),
        *(["-p", "ft_seeds", "0"] if "ft_seeds" not in extra else []),
        *extra,
    ]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def only_run(run_dir: Path) -> Path:
    [run] = [p for p in (run_dir / "training").iterdir() if (p / "manifest.json").is_file()]
    return run


# accelerate's launcher for two CPU processes on this machine (gloo), no mixed precision, no dynamo
TWO_PROCESSES = [
    str(BIN / "accelerate"),
    "launch",
    "--multi_gpu",
    "--num_processes",
    "2",
    "--num_machines",
    "1",
    "--mixed_precision",
    "no",
    "--dynamo_backend",
    "no",
]


def test_ddp_on_two_cpu_processes_matches_one_process(tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    prep = train(two, sys.executable, batch=4, extra=["--distill-only"])  # the seed model, built once
    assert prep.returncode == 0, prep.stderr[-3000:]
    # several processes never build the seed themselves: they are told to build it first
    refused = train(
        one,
        *TWO_PROCESSES,
        batch=4,
        extra=["--variants", "sft"],
    )
    assert refused.returncode != 0 and "build it first with one process" in refused.stderr
    assert not (one / "training").exists()

    ddp = train(
        two,
        *TWO_PROCESSES,
        batch=4,
        extra=["--variants", "sft"],
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert "on 2 processes" in ddp.stdout + ddp.stderr
    import shutil

    shutil.copytree(two / "teaching_world", one / "teaching_world")
    single = train(one, sys.executable, batch=8, extra=["--variants", "sft"])
    assert single.returncode == 0, single.stderr[-3000:]

    run2, run1 = only_run(two), only_run(one)
    m2, m1 = (json.loads((r / "manifest.json").read_text()) for r in (run2, run1))
    assert m2["processes"] == 2 and "processes" not in m1
    assert m2["key"]["processes"] == 2  # a 2-process run is never reused for a 1-process one
    # only the main process wrote: the same files as the single process's run, nothing half-written
    files = lambda r: sorted(str(p.relative_to(r)) for p in r.rglob("*"))
    assert files(run2) == files(run1) and not list(two.rglob(".*.partial"))

    log2, log1 = (json.loads((r / "train_log.json").read_text()) for r in (run2, run1))
    assert [h["step"] for h in log2] == [h["step"] for h in log1] and len(log1) >= 10
    diffs = [abs(a["loss"] - b["loss"]) for a, b in zip(log2, log1)]
    assert max(diffs) <= TOLERANCE, diffs
    print("largest |loss difference| per step, 2 processes vs 1:", round(max(diffs), 5))
    # the control: one process, another fine-tuning seed (other LoRA init, other batch order) is further
    # away than the tolerance, so agreeing within it means something
    other = train(one, sys.executable, batch=8, extra=["--variants", "sft", "-p", "ft_seeds", "1"])
    assert other.returncode == 0, other.stderr[-3000:]
    [run_other] = [p for p in (one / "training").iterdir() if p != run1 and (p / "manifest.json").is_file()]
    log_other = json.loads((run_other / "train_log.json").read_text())
    assert max(abs(a["loss"] - b["loss"]) for a, b in zip(log_other, log1)) > 3 * TOLERANCE

    # the saved adapter loads, and its weights are the single process's within dropout noise: far
    # closer to them than another seed's
    import torch
    from safetensors.torch import load_file

    w2, w1, wo = (load_file(r / "adapter" / "adapter_model.safetensors") for r in (run2, run1, run_other))
    assert w2.keys() == w1.keys()

    def distance(a, b):  # relative distance of two adapters, over all their weights
        return float(
            sum(((a[k] - b[k]) ** 2).sum() for k in a).sqrt() / sum((b[k] ** 2).sum() for k in b).sqrt()
        )

    near, far = distance(w2, w1), distance(wo, w1)
    print(f"adapter distance, 2 processes vs 1: {near:.3f}; another seed vs 1: {far:.3f}")
    assert near < 0.25 and near < far / 4, (near, far)
    from sdft_lib.config import load_config
    from sdft_lib.training import load_finetuned

    cfg = load_config(
        "smoke",
        run_dir=str(two),
        ft_seeds="0",
        sweep_lrs="",
        task_train_size=96,
        epochs=1.0,
        learning_rate=0.01,
        batch_size=4,
    )
    model, tok = load_finetuned(cfg, run2)
    with torch.no_grad():
        logits = model(**tok("What is 3 times 4?", return_tensors="pt")).logits
    assert torch.isfinite(logits).all()
