"""The few lines every notebook runs first: check the run's inputs, then threads, device, dtype, seeds."""

from __future__ import annotations

from pathlib import Path

from .config import ConfigError, RunConfig
from .hardware import quiet_libraries, resolve_device, resolve_dtype, seed_everything, set_threads
from .report import to_stdout
from .runs import display_path, guard_user_data


def setup(cfg: RunConfig, report: bool = True) -> dict:
    """Check every input of the run (``data.check_inputs``, ``models.check_model``, the code sandbox when
    HumanEval runs: nothing is written), apply threads and seed, and (``report``) print the stages'
    progress messages (``report.to_stdout``); return a summary (device, dtype, threads, input sizes)
    for the notebook to show."""
    import warnings

    from .data import check_inputs
    from .models import check_model
    from .prose import readable_tables

    with warnings.catch_warnings():  # tqdm.auto warns once, with a file path, in kernels without ipywidgets
        warnings.filterwarnings(
            "ignore", message="IProgress not found"
        )  # (a packaged model's check imports it)
        inputs = check_inputs(cfg)
        check_model(cfg)
    check_disk(cfg)
    code = None
    if "humaneval" in cfg.eval_benchmarks:  # model-written code will run: is there a sandbox?
        from .code_exec import check_sandbox

        code = check_sandbox(cfg.allow_code_execution, cfg.allow_unsandboxed_code_execution)
    threads = set_threads(cfg.threads)
    quiet_libraries()
    if report:
        to_stdout()
    readable_tables()
    seed_everything(cfg.seed)
    device = resolve_device(cfg)
    return {
        "device": device,
        "dtype": str(resolve_dtype(cfg, device)).replace("torch.", ""),
        "threads": threads,
        "run_dir": display_path(cfg.run_path),
        **({"inputs": inputs} if inputs else {}),
        **({"code_execution": code} if code else {}),
    }


def disk_need_mb(cfg: RunConfig) -> int:
    """About how much the run writes under ``run_dir``: the teaching world's builds and adapters; for a
    real model, LoRA adapters and checkpoints, or, for full fine-tuning, each run's model and its
    checkpoint (weights + Adam's two moments, in float32) at about six times the weights."""
    if cfg.is_teaching:
        return 200
    if cfg.finetune != "full":
        return 1024
    from .models import seed_weights

    path = Path(seed_weights(cfg))
    weights = sum(p.stat().st_size for p in path.glob("*.safetensors")) >> 20 if path.is_dir() else 0
    return 1024 + 6 * weights


def check_disk(cfg: RunConfig) -> None:
    """``run_dir`` is a folder (or can be made one) on a disk with room for the run."""
    import shutil

    run = cfg.run_path
    folders = {"run_dir": run}
    if cfg.teaching_world_dir:
        folders["teaching_world_dir"] = Path(cfg.teaching_world_dir).expanduser()
    for param, folder in folders.items():
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        if not existing.is_dir():
            raise ConfigError(
                f"{param}={str(folder)!r} is not allowed: "
                + ("it is a file" if existing == folder else f"{existing} is a file")
                + "; give a folder (it is made if missing)"
            )
    guard_user_data(run, cfg)  # run_dir inside data_dir: refused now, not when the first artifact is built
    free = shutil.disk_usage(existing).free >> 20
    need = disk_need_mb(cfg)
    if free < need:
        raise ConfigError(
            f"run_dir={str(run)!r} is not allowed: its disk has {free} MB free and this run "
            f"writes about {need} MB; free some space or choose a run_dir on another disk"
        )


def in_teaching_world(cfg: RunConfig) -> bool:
    """Whether this run is the teaching world (its model and its task). Chapters and labs that study
    the teaching world put those cells under ``if runtime.in_teaching_world(cfg):``; on any other run
    this prints why the cell is skipped and returns False. Plain Python: a cell copied out of the book
    runs as it stands."""
    if cfg.is_teaching and cfg.dataset == "teaching":
        return True
    print(
        f"Skipped: this cell studies the teaching world; this run uses model={cfg.model_label!r} "
        f"and dataset={cfg.dataset!r}."
    )
    return False
