"""The self-distillation stage: the seed model rewrites every training response itself.

1. Render each record through a distillation template (instruction + the original response as the
   reference answer).
2. Generate the seed's rewrite (HF ``generate`` everywhere, vLLM on a GPU), chunk by chunk; each
   finished chunk is written atomically with a hash of the prompts it answers, so an interrupted
   run resumes where it stopped and never pairs a rewrite with another prompt.
3. Check every rewrite with named rules; a rejected rewrite falls back to the original response,
   as in the paper (``eval/gen_distilled_data.py``). Besides the paper's checks, the project rejects
   an empty rewrite (``nonempty``) and one cut off at ``max_new_tokens`` (``eos``: the model did not
   end it, so training on it with an EOS appended would teach the model to stop mid-answer).
4. Write ``distilled.json`` (same schema as the input), ``rewrites.jsonl`` (every rewrite and its
   verdicts) and ``report.json`` (``total``, ``accepted``, ``truncated`` and per-rule counts).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .config import RunConfig
from .metrics import REGEX_PREFIX, SCORERS, no_banned_phrase, scorer
from .report import say
from .runs import build_once, display_path, key_hash, read_json, write_json, write_text

STAGE = "self_distillation"


def nonempty(prediction: str) -> bool:
    return bool(prediction.strip())


@dataclass(frozen=True)
class Rule:
    """A named check of a rewrite: ``check(rewrite, reference, finished) -> bool``. ``finished`` says
    whether the model ended the rewrite itself; only ``eos`` looks at it, the others at the text."""

    name: str
    check: Callable[..., bool]
    description: str


def on_text(check: Callable[[str, str], bool]) -> Callable[..., bool]:
    """A rule's check from a check of the text alone, ``check(rewrite, reference)``."""
    return lambda rewrite, reference, finished=True: check(rewrite, reference)


RULES: dict[str, Rule] = {
    r.name: r
    for r in [
        Rule("nonempty", on_text(lambda p, ref: nonempty(p)), "the rewrite is not empty"),
        Rule(
            "eos",
            lambda p, ref, finished=True: finished,
            "the model ended the rewrite itself (not cut off at max_new_tokens)",
        ),
        Rule(
            "banned_phrase",
            on_text(lambda p, ref: no_banned_phrase(p)),
            "no 'reference answer', 'your response', ... and no 'Your turn' opening (the paper's verify)",
        ),
    ]
    + [
        Rule(name, on_text(lambda p, ref, score=SCORERS[name]: score(p, ref)[0] > 0), text)
        for name, text in [
            ("math_answer", "the last integer equals the reference's (the paper's check_math)"),
            (
                "function_call",
                "the reference call appears, quotes/spaces normalised (check_openfunction, branch main)",
            ),
            (
                "function_call_partial",
                "the reference call, or its argument values in order "
                "(check_openfunction, branch reproduce: 0.5 counts)",
            ),
            (
                "magicoder",
                "contains ```python and opens with 'I have', 'Here is' or 'I implemented' (check_magicoder)",
            ),
            (
                "python_block",
                "holds a ```python block whose code parses (the project's check for code datasets)",
            ),
        ]
    ]
}  # the task checks are the scorers of the same names (metrics.SCORERS): one checker per rule

# The paper's rules per dataset: every dataset gets the banned-phrase check; some add a task check.
PROJECT_RULES = ("nonempty", "eos")  # the project's own, on top of the paper's (``project_filters``)
# The paper's task check per dataset (eval/gen_distilled_data.py get_check_func), per branch: the
# reproduce branch's check_openfunction returns 0.5 for positional arguments, which passes the filter.
TASK_RULE = {
    "main": {
        "teaching": "math_answer",
        "gsm8k": "math_answer",
        "openfunction": "function_call",
        "magicoder": "magicoder",
    },
    "reproduce": {
        "teaching": "math_answer",
        "gsm8k": "math_answer",
        "openfunction": "function_call_partial",
        "magicoder": "magicoder",
    },
}


