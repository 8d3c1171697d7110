"""Independent artifacts built side by side: one worker process per core, one torch thread each.

The teaching model is so small that a second torch thread buys little inside one training step or
one generation batch: its matrices are too small to split. Two runs side by side, one thread each,
keep both cores busy instead (``benchmarks/parallel_runs.py`` measures it). Each job is a call of a
stage function that builds a cached artifact (``runs.build_once``: its lock makes a second builder
wait, its atomic rename means no reader sees half an artifact). After :func:`prebuild` the caller
runs its usual loop, which finds every artifact finished and reuses it, in its own order: the rows a
chapter shows do not depend on which worker finished first.

``cfg.parallel_runs`` chooses the number of workers: 0 (the default) is one per torch thread the
run would use, for the teaching model on a CPU, and 1 (no workers) for any other model, whose
matrices are large enough for threads.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Any

Job = tuple[str, dict[str, Any]]  # ("module:function", keyword arguments); called as function(cfg, **kwargs)


def workers_for(cfg) -> int:
    """How many worker processes :func:`prebuild` starts for this run (1: none, build in place)."""
    if cfg.parallel_runs:
        return cfg.parallel_runs
    if not cfg.is_teaching or cfg.device == "cuda":
        return 1
    import torch

    if torch.cuda.is_available() and cfg.device == "auto":
        return 1
    threads = cfg.threads or int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or (os.cpu_count() or 1)
    return max(1, min(threads, os.cpu_count() or 1))


def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    from .hardware import quiet_libraries

    torch.set_num_threads(1)
    quiet_libraries()  # a spawned worker starts with the libraries' defaults: bars on


def _call(cfg, job: Job) -> None:
    target, kwargs = job
    module, _, name = target.partition(":")
    getattr(importlib.import_module(module), name)(cfg, **kwargs)


def prebuild(cfg, jobs: Sequence[Job], workers: int | None = None) -> int:
    """Build the artifacts of ``jobs`` in ``workers`` processes (default :func:`workers_for`); return
    how many workers ran. With one worker nothing happens here: the caller's loop builds in place.
    A job that fails raises here, in the caller, with the worker's error."""
    workers = workers_for(cfg) if workers is None else workers
    jobs = list(jobs)
    if workers <= 1 or len(jobs) <= 1:
        return 1
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)), mp_context=mp.get_context("spawn"), initializer=_init_worker
    ) as pool:
        for future in [pool.submit(_call, cfg, job) for job in jobs]:
            future.result()
    return min(workers, len(jobs))
