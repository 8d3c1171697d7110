"""Cache keys are derived from what each artifact depends on, never listed by hand.

``config.ARTIFACT_FIELDS`` says which configuration fields each cached stage's artifact depends on,
and every stage builds its key from them (``config.artifact_fields``). A field that changes an
artifact but is missing from its key would silently reuse an artifact built from other settings,
so: every field is either some stage's or declared neutral (with why), and changing each field in
turn changes exactly the keys of the stages that declare it, and of the stages built on them.
"""

from typing import Literal, get_args, get_origin

import pytest
from conftest import FIXTURE_DATA

from sdft_lib.config import ARTIFACT_FIELDS, NEUTRAL_FIELDS, RunConfig, load_config

FIELDS = set(RunConfig.model_fields)

# values a field can take instead of a profile's, where its type alone does not give one
ALTERNATIVES = {
    "profile": "another-name",
    "run_dir": "elsewhere",
    "teaching_world_dir": "elsewhere/world",
    "model": "someone/some-chat-model",
    "dataset": "alpaca",
    "columns": {"instruction": "question"},
    "train_split": "training",
    "test_split": "validation",
    "data_dir": "elsewhere/data",
    "world_train": {"arithmetic": 5},
    "lora_targets": ["q_proj"],
    "ft_seeds": [5],
    "sweep_lrs": [0.5],
    "sweep_epochs": [3.0],
    "eval_variants": ["seed"],
    "eval_benchmarks": ["gsm8k"],
    "lm_eval_tasks": ["some_task"],
    "project_filters": ["nonempty"],
    "distill_check": "none",
    "vocab_size": 700,
    "distill_template": "chat_distill",
    "embedding_model": "someone/sentence-model",
    "eval_sets": ["probes.jsonl::exact"],
    "lm_eval_include_path": "my_tasks",
    "humaneval_file": "humaneval.jsonl",
}


