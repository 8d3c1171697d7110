"""Threads, device, dtype and seeds (the services every stage that touches torch uses)."""

from __future__ import annotations

import os
import random

from .config import RunConfig


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


def quiet_libraries() -> None:
    """Silence what the libraries print that a reader should not see: transformers' weight-loading and
    ``datasets``' map progress bars, and TRL's notice on importing its experimental trainers (the
    chapter says in words that on-policy distillation uses one). Called by ``runtime.setup`` in the
    notebook's kernel and by every worker process of ``parallel.prebuild``, which do not inherit it."""
    import os
    import warnings

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # read once, when trl.experimental is imported
    with warnings.catch_warnings():  # tqdm.auto warns once, with a file path, in kernels without ipywidgets
        warnings.filterwarnings("ignore", message="IProgress not found")
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            import datasets  # TRL's dataset preparation ("Building labels ...")

            datasets.disable_progress_bars()
        except ImportError:
            pass
    _drop_log_line("transformers.trainer_utils", MTIME_NOTICE)


# The Trainer sorts checkpoints by mtime and, when a tiny model writes two within a second, logs that
# mtime "may not be reliable" and sorts them by step instead, which is right: a notice about the
# Trainer's bookkeeping, not the run, that a cold build printed into chapters 4 and 5.
MTIME_NOTICE = "mtime may not be reliable"


class _DropMessage:
    def __init__(self, text: str):
        self.text = text

    def filter(self, record) -> bool:
        return self.text not in record.getMessage()


def _drop_log_line(logger: str, text: str) -> None:
    """Drop the records of ``logger`` whose message contains ``text`` (once per process)."""
    import logging

    log = logging.getLogger(logger)
    if not any(isinstance(f, _DropMessage) and f.text == text for f in log.filters):
        log.addFilter(_DropMessage(text))
