"""Task datasets and probe sets in one schema: ``{"instruction", "input", "output"}`` (+ ``system``,
``history``).

Where ``dataset`` comes from:

- ``teaching``: the teaching world's task, from its build folder;
- one of the paper's seven names: its JSON files (sail-sg/sdft, folder ``data/``) read from
  ``data_dir`` and never written there; GSM8K's ``question``/``answer`` map onto the schema;
- anything else: a JSON, JSON-lines, CSV or Parquet file, a folder written by
  ``datasets.save_to_disk``, or a Hugging Face dataset id (``org/name`` or ``name``; the ``datasets``
  cache and offline mode are honoured). ``columns`` maps the user's field names onto the schema. The
  test split is a second file or a named split (``test_split``), or a held-out fraction of the
  training data (``test_fraction``, ``split_seed``).

Every user file is read by the ``datasets`` library and checked before any heavy work: it exists, is
UTF-8, parses, is not empty, and every record has the mapped keys as non-empty strings. A failure is
one :class:`ConfigError` line naming the parameter, the file, and the first bad record and key. The
records a run uses are written once into ``runs/<profile>/data/`` (named by their content hash), so
every stage reads the same file and its hash lands in their manifests.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from .config import DATASETS, ConfigError, RunConfig, is_local

# dataset -> (train file, test file) inside data_dir, as laid out in sail-sg/sdft's data/ folder
PAPER_FILES: dict[str, tuple[str, str | None]] = {
    "gsm8k": ("gsm8k/gsm8k_train.json", "gsm8k/gsm8k_test.json"),
    "openfunction": ("openfunction/openfunction_train.json", "openfunction/openfunction_test.json"),
    "alpaca": ("alpaca/alpaca_train.json", None),
    "dolly": ("dolly/dolly_train.json", None),
    "lima": ("lima/lima_train.json", None),
    "magicoder": ("magicoder/magicoder_train.json", None),
    "openhermes": ("openhermes/openhermes_train.json", None),
}
# The paper's own released distilled sets (Llama-2-7b-chat rewrites), for comparison.
PAPER_DISTILLED = {
    "alpaca": "alpaca/distilled_alpaca.json",
    "openfunction": "openfunction/distilled_openfunction.json",
}
# Evaluation-only files of the paper.
PAPER_EVAL_FILES = {
    "multiarith": "multiarith_test.json",
    "alpaca_eval": "alpaca_eval.json",
    "advbench": "harmful_behaviors.csv",
}
# File formats read through the datasets library (its packaged builders).
FORMATS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}
SCHEMA = ("instruction", "input", "output", "system", "history")
REQUIRED = ("instruction", "output")
# Field names that map onto the schema without a ``columns`` entry (the paper's two schemas).
AUTO_COLUMNS = {
    "instruction": ("instruction", "question"),
    "output": ("output", "answer"),
    "input": ("input",),
    "system": ("system",),
    "history": ("history",),
}


def normalize(rec: dict) -> dict:
    """Map a record of any of the paper's schemas onto instruction/input/output."""
    if "instruction" in rec and "output" in rec:
        out = {
            "instruction": rec["instruction"],
            "input": rec.get("input", "") or "",
            "output": rec["output"],
        }
    elif "question" in rec and "answer" in rec:
        out = {"instruction": rec["question"], "input": "", "output": rec["answer"]}
    else:
        raise ValueError(f"record has neither instruction/output nor question/answer keys: {sorted(rec)}")
    if "system" in rec:
        out["system"] = rec["system"]
    if rec.get("history"):  # LIMA's earlier turns (templates.to_messages renders them before this turn)
        out["history"] = rec["history"]
    return out


