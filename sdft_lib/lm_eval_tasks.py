"""lm-evaluation-harness, through its Python API.

* The teaching world's skills become **custom lm-eval tasks**: one JSON-lines file and one task YAML
  per skill, written into the run folder (they name the data file by its absolute path, so they are
  generated, never committed). Each skill is a ``generate_until`` task scored by ``exact_match`` on
  the whole answer (the world's *strict* score); arithmetic is also a ``multiple_choice`` task (the
  right answer against three with a wrong number, scored by log-likelihood).
* Real models run the standard tasks the paper used (``mmlu, truthfulqa, ai2_arc, hellaswag,
  winogrande``), chosen by the run parameter ``lm_eval_tasks``; they need lm-eval's datasets, which
  are downloaded from the Hugging Face Hub the first time (online only).

Either way the model is lm-eval's ``HFLM``: the saved base model plus, for a fine-tuned run, its
peft adapter (``peft=``), exactly as ``lm_eval --model hf --model_args pretrained=...,peft=...``.
"""

from __future__ import annotations

import json
import random
import re
from functools import lru_cache
from pathlib import Path

import yaml

from .runs import write_text

PREFIX = "tw_"
_STRIP = [r"^\s+", r"\s+$"]


def _task_yaml(name: str, data: Path, kind: str, max_gen_toks: int) -> dict:
    base = {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data)}},
        "test_split": "test",
        "doc_to_text": "{{prompt}}",
        "metadata": {"version": 1.0},
    }
    if kind == "generate":
        return {
            **base,
            "output_type": "generate_until",
            "doc_to_target": "{{target}}",
            "generation_kwargs": {"until": ["</s>"], "max_gen_toks": max_gen_toks, "do_sample": False},
            "metric_list": [
                {
                    "metric": "exact_match",
                    "aggregation": "mean",
                    "higher_is_better": True,
                    "regexes_to_ignore": _STRIP,
                }
            ],
        }
    return {
        **base,
        "output_type": "multiple_choice",
        "doc_to_choice": "{{choices}}",
        "doc_to_target": "{{gold}}",
        "target_delimiter": " ",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
    }


def _distractors(answer: str, reference: str, rng: random.Random, k: int = 3) -> list[str]:
    """The reference with its final number swapped for nearby wrong ones."""
    n = int(answer)
    pool = [v for v in {n + 1, n - 1, n + 2, n + 10, max(0, n - 10), n * 2} if v != n and v >= 0]
    rng.shuffle(pool)
    out = []
    for v in pool:
        w = re.sub(rf"(?<!\d){n}(?!\d)", str(v), reference)
        if w != reference and w not in out:
            out.append(w)
    return out[:k]


def write_teaching_tasks(
    folder: str | Path, sets: dict[str, list[dict]], tokenizer, max_gen_toks: int = 48, seed: int = 0
) -> list[str]:
    """Write one lm-eval task per skill (and ``tw_arithmetic_mc``) into ``folder``; return the names.

    The prompt is the record rendered through the tokenizer's chat template, the same string the
    book's own evaluation feeds the model, so lm-eval and ``evaluation`` score the same answers.
    """
    from .benchmarks import teaching
    from .metrics import find_last_integer
    from .templates import render_prompt_text

    folder = Path(folder)
    names = []
    for bench in teaching(sets):
        skill = bench.name
        docs = [
            {"prompt": render_prompt_text(bench.template, r, tokenizer), "target": r["output"].strip()}
            for r in bench.rendered()
        ]
        data = write_text(folder / f"{skill}.jsonl", "".join(json.dumps(d) + "\n" for d in docs))
        name = f"{PREFIX}{skill}"
        write_text(
            folder / f"{name}.yaml",
            yaml.safe_dump(_task_yaml(name, data.resolve(), "generate", max_gen_toks)),
        )
        names.append(name)
    if "arithmetic" in sets:  # (answers without a final number are left out of this task)
        rng = random.Random(seed)
        docs = []
        for r in sets["arithmetic"]:
            ans = find_last_integer(r["output"])
            if not ans.lstrip("-").isdigit() or int(ans) < 0:
                continue
            wrong = _distractors(ans, r["output"].strip(), rng)
            if len(wrong) < 3:
                continue
            choices = wrong + [r["output"].strip()]
            rng.shuffle(choices)
            docs.append(
                {
                    "prompt": render_prompt_text("chat", r, tokenizer),
                    "choices": choices,
                    "gold": choices.index(r["output"].strip()),
                }
            )
        if not docs:
            return names
        data = write_text(folder / "arithmetic_mc.jsonl", "".join(json.dumps(d) + "\n" for d in docs))
        name = f"{PREFIX}arithmetic_mc"
        write_text(
            folder / f"{name}.yaml", yaml.safe_dump(_task_yaml(name, data.resolve(), "mc", max_gen_toks))
        )
        names.append(name)
    return names


@lru_cache(maxsize=4)
def task_manager(include_path: str | None, tasks: tuple[str, ...], stamp: tuple = ()):
    """lm-eval's ``TaskManager`` for ``tasks``. Indexing lm-eval's own task folder parses about 26,000
    YAML files (14-28 s here, at every construction), so when your ``include_path`` defines every task
    asked for, only that folder is indexed; otherwise both are. Kept per process while ``stamp`` (the
    folder's files, sizes and times) is unchanged."""
    from lm_eval.tasks import TaskManager

    if include_path:
        own = TaskManager(include_path=include_path, include_defaults=False)
        if set(tasks) <= set(own.all_tasks):
            return own
    return TaskManager(include_path=include_path)