def rule(name: str) -> Rule:
    """A rule by name: one of :data:`RULES`, or ``regex:<pattern>`` (the matched text, or its first
    group, equals the reference's)."""
    if name.startswith(REGEX_PREFIX):
        check = scorer(name)
        return Rule(
            name,
            on_text(lambda p, ref: check(p, ref)[0] > 0),
            f"the text matched by {name[len(REGEX_PREFIX) :]!r} equals the reference's",
        )
    if name not in RULES and name in SCORERS:  # any other scorer (exact, contains) as a check
        check = SCORERS[name]
        return Rule(name, on_text(lambda p, ref: check(p, ref)[0] > 0), f"the {name} scorer gives it credit")
    return RULES[name]


def filter_rules(
    dataset: str, branch: str = "reproduce", project: Sequence[str] = PROJECT_RULES, check: str = "auto"
) -> tuple[str, ...]:
    """The rules a rewrite must pass: the project's own (in ``project``), then the paper's ``verify``
    (banned phrases) and the task check: ``check`` (``distill_check``), or with ``auto`` the dataset's
    check as the chosen branch of the paper's code has it (none for datasets the paper did not use)."""
    task = TASK_RULE[branch].get(dataset) if check == "auto" else (None if check == "none" else check)
    return tuple(r for r in PROJECT_RULES if r in project) + ("banned_phrase",) + ((task,) if task else ())


def run_rules(cfg: RunConfig) -> tuple[str, ...]:
    return filter_rules(cfg.dataset, cfg.paper_branch, cfg.project_filters, cfg.distill_check)


def _decoding(cfg: RunConfig):
    from .generation import decoding

    return decoding(cfg)


def _strip_strings(rec: dict) -> dict:
    """The paper's ``strip_dict``: every string field stripped (lists such as ``history`` kept)."""
    return {k: v.strip() if isinstance(v, str) else v for k, v in rec.items()}


def accept(record: dict, rewrite: str, rules: Sequence[str], finished: bool = True) -> tuple[dict, dict]:
    """SDFT's filter on one record: train on the rewrite if every rule passes, else on the original.

    Return the record to train on (every string stripped, as the paper's ``strip_dict`` does) and
    each rule's verdict."""
    rewrite = rewrite.strip()
    verdict = {name: bool(rule(name).check(rewrite, record["output"], finished)) for name in rules}
    output = rewrite if all(verdict.values()) else record["output"].strip()
    return {**_strip_strings(record), "output": output}, verdict


def apply_filters(
    records: Sequence[dict],
    rewrites: Sequence[str],
    rules: Sequence[str],
    extra_checks: dict[str, Callable[[str, str], bool]] | None = None,
    finished: Sequence[bool] | None = None,
) -> tuple[list[dict], list[dict], dict]:
    """:func:`accept` on every record; return (distilled records, per-record verdicts, :func:`tally`).

    ``finished`` says which rewrites the model ended itself (for the ``eos`` rule; all, if not
    given). ``extra_checks`` are reported beside the rules (e.g. a check of the working) but do not
    filter."""
    if len(records) != len(rewrites):
        raise ValueError(f"{len(records)} records but {len(rewrites)} rewrites")
    finished = [True] * len(records) if finished is None else list(finished)
    distilled, verdicts = [], []
    for rec, new, done in zip(records, rewrites, finished):
        kept, verdict = accept(rec, new, rules, done)
        new = new.strip()
        extra = {k: bool(fn(new, rec["output"])) for k, fn in (extra_checks or {}).items()}
        distilled.append(kept)
        verdicts.append(
            {
                "instruction": rec["instruction"],
                "original": rec["output"],
                "rewrite": new,
                "finished": done,
                "accepted": all(verdict.values()),
                "rules": verdict,
                **({"extra": extra} if extra else {}),
            }
        )
    return distilled, verdicts, tally(verdicts, rules, tuple(extra_checks or ()))


