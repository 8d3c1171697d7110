"""Build (once) the teaching world: its datasets and its seed chat model (scored on every skill
through :mod:`sdft_lib.benchmarks`).

``runs/<profile>/teaching_world/world-<hash>/``  the datasets, in the paper's JSON schema
``runs/<profile>/teaching_world/seed-<hash>/``   the seed model (a Hugging Face model directory),
                                                 its loss log and its per-skill evaluation

Each folder is keyed by a hash of the parameters that shape it, so changing the world or the model
builds a new folder and a rerun with the same parameters reuses the old one.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..chat import render_chat_text
from ..config import RunConfig, artifact_fields
from ..report import say
from ..runs import build_once, key_hash, read_json, write_json
from ..templates import conversation
from .world import SKILLS, TASK, WorldSpec, build_world

STAGE = "teaching_world"


def world_key(cfg: RunConfig) -> dict:
    return {"world_version": 1, **artifact_fields(cfg, "world")}


def model_key(cfg: RunConfig) -> dict:
    return {"model_version": 2, "world": world_key(cfg), **artifact_fields(cfg, "seed_model")}


def seed_identity(cfg: RunConfig) -> dict | str:
    """What the seed model is, in the cache keys of everything built from it: the teaching seed's
    key (its world and training settings), or the model's name or folder."""
    return model_key(cfg) if cfg.is_teaching else cfg.model


def world_root(cfg: RunConfig) -> Path:
    """Where the world and its seed models are built: ``teaching_world_dir``, else the run's own
    ``teaching_world/`` stage folder. Runs that point at one folder share the seed (keyed by hash)."""
    return Path(cfg.teaching_world_dir).expanduser() if cfg.teaching_world_dir else cfg.stage_path(STAGE)


def world_path(cfg: RunConfig) -> Path:
    return world_root(cfg) / f"world-{key_hash(world_key(cfg))}"


def seed_model_path(cfg: RunConfig) -> Path:
    return world_root(cfg) / f"seed-{key_hash(model_key(cfg))}"


def build_world_data(cfg: RunConfig) -> Path:
    """Write the world's datasets (paper schema) and return their folder."""

    def build(work: Path) -> dict:
        w = build_world(
            WorldSpec(
                seed=cfg.seed,
                train_per_skill=cfg.world_train,
                eval_per_skill=cfg.world_eval_size,
                task_train=cfg.task_train_size,
                task_eval=cfg.task_eval_size,
            )
        )
        write_json(work / "seed_train.json", w["seed_train"])
        write_json(work / "task_train.json", w["task_train"])
        write_json(work / "task_test.json", w["eval"][TASK])
        for skill in SKILLS:
            write_json(work / "eval" / f"{skill}.json", w["eval"][skill])
        counts = {
            "seed_train": len(w["seed_train"]),
            "task_train": len(w["task_train"]),
            **{f"eval/{k}": len(v) for k, v in w["eval"].items()},
        }
        return {"counts": counts}

    return build_once(world_path(cfg), world_key(cfg), build, stage=f"{STAGE}/world", cfg=cfg)


def eval_sets(world_dir: Path) -> dict[str, list[dict]]:
    """Held-out evaluation prompts per skill, the task's test set included (key ``multiply``)."""
    sets = {s: read_json(world_dir / "eval" / f"{s}.json") for s in SKILLS}
    sets[TASK] = read_json(world_dir / "task_test.json")
    return sets


def untrained_seed(cfg: RunConfig, records: list[dict]):
    """The seed model before its training, and its tokenizer: a tokenizer trained on the world's
    chat records and a Llama of the profile's shape (``model_*``), initialised from ``cfg.seed``."""
    from .model import ModelSpec, build_model, train_tokenizer

    tok = train_tokenizer((render_chat_text(conversation(r)) for r in records), cfg.vocab_size)
    spec = ModelSpec(
        hidden=cfg.model_hidden,
        layers=cfg.model_layers,
        heads=cfg.model_heads,
        ffn=cfg.model_ffn,
        dropout=cfg.model_dropout,
    )
    return build_model(tok, spec, cfg.seed), tok


def build_seed_model(cfg: RunConfig) -> Path:
    """Train the seed chat model from scratch (once per config) and evaluate it on every skill."""
    from .model import train_from_scratch

    world_dir = build_world_data(cfg)

    def build(work: Path) -> dict:
        t0 = time.time()
        records = read_json(world_dir / "seed_train.json")
        model, tok = untrained_seed(cfg, records)
        t1 = time.time()

        def progress(entry: dict, total: int) -> None:
            if entry["step"] % max(1, total // 10) < 20 or entry["step"] == total:
                say(f"  step {entry['step']:>5}/{total}  loss {entry['loss']:.3f}  {entry['seconds']:.0f}s")

        train_log = train_from_scratch(
            model,
            tok,
            records,
            epochs=cfg.seed_epochs,
            batch_size=cfg.seed_batch_size,
            lr=cfg.seed_lr,
            warmup=cfg.seed_warmup,
            bf16=cfg.seed_bf16,
            seed=cfg.seed,
            progress=progress,
        )
        t2 = time.time()
        model.save_pretrained(work, safe_serialization=True)
        tok.save_pretrained(work)
        write_json(work / "train_log.json", train_log)
        n_params = sum(p.numel() for p in model.parameters())
        from .. import benchmarks

        scores, rows = benchmarks.evaluate(
            model,
            tok,
            benchmarks.teaching(eval_sets(world_dir)),
            benchmarks.TEACHING_MAX_NEW_TOKENS,
            cfg.gen_batch_size,
        )
        write_json(work / "eval_scores.json", scores)
        write_json(work / "eval_outputs.json", rows)
        t3 = time.time()
        return {
            "parameters": n_params,
            "world": world_dir.name,
            "scores": scores,
            "timings": {
                "tokenizer_and_init": round(t1 - t0, 1),
                "training": round(t2 - t1, 1),
                "evaluation": round(t3 - t2, 1),
            },
        }

    return build_once(seed_model_path(cfg), model_key(cfg), build, stage=f"{STAGE}/seed", cfg=cfg)


def seed_summary(path: str | Path) -> dict:
    return read_json(Path(path) / "manifest.json")
