"""The few lines every notebook runs first: check the run's inputs, then threads, device, dtype, seeds."""

from __future__ import annotations

from .config import RunConfig
from .hardware import resolve_device, resolve_dtype, seed_everything, set_threads
from .runs import display_path


def setup(cfg: RunConfig) -> dict:
    """Check every input of the run (``data.check_inputs``, ``models.check_model``, the code sandbox when
    HumanEval runs: nothing is written), apply threads
    and seed; return a summary (device, dtype, threads, input sizes) for the notebook to show."""
    from .data import check_inputs
    from .models import check_model

    inputs = check_inputs(cfg)
    check_model(cfg)
    code = None
    if "humaneval" in cfg.eval_benchmarks:  # model-written code will run: is there a sandbox?
        from .code_exec import check_sandbox
        code = check_sandbox(cfg.allow_code_execution, cfg.allow_unsandboxed_code_execution)
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
            "threads": threads, "run_dir": display_path(cfg.run_path), **({"inputs": inputs} if inputs else {}),
            **({"code_execution": code} if code else {})}


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