def read_records(path: str | Path) -> list[dict]:
    """Read a JSON list (or JSON lines) of records in one of the paper's schemas and normalize them
    (the project's own files: the paper's data, the world's, a run's materialized data)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        rows = json.loads(text)
    if not isinstance(rows, list):
        raise ValueError(f"{path} does not hold a list of records")
    return [normalize(r) for r in rows]


# ---------------------------------------------------------------------------------------------
# Where a dataset comes from
# ---------------------------------------------------------------------------------------------
def dataset_kind(value: str) -> str:
    """``teaching``, ``paper``, ``file``, ``saved`` (a ``save_to_disk`` folder) or ``hub``."""
    if value == "teaching":
        return "teaching"
    if value in DATASETS:
        return "paper"
    if not is_local(value, FORMATS):
        return "hub"
    return "saved" if Path(value).expanduser().is_dir() else "file"


def _shown(path: Path) -> str:
    from .runs import display_path

    return display_path(path)


def _check_text_file(param: str, value: str, path: Path) -> str:
    """The format of a data file, after checking it exists, is not empty and (text formats) is UTF-8."""
    where = f"{param}={value!r}"
    if not path.is_file():
        raise ConfigError(f"{where} is not allowed: {_shown(path)} does not exist")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(
            f"{where} is not allowed: {path.name} is not a .json, .jsonl, .csv or .parquet file"
        )
    if path.stat().st_size == 0:
        raise ConfigError(f"{where} is not allowed: {_shown(path)} is empty")
    if fmt != "parquet":
        data = path.read_bytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{where} is not allowed: {_shown(path)} is not UTF-8 text (byte {exc.start} "
                f"is 0x{data[exc.start]:02x}); save it as UTF-8"
            ) from None
        if not data.strip():
            raise ConfigError(f"{where} is not allowed: {_shown(path)} holds only white space")
    return fmt


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def read_table(param: str, value: str, split: str = "train") -> tuple[list[dict], str]:
    """The rows of a user dataset (file, saved folder or hub id) as read by ``datasets``, and a
    description of where they came from. Nothing is written outside a temporary folder."""
    import datasets

    datasets.disable_progress_bars()
    kind = dataset_kind(value)
    where = f"{param}={value!r}"
    if kind == "file":
        path = Path(value).expanduser()
        fmt = _check_text_file(param, value, path)
        kwargs: dict[str, Any] = {}
        if fmt == "csv":  # CSV has no types: every column is text, an empty cell the empty string
            import csv

            with open(path, newline="", encoding="utf-8") as f:
                header = next(csv.reader(f), [])
            kwargs = {
                "features": datasets.Features({c: datasets.Value("string") for c in header}),
                "keep_default_na": False,
            }
        try:
            with tempfile.TemporaryDirectory() as tmp:
                ds = datasets.load_dataset(
                    fmt,
                    data_files={"train": str(path)},
                    split="train",
                    cache_dir=tmp,
                    keep_in_memory=True,
                    **kwargs,
                )
                rows = ds.to_list()
        except Exception as exc:
            raise ConfigError(
                f"{where} is not allowed: {_shown(path)} could not be read as {fmt.upper()} "
                f"records: {_first_line(exc)}"
            ) from None
        return rows, _shown(path)
    if kind == "saved":
        path = Path(value).expanduser()
        try:
            obj = datasets.load_from_disk(str(path), keep_in_memory=True)
        except Exception as exc:
            raise ConfigError(
                f"{where} is not allowed: {_shown(path)} is not a folder written by "
                f"datasets' save_to_disk ({_first_line(exc)})"
            ) from None
        if isinstance(obj, datasets.DatasetDict):
            if split not in obj:
                raise ConfigError(f"{where} has no split {split!r}: its splits are {', '.join(obj)}")
            obj = obj[split]
        elif split != "train":
            raise ConfigError(f"{where} is one dataset without splits: split {split!r} is not allowed")
        return obj.to_list(), f"{_shown(path)} [{split}]"
    try:
        ds = datasets.load_dataset(value, split=split)
    except ValueError as exc:
        if "split" in str(exc).lower() or "Unknown split" in str(exc):
            raise ConfigError(f"{where} has no split {split!r} ({_first_line(exc)})") from None
        raise ConfigError(f"{where} could not be read: {_first_line(exc)}") from None
    except Exception as exc:
        raise ConfigError(
            f"{where} is not allowed: no file or folder has that name and the Hugging Face "
            f"dataset is not available ({_first_line(exc)}); download it once with network "
            "access, or give a file"
        ) from None
    return ds.to_list(), f"{value} [{split}]"


def own_table(cfg: RunConfig) -> tuple[list[dict], str]:
    """The rows of your own dataset as you have them (before the column mapping), and where they came
    from; a one-line error if the run's dataset is the teaching world or one of the paper's (lab 5 is
    about a file of your own)."""
    kind = dataset_kind(cfg.dataset)
    if kind in ("teaching", "paper"):
        raise ConfigError(
            f"dataset={cfg.dataset!r} is not allowed here: this lab runs on a dataset of your own (a "
            ".json, .jsonl, .csv or .parquet file, a save_to_disk folder or a hub id), and "
            f"{cfg.dataset!r} is {'the teaching world' if kind == 'teaching' else 'one of the paper'}'s; "
            "give one with -p dataset, or take a profile that does (own-data, own-data-smollm2)"
        )
    return read_table("dataset", cfg.dataset)


def _column_map(
    param: str, value: str, source: str, present: list[str], columns: dict, columns_param: str = "columns"
) -> dict[str, str]:
    """schema key -> the user's column, from ``columns`` plus the automatic names."""
    mapping = {}
    for key in SCHEMA:
        if key in columns:
            if columns[key] not in present:
                raise ConfigError(
                    f"{columns_param}.{key}={columns[key]!r} is not allowed: {source} has no column "
                    f"{columns[key]!r} (its columns: {', '.join(present)})"
                )
            mapping[key] = columns[key]
        else:
            found = [c for c in AUTO_COLUMNS[key] if c in present and c not in columns.values()]
            if found:
                mapping[key] = found[0]
    missing = [k for k in REQUIRED if k not in mapping]
    if missing:
        raise ConfigError(
            f"{param}={value!r} is not allowed: {source} has no column for "
            f"{' and '.join(missing)} (its columns: {', '.join(present) or 'none'}); map yours "
            "with columns, e.g. -p columns '{instruction: question, output: solution}'"
        )
    return mapping


