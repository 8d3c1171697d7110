"""Drift from the seed: how far a fine-tuned model moved from the seed's own behaviour.

On the seed's own greedy answers to held-out prompts (the instruction probe's,
:mod:`sdft_lib.instruction_probe`): the per-token NLL a fine-tuned model gives them, and the mean
per-token KL(seed || tuned) on them. A model that forgot nothing gives the seed's numbers: its NLL
is the seed's own and its KL is 0.
"""

from __future__ import annotations

from pathlib import Path

from .instruction_probe import PROBE

STAGE = "drift"


def seed_answers(cfg, benchmark: str = PROBE) -> list[dict]:
    """The seed's own greedy answers to the probe's prompts, as records (from its cached evaluation)."""
    from .evaluation import outputs_for_seed

    return [
        {"instruction": r["instruction"], "input": "", "output": r["response"]}
        for r in outputs_for_seed(cfg)
        if r["skill"] == benchmark and r["response"].strip()
    ]


def _drift_key(cfg, run_dir, records: list[dict], benchmark: str) -> dict:
    from .config import artifact_fields
    from .runs import key_hash, read_json

    return {
        "drift_version": 2,
        "benchmark": benchmark,
        "answers": key_hash({"records": records}, 16),
        "run_key": read_json(Path(run_dir) / "manifest.json")["key_hash"] if run_dir else None,
        **artifact_fields(cfg, "drift"),
    }


def drift_folder(cfg, run_dir: str | Path | None, benchmark: str = PROBE) -> Path:
    """Where :func:`drift_from_seed` keeps a model's drift (``rows.json``: one row per answer)."""
    from .runs import key_hash

    key = _drift_key(cfg, run_dir, seed_answers(cfg, benchmark), benchmark)
    return cfg.stage_path(STAGE) / f"{Path(run_dir).name if run_dir else 'seed'}-{key_hash(key, 8)}"


def drift_from_seed(cfg, run_dir: str | Path | None, benchmark: str = PROBE) -> dict:
    """How far a model moved from the seed, on the seed's own answers to held-out prompts:

    ``nll``: mean per-token NLL the model gives them (the seed's own when ``run_dir`` is None);
    ``kl``: mean per-token KL(seed || model) over the same tokens (0 for the seed); ``n`` answers,
    ``tokens`` scored. Encoded as training encodes them (``train_template``, ``cutoff_len``). Cached
    per run under ``runs/<profile>/drift/``."""
    from .likelihood import response_kl
    from .models import load_model
    from .runs import build_once, read_json, write_json
    from .training import load_finetuned

    records = seed_answers(cfg, benchmark)
    key = _drift_key(cfg, run_dir, records, benchmark)

    def build(work: Path) -> dict:
        seed, tok = load_model(cfg)
        tuned = load_finetuned(cfg, run_dir, merge=True)[0] if run_dir else seed
        rows = response_kl(seed, tuned, tok, records, cfg.train_template, cfg.cutoff_len, cfg.paper_branch)
        write_json(work / "rows.json", rows)
        tokens = sum(r["tokens"] for r in rows)
        mean = lambda k: sum(r[k] * r["tokens"] for r in rows) / tokens if tokens else float("nan")
        return {
            "drift": {
                "n": len(rows),
                "tokens": tokens,
                "nll": round(mean("q_nll"), 4),
                "seed_nll": round(mean("p_nll"), 4),
                "kl": round(mean("kl"), 4),
            }
        }

    folder = drift_folder(cfg, run_dir, benchmark)
    name = Path(run_dir).name if run_dir else "seed"
    build_once(folder, key, build, stage=f"{STAGE}/{name}", cfg=cfg)
    return read_json(folder / "manifest.json")["drift"]
