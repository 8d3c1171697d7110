"""One typed run configuration for every notebook.

A run is described by a named profile (``params/<profile>.yaml``) plus overrides (papermill's ``-p``).
``load_config`` merges them, checks every value, and raises :class:`ConfigError` with one line that
names the parameter and what is allowed, before any model, dataset or GPU is touched.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEACHING_MODEL = "teaching-world"

# Fine-tuning datasets the pipeline knows: the teaching world's task and the paper's seven.
DATASETS = ("teaching", "gsm8k", "openfunction", "alpaca", "dolly", "lima", "magicoder", "openhermes")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")
BACKENDS = ("hf", "vllm")
FINETUNE_METHODS = ("lora", "full")
SCHEDULERS = ("cosine", "linear", "constant")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ConfigError(ValueError):
    """A bad run parameter. The message is one line: the parameter, its value, what is allowed."""

    def _render_traceback_(self) -> list[str]:
        """IPython (and so papermill) shows this one line instead of a traceback."""
        return [f"ConfigError: {self}"]


def params_dir() -> Path:
    return Path(os.environ.get("SDFT_PARAMS_DIR", PROJECT_ROOT / "params"))


def runs_root() -> Path:
    return Path(os.environ.get("SDFT_RUNS_ROOT", PROJECT_ROOT / "runs"))


def available_profiles() -> list[str]:
    """Runnable profiles; files whose name starts with "_" are bases that others extend."""
    d = params_dir()
    return sorted(p.stem for p in d.glob("*.yaml") if not p.stem.startswith("_")) + sorted(
        f"{p.parent.name}/{p.stem}" for p in d.glob("*/*.yaml") if not p.stem.startswith("_"))


@dataclass
class RunConfig:
    """Every parameter of every stage. Defaults are the teaching world's; profiles override them."""

    # --- the run -------------------------------------------------------------------------
    profile: str = "toy"
    run_dir: str = ""               # "" -> runs/<profile>
    seed: int = 0                   # seed of the world, the seed model and the first fine-tuning run
    device: str = "auto"            # auto | cpu | cuda
    dtype: str = "auto"             # auto | float32 | bfloat16 | float16
    threads: int = 0                # torch CPU threads; 0 -> $OMP_NUM_THREADS, else all cores
    # --- model and data -------------------------------------------------------------------
    model: str = TEACHING_MODEL     # "teaching-world", a Hugging Face id, or a local directory
    dataset: str = "teaching"       # one of DATASETS
    data_dir: str = ""              # folder with the paper's JSON files (read only, never written)
    embedding_model: str = ""       # local sentence-transformers model for similarity; "" -> bag-of-words
    # --- the teaching world (used when model == "teaching-world") ---------------------------
    world_train: dict = field(default_factory=lambda: {
        "arithmetic": 10000, "lists": 8000, "tools": 5000, "safety": 2000, "benign": 2000,
        "rewrite": 10000})
    world_eval_size: int = 300      # held-out prompts per skill (fewer where the world has fewer)
    task_train_size: int = 1500
    task_eval_size: int = 300
    vocab_size: int = 600
    model_hidden: int = 96
    model_layers: int = 4
    model_heads: int = 4
    model_ffn: int = 384
    model_dropout: float = 0.0
    seed_epochs: float = 2.5
    seed_batch_size: int = 32
    seed_lr: float = 3e-3
    seed_warmup: int = 50
    seed_bf16: bool = False         # bf16 autocast for seed training on CPU
    # --- generation (self-distillation, evaluation) ---------------------------------------
    gen_backend: str = "hf"         # hf | vllm
    gen_batch_size: int = 64
    max_new_tokens: int = 64
    do_sample: bool = False
    temperature: float = 0.95
    top_p: float = 0.7
    top_k: int = 50
    tensor_parallel_size: int = 1
    # --- self-distillation ----------------------------------------------------------------
    distill_template: str = "auto"  # auto: the paper's template for its datasets, chat_distill otherwise
    distill_max_examples: int = 0   # 0: the whole training set
    distill_chunk_size: int = 256   # rewrites per saved chunk (the unit of resuming)
    # which of the paper's code bases prompts, truncation, filters and scorers follow (templates.py):
    # "reproduce" (the authors' branch for replicating their numbers) or "main"
    paper_branch: str = "reproduce"
    project_filters: list = field(default_factory=lambda: ["nonempty", "eos"])  # the project's own rewrite checks
    # --- fine-tuning ----------------------------------------------------------------------
    finetune: str = "lora"          # lora | full
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    lora_targets: list = field(default_factory=lambda: ["q_proj", "v_proj"])
    learning_rate: float = 1e-4
    epochs: float = 2.0
    batch_size: int = 2
    grad_accum: int = 4
    cutoff_len: int = 1024
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.0
    train_template: str = "chat"    # chat: the tokenizer's chat template; or a paper template (alpaca, gsm8k)
    ft_seeds: list = field(default_factory=lambda: [0])          # fine-tuning seeds (SFT and SDFT alike)
    sweep_lrs: list = field(default_factory=list)                # [] -> [learning_rate]
    sweep_epochs: list = field(default_factory=list)             # [] -> [epochs]
    # --- evaluation -----------------------------------------------------------------------
    eval_variants: list = field(default_factory=lambda: ["seed", "sft", "sdft"])  # which models to evaluate
    eval_benchmarks: list = field(default_factory=list)  # [] -> the world's skills, or the paper's suite
    eval_limit: int = 0             # 0: every prompt of each benchmark; else the first N
    humaneval_file: str = ""        # HumanEval problems (JSON lines), needed by benchmark humaneval
    allow_code_execution: bool = False  # run model-written code (sandboxed subprocess): opt in
    lm_eval_tasks: list = field(default_factory=list)    # lm-evaluation-harness tasks (mmlu, ...)
    lm_eval_include_path: str = ""  # a folder of your own lm-eval task YAMLs (lm-eval's --include_path)
    lm_eval_limit: int = 0          # 0: whole tasks; else N documents per task

    # ------------------------------------------------------------------------------------
    @property
    def run_path(self) -> Path:
        return Path(self.run_dir).expanduser() if self.run_dir else runs_root() / self.profile

    def stage_path(self, stage: str) -> Path:
        return self.run_path / stage

    @property
    def is_teaching(self) -> bool:
        return self.model == TEACHING_MODEL

    @property
    def model_label(self) -> str:
        """A short name for the seed model (hub id or folder name)."""
        return self.model if not self.model.startswith(("/", ".", "~")) else Path(self.model).name

    def to_dict(self) -> dict:
        return asdict(self)

    def decoding(self):
        from .generation import Decoding
        return Decoding(max_new_tokens=self.max_new_tokens, do_sample=self.do_sample,
                        temperature=self.temperature, top_p=self.top_p, top_k=self.top_k)

    # ------------------------------------------------------------------------------------
    def validate(self) -> "RunConfig":
        """Check every value; raise ConfigError naming the first bad parameter."""
        _one_of("device", self.device, DEVICES)
        _one_of("dtype", self.dtype, DTYPES)
        _one_of("dataset", self.dataset, DATASETS)
        _one_of("gen_backend", self.gen_backend, BACKENDS)
        _one_of("finetune", self.finetune, FINETUNE_METHODS)
        _one_of("paper_branch", self.paper_branch, ("main", "reproduce"))
        if not isinstance(self.project_filters, list) or set(self.project_filters) - {"nonempty", "eos"}:
            raise ConfigError(f"project_filters={self.project_filters!r} is not allowed: a list drawn from "
                              "nonempty, eos (or [] for the paper's filters alone)")
        _one_of("lr_scheduler", self.lr_scheduler, SCHEDULERS)
        for name in ("seed", "threads"):
            _int_at_least(name, getattr(self, name), 0)
        for name in ("world_eval_size", "task_train_size", "task_eval_size", "model_hidden",
                     "model_layers", "model_heads", "model_ffn", "seed_batch_size", "gen_batch_size",
                     "max_new_tokens", "tensor_parallel_size", "lora_r", "lora_alpha", "batch_size",
                     "grad_accum", "cutoff_len"):
            _int_at_least(name, getattr(self, name), 1)
        _int_at_least("seed_warmup", self.seed_warmup, 0)
        _int_at_least("distill_max_examples", self.distill_max_examples, 0)
        _int_at_least("distill_chunk_size", self.distill_chunk_size, 1)
        from .templates import TEMPLATES
        distill_templates = ("auto",) + tuple(n for n, t in TEMPLATES.items() if t.distill)
        _one_of("distill_template", self.distill_template, distill_templates)
        _one_of("train_template", self.train_template,
                tuple(n for n, t in TEMPLATES.items() if not t.distill))
        _int_at_least("top_k", self.top_k, 0)
        _int_at_least("vocab_size", self.vocab_size, 300)
        if self.model_hidden % self.model_heads:
            raise ConfigError(f"model_hidden={self.model_hidden} is not allowed: it must be a multiple "
                              f"of model_heads={self.model_heads}")
        for name in ("model_dropout", "lora_dropout"):
            _float_in(name, getattr(self, name), 0.0, 1.0, hi_open=True)
        _float_in("top_p", self.top_p, 0.0, 1.0, lo_open=True)
        for name in ("seed_lr", "learning_rate", "temperature", "seed_epochs", "epochs"):
            _float_in(name, getattr(self, name), 0.0, None, lo_open=True)
        for name in ("seed_bf16", "do_sample", "allow_code_execution"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name}={getattr(self, name)!r} is not allowed: use true or false")
        _float_in("warmup_ratio", self.warmup_ratio, 0.0, 1.0, hi_open=True)
        if not self.ft_seeds or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in self.ft_seeds):
            raise ConfigError(f"ft_seeds={self.ft_seeds!r} is not allowed: a non-empty list of integers >= 0")
        for name in ("sweep_lrs", "sweep_epochs"):
            vals = getattr(self, name)
            if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 for x in vals):
                raise ConfigError(f"{name}={vals!r} is not allowed: a list of numbers > 0 (or [] for the single setting)")
        from .teaching_world.world import SKILLS
        if not isinstance(self.world_train, dict) or set(self.world_train) - set(SKILLS):
            raise ConfigError(f"world_train={self.world_train!r} is not allowed: a mapping from skills "
                              f"({', '.join(SKILLS)}) to example counts")
        for skill, n in self.world_train.items():
            _int_at_least(f"world_train.{skill}", n, 0)
        if not self.lora_targets or not all(isinstance(t, str) and t for t in self.lora_targets):
            raise ConfigError(f"lora_targets={self.lora_targets!r} is not allowed: a non-empty list of "
                              "module names such as q_proj,v_proj (or all-linear)")
        _int_at_least("eval_limit", self.eval_limit, 0)
        _int_at_least("lm_eval_limit", self.lm_eval_limit, 0)
        self._validate_eval()
        self._validate_model()
        self._validate_data()
        self._validate_hardware()
        return self

    def _validate_model(self) -> None:
        m = self.model
        if m == TEACHING_MODEL:
            return
        looks_local = m.startswith(("/", ".", "~")) or os.sep in m and Path(m).expanduser().exists()
        if looks_local:
            p = Path(m).expanduser()
            if not p.is_dir():
                raise ConfigError(f"model={m!r} is not allowed: that directory does not exist; give "
                                  f"'{TEACHING_MODEL}', a Hugging Face id like meta-llama/Llama-2-7b-chat-hf, "
                                  "or an existing model directory")
            if not (p / "config.json").is_file():
                raise ConfigError(f"model={m!r} is not allowed: the directory has no config.json "
                                  "(save models with save_pretrained)")
        elif not _HUB_ID.match(m):
            raise ConfigError(f"model={m!r} is not allowed: give '{TEACHING_MODEL}', a Hugging Face id "
                              "like meta-llama/Llama-2-7b-chat-hf, or an existing model directory")

    def _validate_eval(self) -> None:
        from .paper_eval import BENCHMARKS
        if not isinstance(self.eval_benchmarks, list):
            raise ConfigError(f"eval_benchmarks={self.eval_benchmarks!r} is not allowed: a list drawn from "
                              f"{', '.join(BENCHMARKS)}")
        for b in self.eval_benchmarks:
            _one_of("eval_benchmarks", b, BENCHMARKS)
        if not isinstance(self.eval_variants, list) or not self.eval_variants:
            raise ConfigError(f"eval_variants={self.eval_variants!r} is not allowed: a non-empty list drawn "
                              "from seed, sft, sdft")
        for v in self.eval_variants:
            _one_of("eval_variants", v, ("seed", "sft", "sdft"))
        if self.eval_benchmarks and self.is_teaching:
            raise ConfigError(f"eval_benchmarks={self.eval_benchmarks!r} is not allowed with "
                              f"model='{TEACHING_MODEL}': the teaching world is scored on its own skills; "
                              "give a saved model directory to run the paper's suite")
        if "humaneval" in self.eval_benchmarks:
            if not self.humaneval_file or not Path(self.humaneval_file).expanduser().is_file():
                raise ConfigError(f"humaneval_file={self.humaneval_file!r} is not allowed with benchmark "
                                  "humaneval: give the HumanEval problems file (JSON lines)")
            if self.allow_code_execution is not True:
                raise ConfigError("allow_code_execution=False is not allowed with benchmark humaneval: "
                                  "it runs model-written code; pass -p allow_code_execution true to opt in")
        if not isinstance(self.lm_eval_tasks, list) or not all(isinstance(t, str) and t for t in self.lm_eval_tasks):
            raise ConfigError(f"lm_eval_tasks={self.lm_eval_tasks!r} is not allowed: a list of task names "
                              "such as mmlu,truthfulqa (or [] for none)")
        if self.lm_eval_include_path and not Path(self.lm_eval_include_path).expanduser().is_dir():
            raise ConfigError(f"lm_eval_include_path={self.lm_eval_include_path!r} is not allowed: give an "
                              "existing folder of lm-eval task YAML files (or '' for lm-eval's own tasks)")

    def _validate_data(self) -> None:
        if self.dataset != "teaching" and not self.data_dir:
            raise ConfigError(f"data_dir='' is not allowed with dataset={self.dataset!r}: give the folder "
                              "holding the paper's data files (sail-sg/sdft, folder data/)")
        if self.dataset != "teaching" and not Path(self.data_dir).expanduser().is_dir():
            raise ConfigError(f"data_dir={self.data_dir!r} is not allowed: that folder does not exist "
                              "(download sail-sg/sdft's data/ folder and point data_dir at it)")

    def _validate_hardware(self) -> None:
        needs_gpu = self.device == "cuda" or self.gen_backend == "vllm"
        if not needs_gpu:
            return
        import torch
        if not torch.cuda.is_available():
            which = "gen_backend='vllm'" if self.gen_backend == "vllm" else "device='cuda'"
            raise ConfigError(f"{which} is not allowed on this machine: it has no CUDA GPU; use "
                              "gen_backend='hf' and device='auto' (or 'cpu')")
        if self.gen_backend == "vllm" and importlib.util.find_spec("vllm") is None:
            raise ConfigError("gen_backend='vllm' is not allowed: vllm is not installed "
                              "(pip install -e '.[vllm]' on a GPU machine) ; use gen_backend='hf'")
        if self.tensor_parallel_size > torch.cuda.device_count():
            raise ConfigError(f"tensor_parallel_size={self.tensor_parallel_size} is not allowed: this "
                              f"machine has {torch.cuda.device_count()} GPU(s)")