def tally(verdicts: Sequence[dict], rules: Sequence[str], extra: Sequence[str] = ()) -> dict:
    """The filter's report from :func:`apply_filters`' verdicts: how many were accepted, how many each
    rule failed and rejected first, how many were cut off, how many accepted rewrites equal the
    original; ``rejected_only_by_project_rules`` counts the rewrites that the paper's own rules would
    have kept; ``accepted_and_passing`` counts the accepted ones that pass each of ``extra``."""
    n = len(verdicts)
    accepted = sum(v["accepted"] for v in verdicts)
    first = {r: 0 for r in rules}
    project_only = 0
    for v in verdicts:
        bad = [r for r in rules if not v["rules"][r]]
        if bad:
            first[bad[0]] += 1
            project_only += all(r in PROJECT_RULES for r in bad)
    report = {
        "total": n,
        "accepted": accepted,
        "rejected": n - accepted,
        "acceptance_rate": round(100 * accepted / n, 2) if n else 0.0,
        "truncated": sum(not v["finished"] for v in verdicts),
        "rules": list(rules),
        "failed_by_rule": {r: sum(not v["rules"][r] for v in verdicts) for r in rules},
        "rejected_first_by_rule": first,
        "rejected_only_by_project_rules": project_only,
        "accepted_identical_to_original": sum(
            v["accepted"] and v["rewrite"] == v["original"].strip() for v in verdicts
        ),
    }
    if extra:
        report["accepted_and_passing"] = {
            k: sum(v["accepted"] and v["extra"][k] for v in verdicts) for k in extra
        }
    return report


# ---------------------------------------------------------------------------------------------
# The stage
# ---------------------------------------------------------------------------------------------
def distill_template_name(cfg: RunConfig) -> str:
    """``distill_template`` if set; else the paper's template for the paper's data, the chat variant
    for the teaching model and for your own data on a chat template, ``alpaca_distill_refer`` for
    your own data on a paper template."""
    from .templates import PAPER_DISTILL_TEMPLATE

    if cfg.distill_template != "auto":
        return cfg.distill_template
    if (
        cfg.is_teaching
        or cfg.dataset == "teaching"
        or (cfg.dataset not in PAPER_DISTILL_TEMPLATE and cfg.train_template == "chat")
    ):
        return "chat_distill"
    # your own data on a paper template: the variant that asks to refer to the reference answer
    return PAPER_DISTILL_TEMPLATE.get(cfg.dataset, "alpaca_distill_refer")


def distill_prompts(
    records: Sequence[dict],
    template_name: str,
    tokenizer,
    cutoff: int | None = None,
    branch: str = "reproduce",
) -> list[list[int]]:
    """The token ids the seed generates its rewrites from: each record with its original response
    as the reference, through the distillation template, cut at ``cutoff`` as the paper's
    ``branch`` does (see ``templates``)."""
    from .templates import prompt_ids

    return [prompt_ids(tokenizer, template_name, r, cutoff, branch) for r in records]


def make_backend(cfg: RunConfig):
    """(backend, tokenizer) for the run's seed model. vLLM loads the weights itself, so the HF model
    is only loaded for the HF backend."""
    from .generation import HFBackend
    from .models import load_model, seed_weights

    if cfg.gen_backend == "vllm":
        from transformers import AutoTokenizer

        from .generation import VLLMBackend

        path = seed_weights(cfg)
        return VLLMBackend(seed_path=path, cfg=cfg), AutoTokenizer.from_pretrained(
            path, trust_remote_code=False
        )
    from .generation import _on_terminal

    model, tok = load_model(cfg)
    # A bar in a terminal (make pipeline, scripts); none in a notebook, whose stderr is no terminal and
    # whose executed pages would keep every redraw.
    return HFBackend(model, tok, batch_size=cfg.gen_batch_size, progress=_on_terminal()), tok