def run_lm_eval(
    model_path: str | Path,
    tasks: list[str],
    *,
    adapter: str | Path | None = None,
    include_path: str | Path | None = None,
    limit: int | None = None,
    device: str = "cpu",
    batch_size: int = 16,
    dtype: str = "float32",
) -> dict[str, dict[str, float]]:
    """Evaluate ``tasks`` with lm-eval's HFLM (base model + optional peft adapter).

    Returns ``{task: {metric: value}}`` with values as lm-eval reports them (fractions, 0-1), for the
    top-level entries only: a group (``mmlu``) stands for its subtasks; a tag (``ai2_arc``) is
    reported as the tasks it names (``arc_easy``, ``arc_challenge``).
    """
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(
        pretrained=str(model_path),
        peft=str(adapter) if adapter else None,
        device=device,
        batch_size=batch_size,
        dtype=dtype,
        trust_remote_code=False,
    )
    stamp = (
        tuple(
            (str(p), p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(Path(include_path).expanduser().rglob("*"))
        )
        if include_path
        else ()
    )
    manager = task_manager(str(include_path) if include_path else None, tuple(tasks), stamp)
    # simple_evaluate runs torch's collect_env (`pip list` and 10 more subprocesses, ~2 s) for an
    # environment report that is never read here: the run's manifest records the packages.
    # lm-eval draws a progress bar per task and per request type (about a hundred lines in an executed
    # notebook) and has no switch for them: its stderr is kept, and shown only if it fails.
    import contextlib
    import io
    import sys
    from unittest import mock

    import lm_eval.evaluator as evaluator

    chatter = io.StringIO()
    try:
        with (
            mock.patch.object(evaluator, "add_env_info", lambda storage: None),
            contextlib.redirect_stderr(chatter),
        ):
            out = lm_eval.simple_evaluate(
                model=lm,
                tasks=list(tasks),
                task_manager=manager,
                limit=limit or None,
                log_samples=False,
                bootstrap_iters=0,
                verbosity="ERROR",
            )
    except BaseException:
        sys.stderr.write(chatter.getvalue()[-4000:])
        raise
    inner = {t for subtasks in (out.get("group_subtasks") or {}).values() for t in subtasks}
    results = {}
    for task, metrics in {**out["results"], **(out.get("groups") or {})}.items():
        if task in inner:
            continue
        values: dict[str, float] = {}
        for k, v in metrics.items():
            if "," in k and "stderr" not in k and isinstance(v, (int, float)):
                values.setdefault(k.split(",")[0], float(v))
        if values:
            results[task] = values
    return results


def primary_score(metrics: dict[str, float]) -> tuple[str, float]:
    """The metric a task is reported by: ``acc`` where lm-eval computes it (what the paper's
    ``eval_general_knowledge.py`` reads), else the task's first metric. Returns (name, value 0-1)."""
    name = "acc" if "acc" in metrics else next(iter(metrics))
    return name, metrics[name]


def lm_eval_key(cfg, model_dir, adapter, tasks: list[str], include_path, ident: dict) -> dict:
    """An lm-eval run's cache key: the weights (folder, adapter, ``ident``), the tasks, their files'
    digests when they are your own, and ``config.ARTIFACT_FIELDS["lm_eval"]``."""
    from .config import artifact_fields

    key = {
        "lm_eval_version": 3,
        "model": str(model_dir),
        "adapter": str(adapter) if adapter else None,
        "tasks": list(tasks),
        **ident,
        **artifact_fields(cfg, "lm_eval"),
    }
    if include_path:
        key["task_files"] = {
            p.name: _digest(p) for p in sorted(Path(include_path).expanduser().glob("**/*.y*ml"))
        }
    return key


def evaluate_with_lm_eval(
    cfg,
    name: str,
    model_dir: str | Path,
    adapter: str | Path | None,
    tasks: list[str],
    include_path: str | Path | None,
    ident: dict,
) -> dict:
    """Cached lm-eval run for one model of a run: ``evaluation/lm_eval-<name>-<hash>/results.json``.

    ``ident`` says which weights these are (the seed's name or a training run's key), so a retrained
    adapter is never mistaken for an old one.
    """
    from .hardware import resolve_device
    from .runs import build_once, key_hash, read_json, write_json

    key = lm_eval_key(cfg, model_dir, adapter, tasks, include_path, ident)
    path = cfg.stage_path("evaluation") / f"lm_eval-{name}-{key_hash(key, 8)}"

    def build(work: Path) -> dict:
        from .errors import ConfigError

        device = resolve_device(cfg)
        try:
            res = run_lm_eval(
                model_dir,
                tasks,
                adapter=adapter,
                include_path=include_path,
                limit=cfg.lm_eval_limit,
                device=device,
                batch_size=cfg.gen_batch_size,
                dtype="bfloat16" if device == "cuda" else "float32",
            )
        except (OSError, ConnectionError, KeyError, ValueError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise ConfigError(
                f"lm_eval_tasks={list(tasks)!r} could not run: {first} (lm-eval's own tasks download "
                "their data from the Hugging Face Hub once; offline, give your own task YAMLs with "
                "lm_eval_include_path, or -p lm_eval_tasks '' to skip)"
            ) from None
        write_json(work / "results.json", res)
        return {"results": res}

    build_once(path, key, build, stage=f"evaluation/lm_eval-{name}", cfg=cfg)
    return read_json(path / "results.json")


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
