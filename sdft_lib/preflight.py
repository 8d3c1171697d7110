"""Dry runs and the paper's data files.

``dry_run(cfg)`` checks everything a run needs without loading a model: the configuration, the
training data's schema, the distillation and training templates (rendered on the first record), the
filters, and every evaluation file. Use it before renting a GPU::

    python -m sdft_lib.preflight paper/gsm8k -p data_dir ~/sdft-data

``fetch_paper_data(dest)`` downloads the paper's data files from sail-sg/sdft on demand (online
only) and records their SHA-256 in ``dest/checksums.json``; offline it fails with one line that says
what to download and where to put it.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .config import ConfigError, RunConfig, load_config

PAPER_DATA_URL = "https://raw.githubusercontent.com/sail-sg/sdft/main/data/"


def dry_run(cfg: RunConfig) -> dict:
    """Validate a run end to end without a model; return what was checked (raises ConfigError).

    Every input file is read and checked (``data.check_inputs``: the task's splits, your probe sets),
    then the templates are rendered on the first record, the filters and the benchmarks listed. The
    files and folders the config names must exist here (``runtime.check_paths``); the hardware is
    not checked, so a GPU run can be dry-run on a laptop."""
    from .data import capped, check_inputs, dataset_kind, eval_set_records, load_task
    from .evaluation import paper_suite_runs, task_benchmark, task_scorer
    from .paper_eval import DEFAULT_BENCHMARKS, load_benchmark
    from .runtime import check_paths
    from .self_distillation import distill_template_name, run_rules
    from .templates import get_template, render_prompt_text

    check_paths(cfg)
    report: dict = {
        "profile": cfg.profile,
        "model": cfg.model,
        "dataset": cfg.dataset,
        "dataset_kind": dataset_kind(cfg.dataset),
        "inputs": check_inputs(cfg),
    }
    report["filters"] = list(run_rules(cfg))
    report["task_benchmark"] = task_benchmark(cfg)
    report["eval_sets"] = {
        s["name"]: {"scorer": s["scorer"], "records": len(eval_set_records(cfg, s))} for s in cfg.eval_sets
    }
    if cfg.dataset == "teaching":
        report["note"] = "the teaching world builds its own data; nothing to check on disk"
        return report
    records, path = (
        _records_without_writing(cfg) if dataset_kind(cfg.dataset) != "paper" else load_task(cfg, "train")
    )
    records = capped(cfg, records)  # distillation and both trainings take the first N (data.capped)
    report["train_examples"] = len(records)
    report["train_file"] = Path(path).name
    distill = distill_template_name(cfg)
    tpl = get_template(distill)
    report["distill_template"] = distill
    report["paper_branch"] = cfg.paper_branch
    if dataset_kind(cfg.dataset) != "paper":
        report["task_scorer"] = task_scorer(cfg) if task_benchmark(cfg) else None
    if not tpl.chat:  # chat templates need the model's tokenizer: rendered at run time
        report["distill_prompt_example"] = render_prompt_text(tpl, records[0], branch=cfg.paper_branch)
    if cfg.train_template != "chat":
        report["train_prompt_example"] = render_prompt_text(
            cfg.train_template, records[0], branch=cfg.paper_branch
        )
    report["train_template"] = cfg.train_template
    report["benchmarks"] = {}
    if not cfg.is_teaching and paper_suite_runs(cfg):
        for name in cfg.eval_benchmarks or DEFAULT_BENCHMARKS:
            report["benchmarks"][name] = len(load_benchmark(cfg, name))  # eval_limit applied
    report["lora"] = {"r": cfg.lora_r, "alpha": cfg.lora_alpha, "targets": cfg.lora_targets}
    steps = len(records) * cfg.epochs / (cfg.batch_size * cfg.grad_accum)
    report["optimizer_steps"] = int(steps)
    return report


def _records_without_writing(cfg: RunConfig) -> tuple[list[dict], str]:
    """Your own training records, read and split but not written into the run folder."""
    from .data import user_split

    return user_split(cfg, "train"), cfg.dataset


def paper_data_files() -> list[str]:
    """Every file of sail-sg/sdft's data/ folder the pipeline reads (relative paths)."""
    from .data import PAPER_DISTILLED, PAPER_EVAL_FILES, PAPER_FILES

    files = [f for pair in PAPER_FILES.values() for f in pair if f]
    return sorted(set(files) | set(PAPER_DISTILLED.values()) | set(PAPER_EVAL_FILES.values()))


def fetch_paper_data(
    dest: str | Path, files: list[str] | None = None, base_url: str = PAPER_DATA_URL, timeout: float = 30.0
) -> dict[str, str]:
    """Download the paper's data files into ``dest`` (skipping those present); return their SHA-256.

    The checksums are written to ``dest/checksums.json`` and, through ``data_dir``, land in every
    stage manifest that reads them.
    """
    from .runs import atomic_path, file_sha256, write_json

    dest = Path(dest).expanduser()
    sums = {}
    for rel in files or paper_data_files():
        target = dest / rel
        if not target.is_file():
            try:
                with (
                    urllib.request.urlopen(base_url + rel, timeout=timeout) as resp,
                    atomic_path(target) as tmp,
                ):
                    Path(tmp).write_bytes(resp.read())
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise ConfigError(
                    f"data_dir={str(dest)!r} could not be filled: {rel} did not download ({reason}); "
                    "offline, download sail-sg/sdft's data/ folder "
                    "(https://github.com/sail-sg/sdft/tree/main/data) "
                    f"on a connected machine and copy it to {dest}"
                ) from None
        sums[rel] = file_sha256(target)
    write_json(dest / "checksums.json", sums)
    return sums


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sdft_lib.preflight", description=__doc__.split("\n\n")[0])
    ap.add_argument("profile", help="a profile name (params/...) or a YAML file")
    ap.add_argument(
        "-p",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="override a parameter, as with papermill",
    )
    ap.add_argument("--fetch-data", action="store_true", help="download the paper's data into data_dir first")
    args = ap.parse_args(argv)
    overrides = dict(args.p)
    try:
        if args.fetch_data:
            from .config import read_profile

            data_dir = overrides.get("data_dir") or read_profile(args.profile)[1].get("data_dir", "data")
            fetch_paper_data(data_dir)
        report = dry_run(load_config(args.profile, **overrides))
    except ConfigError as exc:
        print(f"ConfigError: {exc}", file=sys.stderr)
        return 2
    import json

    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