def _describe(v: Any) -> str:
    if v is None:
        return "missing (null)"
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, str):
        return "empty" if not v.strip() else "a string"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f"a number ({v!r}), not a string"
    return f"a {type(v).__name__}, not a string"


def to_records(
    param: str, value: str, source: str, rows: list[dict], columns: dict, columns_param: str = "columns"
) -> list[dict]:
    """Map and check rows; raise one line for the first bad record (0-based index) and key."""
    if not rows:
        raise ConfigError(f"{param}={value!r} is not allowed: {source} holds no records")
    mapping = _column_map(param, value, source, list(rows[0]), columns, columns_param)
    out = []
    for i, row in enumerate(rows):
        rec = {}
        for key, col in mapping.items():
            v = row.get(col)
            if key in REQUIRED:
                ok = isinstance(v, str) and v.strip()
            elif key == "history":
                ok = v is None or (
                    isinstance(v, list)
                    and all(
                        isinstance(t, (list, tuple)) and len(t) == 2 and all(isinstance(x, str) for x in t)
                        for t in v
                    )
                )
            else:
                ok = v is None or isinstance(v, str)
            if not ok:
                need = (
                    "a non-empty string"
                    if key in REQUIRED
                    else "a list of [user, assistant] pairs"
                    if key == "history"
                    else "a string"
                )
                shown = (
                    "a list of another shape" if key == "history" and isinstance(v, list) else _describe(v)
                )
                raise ConfigError(
                    f"{param}={value!r} is not allowed: {source} record {i}: {key} "
                    f"(column {col!r}) is {shown}; it must be {need}"
                )
            if v is not None and v != []:
                rec[key] = v
        rec.setdefault("input", "")
        out.append(
            {
                "instruction": rec["instruction"],
                "input": rec["input"],
                "output": rec["output"],
                **{k: rec[k] for k in ("system", "history") if k in rec},
            }
        )
    return out