def _alternative(name: str, value):
    if name in ALTERNATIVES and ALTERNATIVES[name] != value:
        return ALTERNATIVES[name]
    annotation = RunConfig.model_fields[name].annotation
    allowed = get_args(annotation) if get_origin(annotation) is Literal else ()
    if allowed:
        return next(a for a in allowed if a != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2 if value > 0 else 0.25
    raise AssertionError(f"give tests/test_keys.py an alternative value for {name} (now {value!r})")


def _keys(cfg) -> dict[str, str]:
    """Every stage's key for ``cfg``, with fixed stand-ins for what is not configuration (inputs)."""
    from sdft_lib.evaluation import eval_key
    from sdft_lib.frontier import replay_key
    from sdft_lib.lm_eval_tasks import lm_eval_key
    from sdft_lib.on_policy import on_policy_key
    from sdft_lib.probes import _drift_key
    from sdft_lib.runs import key_hash
    from sdft_lib.self_distillation import distill_key
    from sdft_lib.teaching_world.build import model_key, seed_identity, world_key
    from sdft_lib.training import train_key

    keys = {
        "world": world_key(cfg),
        "seed_model": model_key(cfg),
        "distill": distill_key(cfg, "a template"),
        "train": train_key(cfg, "sft", cfg.learning_rate, cfg.epochs, cfg.seed),
        "on_policy": on_policy_key(cfg, cfg.learning_rate, cfg.epochs, cfg.seed),
        "replay": replay_key(cfg, 10),
        "eval": eval_key(cfg, {"model": seed_identity(cfg)}, {}),
        "drift": _drift_key(cfg, None, [], "a benchmark"),
        "lm_eval": lm_eval_key(cfg, "a folder", None, ["a task"], None, {}),
    }
    assert set(keys) == set(ARTIFACT_FIELDS)
    return {stage: key_hash(k) for stage, k in keys.items()}


def test_every_field_is_some_stages_or_declared_neutral():
    declared = {f for fields in ARTIFACT_FIELDS.values() for f in fields}
    assert declared <= FIELDS, f"not fields: {sorted(declared - FIELDS)}"
    assert set(NEUTRAL_FIELDS) <= FIELDS, f"not fields: {sorted(set(NEUTRAL_FIELDS) - FIELDS)}"
    assert not declared & set(NEUTRAL_FIELDS), (
        f"both a stage's and neutral: {sorted(declared & set(NEUTRAL_FIELDS))}"
    )
    missing = FIELDS - declared - set(NEUTRAL_FIELDS)
    assert not missing, (
        f"{sorted(missing)}: say which stages' artifacts each changes (config.ARTIFACT_FIELDS) "
        "or why it changes none (config.NEUTRAL_FIELDS)"
    )
    assert all(why.strip() for why in NEUTRAL_FIELDS.values())


def _expected(cfg, name: str) -> set[str]:
    """The stages that declare ``name``, and those built on them: the teaching seed is built from
    its world, and the rewrites, runs, replay and evaluations from the seed; an on-policy run is a
    fine-tuning run."""
    stages = {s for s, fields in ARTIFACT_FIELDS.items() if name in fields}
    if "world" in stages:
        stages.add("seed_model")
    if (cfg.is_teaching and "seed_model" in stages) or name == "model":
        stages |= {"distill", "train", "replay", "eval"}
    if "train" in stages:
        stages.add("on_policy")
    return stages


@pytest.mark.parametrize("profile", ["toy", "paper/gsm8k"])
def test_changing_each_field_changes_exactly_the_keys_of_the_stages_that_depend_on_it(profile):
    cfg = load_config(profile, **({} if profile == "toy" else {"data_dir": str(FIXTURE_DATA)}))
    base = _keys(cfg)
    wrong = {}
    for name in sorted(FIELDS):
        # keys only read the values: a value refused beside the others (vLLM without a GPU, a
        # paper option with the teaching model) still says whether the key would see it
        changed_cfg = RunConfig.model_construct(**{**dict(cfg), name: _alternative(name, getattr(cfg, name))})
        changed = {s for s, h in _keys(changed_cfg).items() if h != base[s]}
        if changed != _expected(cfg, name):
            wrong[name] = {"changed": sorted(changed), "declared": sorted(_expected(cfg, name))}
    assert not wrong, wrong


def test_a_missing_field_would_be_caught(monkeypatch):
    """The check above can fail: a stage that forgets a field it depends on is found."""
    import sdft_lib.config as config

    monkeypatch.setitem(
        config.ARTIFACT_FIELDS, "train", tuple(f for f in ARTIFACT_FIELDS["train"] if f != "lora_r")
    )
    cfg = load_config("toy")
    assert _keys(cfg.replace(lora_r=cfg.lora_r + 1))["train"] == _keys(cfg)["train"]
    missing = FIELDS - {f for fs in config.ARTIFACT_FIELDS.values() for f in fs} - set(NEUTRAL_FIELDS)
    assert missing == {"lora_r"}


def test_rebuilds_says_what_the_keys_do():
    """config.rebuilds (the reference page's column) agrees with the keys' own behaviour above."""
    from sdft_lib.config import rebuilds

    cfg = load_config("toy")
    for name in FIELDS:
        assert set(rebuilds(name)) == _expected(cfg, name), name


def test_the_parameter_page_lists_every_field_with_what_it_is_and_what_it_rebuilds(tmp_path):
    """The book's generated reference page (written beside the status page by `make book`)."""
    from sdft_lib.book.status import main

    (tmp_path / "executed").mkdir()
    assert main([str(tmp_path / "executed"), str(tmp_path / "status.md")]) == 0
    rows = [
        line for line in (tmp_path / "parameters.md").read_text().splitlines() if line.startswith("- **`")
    ]
    assert [r.split("`")[1] for r in rows] == list(RunConfig.model_fields)
    for name, info in RunConfig.model_fields.items():
        assert info.description and info.description.strip(), f"{name} has no description"
    entry = lambda name: next(r for r in rows if r.startswith(f"- **`{name}`**"))
    lora_r = entry("lora_r")
    assert (
        "integer &gt;= 1" in lora_r
        and "`8`" in lora_r
        and "fine-tuning runs" in lora_r
        and "evaluations" not in lora_r
    )
    assert "nothing: where artifacts are kept" in entry("run_dir")
    assert "one of lora, full" in entry("finetune")
    # placeholders outside code spans are text, not raw HTML the page would swallow
    assert "runs/&lt;profile&gt;" in entry("run_dir")
