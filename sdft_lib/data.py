"""Task datasets in one schema: ``{"instruction", "input", "output"}``.

The teaching world's task comes from its build folder; the paper's datasets come from the JSON files
released with it (sail-sg/sdft, folder ``data/``), read from ``data_dir`` and never written there.
GSM8K's ``question``/``answer`` records are mapped onto the same schema.
"""

from __future__ import annotations

import json
from pathlib import Path

from .config import ConfigError, RunConfig

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


def normalize(rec: dict) -> dict:
    """Map a record of any of the paper's schemas onto instruction/input/output."""
    if "instruction" in rec and "output" in rec:
        out = {"instruction": rec["instruction"], "input": rec.get("input", "") or "", "output": rec["output"]}
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
    """Read a JSON list (or JSON lines) of records and normalize them."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        rows = json.loads(text)
    if not isinstance(rows, list):
        raise ValueError(f"{path} does not hold a list of records")
    return [normalize(r) for r in rows]


def paper_file(cfg: RunConfig, dataset: str, split: str = "train") -> Path:
    train, test = PAPER_FILES[dataset]
    rel = train if split == "train" else test
    if rel is None:
        raise ConfigError(f"dataset={dataset!r} has no {split} split in the paper's data")
    path = Path(cfg.data_dir).expanduser() / rel
    if not path.is_file():
        raise ConfigError(f"data_dir={cfg.data_dir!r} is missing {rel}: download sail-sg/sdft's data/ folder "
                          f"(https://github.com/sail-sg/sdft/tree/main/data) and point data_dir at it")
    return path


def load_task(cfg: RunConfig, split: str = "train") -> tuple[list[dict], Path]:
    """The fine-tuning dataset of this run and the file it came from."""
    if cfg.dataset == "teaching":
        from .teaching_world.build import build_world_data

        folder = build_world_data(cfg)
        path = folder / ("task_train.json" if split == "train" else "task_test.json")
    else:
        path = paper_file(cfg, cfg.dataset, split)
    return read_records(path), path


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