def user_records(
    param: str, value: str, columns: dict, split: str = "train", columns_param: str = "columns"
) -> tuple[list[dict], str]:
    rows, source = read_table(param, value, split)
    return to_records(param, value, source, rows, columns, columns_param), source


# ---------------------------------------------------------------------------------------------
# The run's task data
# ---------------------------------------------------------------------------------------------
def paper_file(cfg: RunConfig, dataset: str, split: str = "train") -> Path:
    train, test = PAPER_FILES[dataset]
    rel = train if split == "train" else test
    if rel is None:
        raise ConfigError(f"dataset={dataset!r} has no {split} split in the paper's data")
    path = Path(cfg.data_dir).expanduser() / rel
    if not path.is_file():
        raise ConfigError(
            f"data_dir={cfg.data_dir!r} is missing {rel}: download sail-sg/sdft's data/ folder "
            f"(https://github.com/sail-sg/sdft/tree/main/data) and point data_dir at it"
        )
    return path


def json_records(param: str, value: str, path: Path) -> list[dict]:
    """A JSON list (or JSON lines) of records in one of the paper's schemas, read and checked like your
    own files: it exists, is not empty, is UTF-8, parses, holds records, and every record has a
    non-empty instruction and output (``question``/``answer`` map onto them). One line for the first
    problem, naming ``param`` and the file, and the record (its 0-based index) and key."""
    _check_text_file(param, value, path)
    where = f"{param}={value!r} is not allowed: {_shown(path)}"
    text = path.read_text(encoding="utf-8")
    try:
        rows = (
            [json.loads(line) for line in text.splitlines() if line.strip()]
            if path.suffix == ".jsonl"
            else json.loads(text)
        )
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{where} could not be read as JSON records: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(rows, list):
        raise ConfigError(f"{where} holds a JSON {type(rows).__name__}, not a list of records")
    bad = next((i for i, r in enumerate(rows) if not isinstance(r, dict)), None)
    if bad is not None:
        raise ConfigError(
            f"{where} record {bad} is a {type(rows[bad]).__name__}, not an object with instruction and output"
        )
    return to_records(param, value, _shown(path), rows, {})


def paper_records(cfg: RunConfig, dataset: str, split: str = "train") -> tuple[list[dict], Path]:
    """The paper's records of ``dataset`` (``train`` or ``test``) from ``data_dir``, checked like your own
    files (:func:`json_records`), and the file they came from."""
    path = paper_file(cfg, dataset, split)
    return json_records("dataset", dataset, path), path


def has_test_split(cfg: RunConfig) -> bool:
    kind = dataset_kind(cfg.dataset)
    if kind == "teaching":
        return True
    if kind == "paper":
        return PAPER_FILES[cfg.dataset][1] is not None
    return bool(cfg.test_split or cfg.test_fraction)


def user_split(cfg: RunConfig, split: str) -> list[dict]:
    """The user's train or test records, after ``test_split`` / ``test_fraction``."""
    if split == "test" and not has_test_split(cfg):
        raise ConfigError(
            f"dataset={cfg.dataset!r} has no test split: give test_split (a second file or a "
            "split name) or test_fraction"
        )
    if split == "test" and cfg.test_split:
        second = Path(cfg.test_split).expanduser()
        if second.suffix.lower() in FORMATS or second.exists():
            return user_records("test_split", cfg.test_split, cfg.columns)[0]
        return user_records("dataset", cfg.dataset, cfg.columns, cfg.test_split)[0]
    records = user_records("dataset", cfg.dataset, cfg.columns, cfg.train_split)[0]
    if not cfg.test_fraction:
        return records
    import random

    order = list(range(len(records)))
    random.Random(cfg.split_seed).shuffle(order)
    n_test = max(1, round(cfg.test_fraction * len(records)))
    if n_test >= len(records):
        raise ConfigError(
            f"test_fraction={cfg.test_fraction} is not allowed: it leaves no training records "
            f"out of {len(records)}"
        )
    picked = sorted(order[:n_test]) if split == "test" else sorted(order[n_test:])
    return [records[i] for i in picked]