# ----------------------------------------------------------------------------------------
# checks and coercion
# ----------------------------------------------------------------------------------------
def _one_of(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        hint = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ConfigError(f"{name}={value!r} is not allowed: choose one of {', '.join(map(str, allowed))}{extra}")


def _int_at_least(name: str, value: Any, lo: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ConfigError(f"{name}={value!r} is not allowed: it must be an integer >= {lo}")


def _float_in(name: str, value: Any, lo: float | None, hi: float | None, *, lo_open: bool = False,
              hi_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value < hi if hi_open else value <= hi
    if not ok:
        lo_s = "" if lo is None else (f"> {lo}" if lo_open else f">= {lo}")
        hi_s = "" if hi is None else (f"< {hi}" if hi_open else f"<= {hi}")
        raise ConfigError(f"{name}={value!r} is not allowed: it must be a number {' and '.join(s for s in (lo_s, hi_s) if s)}")


_FIELDS = {f.name: f for f in fields(RunConfig)}


def _coerce(name: str, value: Any) -> Any:
    """Papermill passes strings for some values and YAML-parsed values for others: accept both."""
    default = _FIELDS[name].default
    kind = None if default is MISSING else type(default)
    if name in ("lora_targets", "eval_benchmarks", "lm_eval_tasks", "eval_variants", "project_filters") and isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    if name in ("ft_seeds", "sweep_lrs", "sweep_epochs"):
        if isinstance(value, str):
            value = [v.strip() for v in value.strip("[]").split(",") if v.strip()]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, list):
            conv = int if name == "ft_seeds" else float
            try:
                return [conv(v) if isinstance(v, str) else v for v in value]
            except ValueError:
                return value
        return value
    if name == "world_train" and isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            pass
        return value
    if isinstance(value, str) and kind in (int, float):
        try:
            return kind(value.strip())
        except ValueError:
            return value  # validation names the parameter
    if isinstance(value, str) and kind is bool:
        return {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}.get(
            value.strip().lower(), value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _check_keys(data: Mapping, where: str) -> None:
    for k in data:
        if k not in _FIELDS:
            hint = difflib.get_close_matches(k, list(_FIELDS), n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(f"{k!r} in {where} is not a known parameter{extra}; see sdft_lib/config.py")


def read_profile(profile: str) -> tuple[str, dict]:
    """Return (profile name, values) for a profile name or a path to a YAML file.

    A profile may start from another with ``extends: <name>``.
    """
    if profile.endswith((".yaml", ".yml")):
        path = Path(profile).expanduser()
        name = path.stem
    else:
        path = params_dir() / f"{profile}.yaml"
        name = profile
    if not path.is_file():
        raise ConfigError(f"profile={profile!r} is not allowed: choose one of "
                          f"{', '.join(available_profiles())} (params/*.yaml) or a path to a .yaml file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"profile={profile!r} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"profile={profile!r} is not allowed: {path.name} must hold a mapping of parameters")
    base = data.pop("extends", None)
    data.pop("description", None)
    _check_keys(data, path.name)
    if base:
        _, base_values = read_profile(base)
        data = {**base_values, **data}
    return name, data


def load_config(profile: str = "toy", **overrides: Any) -> RunConfig:
    """Profile values, then overrides (``None`` means "keep the profile's value"), then checks."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    _check_keys(overrides, "the parameters")
    name, values = read_profile(str(profile))
    values = {**values, **overrides, "profile": name}
    values = {k: _coerce(k, v) for k, v in values.items()}
    if "run_dir" in values and values["run_dir"] is None:
        values["run_dir"] = ""
    return RunConfig(**values).validate()


def config_from_namespace(namespace: Mapping[str, Any]) -> RunConfig:
    """Build the config from a notebook's globals: every name that is a RunConfig field counts.

    Papermill injects ``-p name value`` as globals, so any parameter works on any notebook, even
    one its parameters cell does not list.
    """
    picked = {k: namespace[k] for k in _FIELDS if k in namespace and k != "profile"}
    return load_config(namespace.get("profile", "toy"), **picked)
