"""Threads, device, dtype and seeds: the few lines every notebook runs first."""

from __future__ import annotations

import os
import random

from .config import RunConfig
from .runs import display_path


def set_threads(threads: int = 0) -> int:
    """Set torch's CPU thread count: ``threads``, else ``$OMP_NUM_THREADS``, else all cores.

    On a 2-core machine two busy processes each using every core made torch steps ~100x slower,
    so the Makefile and the tests set ``OMP_NUM_THREADS`` explicitly.
    """
    import torch

    n = threads or int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or (os.cpu_count() or 1)
    torch.set_num_threads(n)
    return n


def resolve_device(cfg: RunConfig) -> str:
    import torch

    if cfg.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return cfg.device


def resolve_dtype(cfg: RunConfig, device: str):
    """bf16 on GPUs that support it (fp16 on older ones), fp32 on CPU, unless the config says."""
    import torch

    if cfg.dtype != "auto":
        return getattr(torch, cfg.dtype)
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup(cfg: RunConfig) -> dict:
    """Apply threads and seed; return a summary (device, dtype, threads) for the notebook to show."""
    threads = set_threads(cfg.threads)
    import warnings

    with warnings.catch_warnings():  # tqdm.auto warns once, with a file path, in kernels without ipywidgets
        warnings.filterwarnings("ignore", message="IProgress not found")
        try:  # weight-loading progress bars only clutter executed notebooks
            from transformers.utils import logging as hf_logging
            hf_logging.disable_progress_bar()
            import datasets  # TRL's dataset preparation ("Building labels ...")
            datasets.disable_progress_bars()
        except ImportError:
            pass
    seed_everything(cfg.seed)
    _register_teaching_world_magic(cfg)
    device = resolve_device(cfg)
    return {"device": device, "dtype": str(resolve_dtype(cfg, device)).replace("torch.", ""),
            "threads": threads, "run_dir": display_path(cfg.run_path)}


def _register_teaching_world_magic(cfg: RunConfig) -> None:
    """In a notebook, ``%%teaching_world`` at the top of a cell runs the cell only when this run is
    the teaching world (its model and its task); on any other run the cell prints why it was skipped.
    Chapters and labs that study the teaching world mark their cells with it."""
    try:
        from IPython import get_ipython
        from IPython.core.magic import register_cell_magic
    except ImportError:
        return
    ip = get_ipython()
    if ip is None:
        return
    teaching = cfg.is_teaching and cfg.dataset == "teaching"

    def teaching_world(line: str, cell: str):
        if teaching:
            ip.run_cell(cell)  # shows its outputs like any cell
            return None
        print(f"Skipped: this cell studies the teaching world; this run uses model={cfg.model_label!r} "
              f"and dataset={cfg.dataset!r}.")
        return None

    register_cell_magic(teaching_world)