def _materialize(cfg: RunConfig, name: str, records: list[dict]) -> Path:
    """Write records once into ``runs/<profile>/data/<name>-<content hash>.json`` (reused after)."""
    from .runs import key_hash, write_json

    path = cfg.run_path / "data" / f"{name}-{key_hash(records, 12)}.json"
    if not path.is_file():
        write_json(path, records)
    return path


def load_task(cfg: RunConfig, split: str = "train") -> tuple[list[dict], Path]:
    """The fine-tuning dataset of this run (``train`` or ``test``) and the file it came from."""
    kind = dataset_kind(cfg.dataset)
    if kind == "teaching":
        from .teaching_world.build import build_world_data

        folder = build_world_data(cfg)
        path = folder / ("task_train.json" if split == "train" else "task_test.json")
        return read_records(path), path
    if kind == "paper":
        return paper_records(cfg, cfg.dataset, split)
    records = user_split(cfg, split)
    return records, _materialize(cfg, split, records)


# ---------------------------------------------------------------------------------------------
# Probe sets (eval_sets)
# ---------------------------------------------------------------------------------------------
def capped(cfg: RunConfig, records: list[dict]) -> list[dict]:
    """The first ``max_train_examples`` of the training records (all of them when it is unset): the
    records every stage rewrites and trains on."""
    return records[: cfg.max_train_examples] if cfg.max_train_examples else records


def train_records(cfg: RunConfig) -> tuple[list[dict], Path]:
    """The training records every stage rewrites and trains on (:func:`capped`), and their file."""
    records, path = load_task(cfg, "train")
    return capped(cfg, records), path


def eval_set_records(cfg: RunConfig, spec: dict) -> list[dict]:
    """The records of one ``eval_sets`` entry (``{"file", "name", "scorer", "columns"}``); without
    its own ``columns`` it is read with the run's."""
    own = spec.get("columns")
    return user_records(
        "eval_sets",
        spec["file"],
        own or cfg.columns,
        "train",
        f"eval_sets[{spec['name']}].columns" if own else "columns",
    )[0]


def eval_set_file(cfg: RunConfig, spec: dict) -> tuple[list[dict], Path]:
    records = eval_set_records(cfg, spec)
    return records, _materialize(cfg, f"eval-{spec['name']}", records)


# ---------------------------------------------------------------------------------------------
# Everything checked before heavy work (the first cell of every notebook, and make dry-run)
# ---------------------------------------------------------------------------------------------
def check_inputs(cfg: RunConfig) -> dict:
    """Read and check every input file of the run (the task's splits, the probe sets) without
    writing anything; return their sizes. Raises one ConfigError line for the first problem."""
    out: dict[str, int] = {}
    kind = dataset_kind(cfg.dataset)
    if kind == "paper":
        out["train"] = len(paper_records(cfg, cfg.dataset, "train")[0])
        if has_test_split(cfg):
            out["test"] = len(paper_records(cfg, cfg.dataset, "test")[0])
    elif kind in ("file", "saved", "hub"):
        out["train"] = len(user_split(cfg, "train"))
        if has_test_split(cfg):
            out["test"] = len(user_split(cfg, "test"))
    for spec in cfg.eval_sets:
        out[f"eval_sets:{spec['name']}"] = len(eval_set_records(cfg, spec))
    return out


def paper_distilled_pairs(data_dir: str | Path) -> dict[str, tuple[list[dict], list[dict]]] | None:
    """``{dataset: (original records, the paper's distilled records)}`` for the distilled sets the
    paper released; None when any of the files is missing from ``data_dir``."""
    data_dir = Path(data_dir).expanduser()
    pairs = {}
    for dataset, rel in PAPER_DISTILLED.items():
        orig, dist = data_dir / PAPER_FILES[dataset][0], data_dir / rel
        if not (orig.is_file() and dist.is_file()):
            return None
        pairs[dataset] = (read_records(orig), read_records(dist))
    return pairs


__all__ = [
    "check_inputs",
    "dataset_kind",
    "eval_set_records",
    "json_records",
    "load_task",
    "paper_records",
    "read_records",
    "user_records",
]