def _prompts_hash(prompts: Sequence, shape: Mapping | None = None) -> str:
    blob = json.dumps(
        [list(map(lambda p: p if isinstance(p, str) else list(p), prompts)), dict(shape or {})],
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def generate_chunked(
    work: Path,
    prompts: Sequence,
    generate: Callable[[list], list],
    chunk_size: int,
    shape: Mapping | None = None,
) -> list[dict]:
    """Generate in chunks, each saved atomically as ``chunks/NNNNN.json`` with the hash of the
    prompts it answers and of ``shape`` (whatever else shapes its text and that the artifact's key
    leaves out, e.g. the generation batch size); a saved chunk is read back instead of regenerated
    only when that hash matches, so a killed run continues where it stopped, a rewrite never meets
    another prompt, and a resumed run equals an uninterrupted one.

    ``generate`` returns :class:`~sdft_lib.generation.Generation` objects; the result is one
    ``{"text", "finished"}`` dict per prompt.
    """
    folder = work / "chunks"
    folder.mkdir(parents=True, exist_ok=True)
    out: list[dict] = []
    n_chunks = (len(prompts) + chunk_size - 1) // chunk_size
    for c in range(n_chunks):
        path = folder / f"{c:05d}.json"
        part = list(prompts[c * chunk_size : (c + 1) * chunk_size])
        digest = _prompts_hash(part, shape)
        if path.is_file():
            done = json.loads(path.read_text(encoding="utf-8"))
            if (
                isinstance(done, dict)
                and done.get("prompts_sha256") == digest
                and len(done["rewrites"]) == len(part)
            ):
                out += done["rewrites"]
                continue
        t0 = time.time()
        rewrites = [{"text": g.text, "finished": g.finished} for g in generate(part)]
        write_json(path, {"prompts_sha256": digest, "rewrites": rewrites})
        say(f"  chunk {c + 1}/{n_chunks}: {len(part)} rewrites in {time.time() - t0:.1f}s")
        out += rewrites
    return out


def distill_key(cfg: RunConfig, template: str) -> dict:
    """The distilled set's cache key: the seed, the template it is prompted with, the rules, and
    every field of ``config.ARTIFACT_FIELDS["distill"]``."""
    from .config import artifact_fields
    from .teaching_world.build import seed_identity

    return {
        "stage_version": 3,
        "seed_model": seed_identity(cfg),
        "template": template,
        "rules": list(run_rules(cfg)),
        **artifact_fields(cfg, "distill"),
    }


def distilled_path(cfg: RunConfig) -> Path:
    return cfg.stage_path(STAGE) / f"distilled-{key_hash(distill_key(cfg, distill_template_name(cfg)))}"


def run_self_distillation(cfg: RunConfig) -> Path:
    """Build (or reuse) the distilled dataset of this run; return its folder."""
    from .data import train_records

    template = distill_template_name(cfg)
    records, source = train_records(cfg)

    def build(work: Path) -> dict:
        import torch

        torch.manual_seed(cfg.seed)
        backend, tok = make_backend(cfg)
        prompts = distill_prompts(records, template, tok, cfg.cutoff_len, cfg.paper_branch)
        t0 = time.time()
        try:
            gens = generate_chunked(
                work,
                prompts,
                lambda ps: backend.generate_full(ps, _decoding(cfg)),
                cfg.distill_chunk_size,
                shape={"gen_batch_size": cfg.gen_batch_size, "backend": cfg.gen_backend},
            )
        finally:
            backend.close()  # frees the GPU before the next model is loaded (vLLM holds most of it)
        gen_s = time.time() - t0
        extra = {}
        if cfg.dataset == "teaching":
            from .teaching_world.world import working_is_correct

            extra["working_correct"] = lambda p, ref: working_is_correct(p)
        distilled, verdicts, report = apply_filters(
            records, [g["text"] for g in gens], run_rules(cfg), extra, finished=[g["finished"] for g in gens]
        )
        report.update(
            {
                "template": template,
                "backend": cfg.gen_backend,
                "source": display_path(source),
                "generation_seconds": round(gen_s, 2),
                "rewrites_per_second": round(len(records) / gen_s, 2) if gen_s else None,
            }
        )
        write_json(work / "distilled.json", distilled)
        write_text(
            work / "rewrites.jsonl", "".join(json.dumps(v, ensure_ascii=False) + "\n" for v in verdicts)
        )
        write_json(work / "report.json", report)
        write_json(
            work / "prompt_example.json",
            {
                "template": template,
                "prompt": tok.decode(prompts[0]) if prompts else "",
                "prompt_ids": prompts[0] if prompts else [],
            },
        )
        return {"report": report}

    return build_once(
        distilled_path(cfg),
        distill_key(cfg, template),
        build,
        stage=STAGE,
        cfg=cfg,
        inputs={"dataset": source},
    )


def load_report(folder: str | Path) -> dict:
    return read_json(Path(folder) / "report.json")


def load_verdicts(folder: str | Path) -> list[dict]:
    return [
        json.loads(line)
        for line in (Path(folder) / "rewrites.jsonl").read_text(encoding="utf-8").splitlines()
    ]


def paper_distilled_summary(data_dir: str | Path, branch: str = "reproduce") -> list[dict] | None:
    """How the paper's own released distilled sets differ from their originals, and what our port
    of the paper's filter (``branch``; no project rules) says about them. None when the files are
    not in ``data_dir``."""
    from .data import paper_distilled_pairs

    pairs = paper_distilled_pairs(data_dir)
    if pairs is None:
        return None
    rows = []
    for dataset, (orig, dist) in pairs.items():
        rules = filter_rules(dataset, branch, project=())
        _, verdicts, _ = apply_filters(orig, [d["output"] for d in dist], rules)
        changed = [o["output"].strip() != d["output"].strip() for o, d in zip(orig, dist)]
        rows.append(
            {
                "dataset": dataset,
                "records": len(orig),
                "rewritten": sum(changed),
                "rewritten_%": round(100 * sum(changed) / len(orig), 1),
                "rewrites_passing_our_filter": sum(v["accepted"] for v, c in zip(verdicts, changed) if c),
                "filter_rules": ", ".join(rules),
            }
        )
    return rows


def strict_working(folder: str | Path) -> tuple[list[dict], Path]:
    """The distilled set of ``folder`` with one more rule, the teaching world's working check: an
    accepted rewrite whose working is wrong (an ``a op b = c`` in it is false) falls back to the
    original, as a rejected one does. Written once beside the folder (``<folder>-strict.json``);
    returns the records and the file, the ``data`` that :func:`sdft_lib.training.train_adapter`
    trains on."""
    folder = Path(folder)
    distilled, verdicts = read_json(folder / "distilled.json"), load_verdicts(folder)
    if len(distilled) != len(verdicts):
        raise ValueError(f"{folder}: {len(distilled)} distilled records for {len(verdicts)} verdicts")
    out = [
        {**d, "output": v["original"]}
        if v["accepted"] and v.get("extra", {}).get("working_correct") is False
        else d
        for d, v in zip(distilled, verdicts)
    ]
    path = folder.parent / f"{folder.name}-strict.json"
    if not path.exists():
        write_json(path, out)
    return out, path


def leak_summary(verdicts: Sequence[dict]) -> dict:
    """What the filter stops and what gets through it.

    ``unfiltered_wrong``: rewrites that failed a rule (they would be trained on with no filter);
    ``accepted_wrong_working``: rewrites the paper's filter accepted although their working is wrong
    (the teaching world's second check; absent for real data).
    """
    total = len(verdicts)
    rejected = [v for v in verdicts if not v["accepted"]]
    by_rule: dict[str, int] = {}
    for v in rejected:
        for rule, ok in v["rules"].items():
            if not ok:
                by_rule[rule] = by_rule.get(rule, 0) + 1
    checked = [v for v in verdicts if v["accepted"] and "working_correct" in v.get("extra", {})]
    wrong_working = [v for v in checked if not v["extra"]["working_correct"]]
    return {
        "total": total,
        "unfiltered_wrong": len(rejected),
        "failed_by_rule": by_rule,
        "accepted_wrong_working": len(wrong_working) if checked else None,
    }
