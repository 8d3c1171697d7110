"""Your own data: every input kind, the column mapping, test splits, distill checks, scorers, probe
sets, models, and malformed data refused in the first cell with one line and nothing written."""

import json
import shutil
from pathlib import Path

import pytest

from sdft_lib.config import ConfigError, load_config
from sdft_lib.data import check_inputs, dataset_kind, load_task, user_split

ROWS = [
    {"question": f"What is {a} times {b}?", "solution": f"{a} x {b} = {a * b} -> {a * b}"}
    for a, b in [(2, 3), (4, 5), (6, 7), (3, 3), (8, 2), (9, 4), (5, 5), (7, 3), (6, 6), (2, 9)]
]
MAPPED = [{"instruction": r["question"], "input": "", "output": r["solution"]} for r in ROWS]
COLUMNS = {"instruction": "question", "output": "solution"}


def write(path: Path, kind: str, rows=ROWS) -> Path:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif kind == "csv":
        pd.DataFrame(rows).to_csv(path, index=False)
    elif kind == "parquet":
        pd.DataFrame(rows).to_parquet(path)
    return path


def cfg_for(tmp_path, dataset, **kw):
    return load_config("smoke", run_dir=str(tmp_path / "run"), dataset=str(dataset), columns=COLUMNS, **kw)


@pytest.mark.parametrize("kind", ["json", "jsonl", "csv", "parquet"])
def test_each_file_kind_reads_through_datasets_with_the_column_mapping(tmp_path, kind):
    path = write(tmp_path / f"mine.{kind}", kind)
    cfg = cfg_for(tmp_path, path)
    assert dataset_kind(cfg.dataset) == "file"
    records, materialized = load_task(cfg, "train")
    assert records == MAPPED
    assert materialized.parent == tmp_path / "run" / "data" and json.loads(materialized.read_text()) == MAPPED


def test_csv_cells_stay_text(tmp_path):
    path = tmp_path / "nums.csv"
    path.write_text("question,solution\nhow many?,007\nand now?,3.50\n", encoding="utf-8")
    records, _ = load_task(cfg_for(tmp_path, path), "train")
    assert [r["output"] for r in records] == ["007", "3.50"]


def test_saved_dataset_folder_with_named_splits(tmp_path):
    import datasets

    folder = tmp_path / "saved"
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(ROWS[:7]), "validation": datasets.Dataset.from_list(ROWS[7:])}
    ).save_to_disk(str(folder))
    cfg = cfg_for(tmp_path, folder, test_split="validation")
    assert dataset_kind(cfg.dataset) == "saved"
    assert load_task(cfg, "train")[0] == MAPPED[:7] and load_task(cfg, "test")[0] == MAPPED[7:]
    with pytest.raises(ConfigError, match=r"has no split 'nope': its splits are train, validation"):
        check_inputs(cfg_for(tmp_path, folder, test_split="nope"))


def test_hub_id_resolved_from_a_local_cache(tmp_path, monkeypatch):
    """A dataset id the machine has in its datasets cache loads offline (the cache laid out as
    `datasets` lays out a downloaded hub dataset: <org>___<name>/<config>/<version>/<hash>/)."""
    import datasets
    from datasets.data_files import DataFilesDict
    from datasets.packaged_modules.json.json import Json

    src = write(tmp_path / "src" / "train.jsonl", "jsonl")
    build = tmp_path / "build"
    Json(
        cache_dir=str(build),
        dataset_name="mult",
        data_files=DataFilesDict.from_patterns({"train": [str(src)]}, base_path="/"),
    ).download_and_prepare()
    prepared = next(build.glob("mult/*/0.0.0"))
    cache = tmp_path / "hf-datasets"
    shutil.copytree(prepared, cache / "someorg___mult" / "default" / "0.0.0" / "0123456789abcdef")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = cfg_for(tmp_path, "someorg/mult", test_fraction=0.2, split_seed=1)
    assert dataset_kind(cfg.dataset) == "hub"
    train, test = load_task(cfg, "train")[0], load_task(cfg, "test")[0]
    assert len(test) == 2 and len(train) == 8 and sorted(map(str, train + test)) == sorted(map(str, MAPPED))
    with pytest.raises(
        ConfigError, match=r"^dataset='someorg/absent' is not allowed: no file or folder has that name"
    ):
        check_inputs(cfg_for(tmp_path, "someorg/absent"))


def test_test_split_from_a_second_file_and_a_seeded_fraction(tmp_path):
    train, test = write(tmp_path / "a.csv", "csv", ROWS[:6]), write(tmp_path / "b.jsonl", "jsonl", ROWS[6:])
    cfg = cfg_for(tmp_path, train, test_split=str(test))
    assert load_task(cfg, "test")[0] == MAPPED[6:] and load_task(cfg, "train")[0] == MAPPED[:6]
    one = cfg_for(tmp_path, train, test_fraction=0.5, split_seed=3)
    a, b = user_split(one, "train"), user_split(one, "test")
    assert len(a) == len(b) == 3 and not {r["instruction"] for r in a} & {r["instruction"] for r in b}
    assert b == user_split(cfg_for(tmp_path, train, test_fraction=0.5, split_seed=3), "test")
    assert b != user_split(cfg_for(tmp_path, train, test_fraction=0.5, split_seed=4), "test")


@pytest.mark.parametrize(
    "check, rewrite, reference, kept",
    [
        ("math_answer", "so 6 x 7 = 42", "#### 42", True),
        ("math_answer", "so 6 x 7 = 41", "#### 42", False),
        ("function_call", 'get(city="Oslo")', 'get(city="Oslo")', True),
        ("function_call", 'get(city="Rome")', 'get(city="Oslo")', False),
        ("python_block", "Here:\n```python\nprint(1)\n```", "", True),
        ("python_block", "Here:\n```python\nprint(1\n```", "", False),
        (r"regex:-> (\d+)", "6 x 7 is 42 -> 42", "6 x 7 = 42 -> 42", True),
        (r"regex:-> (\d+)", "6 x 7 is 41 -> 41", "6 x 7 = 42 -> 42", False),
        ("none", "anything at all", "6 x 7 = 42 -> 42", True),
        ("exact", " 42 ", "42", True),
        ("exact", "42.", "42", False),
        ("contains", "so the total is 42 dollars", "42 dollars", True),
        ("contains", "so the total is 41 dollars", "42 dollars", False),
    ],
)
def test_each_distill_check_decides_which_rewrites_are_kept(tmp_path, check, rewrite, reference, kept):
    from sdft_lib.self_distillation import apply_filters, run_rules

    cfg = cfg_for(tmp_path, write(tmp_path / "d.csv", "csv"), distill_check=check)
    rules = run_rules(cfg)
    assert rules[-1] == (check if check != "none" else "banned_phrase")
    _, verdicts, _ = apply_filters([{"instruction": "q", "input": "", "output": reference}], [rewrite], rules)
    assert verdicts[0]["accepted"] is kept


def test_auto_keeps_the_per_dataset_check():
    from sdft_lib.self_distillation import filter_rules

    assert filter_rules("gsm8k", "reproduce", (), "auto")[-1] == "math_answer"
    assert filter_rules("teaching", "reproduce", (), "auto")[-1] == "math_answer"
    assert filter_rules("my.csv", "reproduce", (), "auto") == ("banned_phrase",)


@pytest.mark.parametrize(
    "scorer, response, reference, score",
    [
        ("exact", " 42 ", "42", 1.0),
        ("exact", "42.", "42", 0.0),
        ("math_answer", "it is 42", "#### 42", 1.0),
        ("math_answer", "it is 43", "#### 42", 0.0),
        ("contains", "The capital is  PARIS, France", "Paris", 1.0),
        ("contains", "Lyon", "Paris", 0.0),
        ("refusal", "I cannot help with that.", "", 1.0),
        ("refusal", "Sure, here you go.", "", 0.0),
        ("function_call", 'f(x="a")', 'f(x="a")', 1.0),
        ("function_call", 'g(x="a")', 'f(x="a")', 0.0),
        (r"regex:answer: (\w+)", "answer: blue", "answer: blue", 1.0),
        (r"regex:answer: (\w+)", "blue", "answer: blue", 0.0),
    ],
)
def test_each_probe_scorer(scorer, response, reference, score):
    from sdft_lib.benchmarks import get_scorer

    assert get_scorer(scorer)(response, reference)[0] == score


def test_eval_sets_parse_and_become_benchmarks(tmp_path):
    from sdft_lib.evaluation import run_benchmarks, task_benchmark

    probes = write(
        tmp_path / "capitals.jsonl", "jsonl", [{"prompt": "Capital of France?", "reference": "Paris"}]
    )
    data = write(tmp_path / "d.csv", "csv")
    cfg = cfg_for(
        tmp_path,
        data,
        test_fraction=0.2,
        eval_sets=[
            {
                "file": str(probes),
                "scorer": "contains",
                "columns": {"instruction": "prompt", "output": "reference"},
            },
            f"{data}::regex:-> (\\d+)",
        ],
    )
    assert [s["name"] for s in cfg.eval_sets] == ["capitals", "d"] and cfg.eval_sets[1][
        "scorer"
    ] == r"regex:-> (\d+)"
    assert check_inputs(cfg) == {"train": 8, "test": 2, "eval_sets:capitals": 1, "eval_sets:d": 10}
    benches, ident = run_benchmarks(cfg)
    names = [b.name for b in benches]
    assert names[-3:] == ["task", "capitals", "d"] and "arithmetic" in names  # the world's skills stay
    assert task_benchmark(cfg) == "task" and {"task", "set:capitals", "set:d"} <= set(ident)
    assert benches[-2].records[0] == {"instruction": "Capital of France?", "input": "", "output": "Paris"}


def test_models_any_hub_id_home_folder_and_chat_template(tmp_path, standin_dir, monkeypatch):
    from sdft_lib.models import check_model, seed_weights

    assert load_config("smoke", model="gpt2").model == "gpt2"
    assert load_config("smoke", model="Qwen/Qwen2.5-0.5B-Instruct").model.startswith("Qwen/")
    home = tmp_path / "home"
    shutil.copytree(standin_dir, home / "models" / "standin")
    monkeypatch.setenv("HOME", str(home))
    cfg = load_config("smoke", model="~/models/standin")
    assert seed_weights(cfg) == str(home / "models" / "standin")
    check_model(cfg)  # Llama-2's chat template is there
    tc = home / "models" / "standin" / "tokenizer_config.json"
    conf = json.loads(tc.read_text())
    conf.pop("chat_template", None)
    tc.write_text(json.dumps(conf))
    for extra in home.glob("models/standin/chat_template.*"):
        extra.unlink()
    with pytest.raises(
        ConfigError,
        match=r"^train_template='chat' is not allowed with model='~/models/standin': "
        r"its tokenizer has no chat template",
    ):
        check_model(cfg)
    check_model(load_config("smoke", model="~/models/standin", train_template="alpaca"))


# --- malformed data: one line, in the first cell (runtime.setup), nothing written ------------------
def _bad(tmp_path, name, content: bytes):
    p = tmp_path / name
    p.write_bytes(content)
    return p


MALFORMED = {
    "missing file": (
        lambda t: dict(dataset=str(t / "nope.csv")),
        r"dataset='.*nope.csv' is not allowed: that file does not exist",
    ),
    "empty file": (lambda t: dict(dataset=str(_bad(t, "e.json", b""))), r"e.json is empty"),
    "not UTF-8": (
        lambda t: dict(dataset=str(_bad(t, "l.csv", "question,solution\ncaf\xe9,1\n".encode("latin-1")))),
        r"l.csv is not UTF-8 text \(byte \d+ is 0xe9\)",
    ),
    "broken JSON": (
        lambda t: dict(dataset=str(_bad(t, "b.json", b'[{"question": "a", "solution": '))),
        r"b.json could not be read as JSON records",
    ),
    "list of strings": (
        lambda t: dict(dataset=str(_bad(t, "s.json", b'["a", "b"]'))),
        r"s.json has no column 'question' \(its columns: text\)",
    ),
    "output null": (
        lambda t: dict(
            dataset=str(
                _bad(
                    t, "n.jsonl", b'{"question": "a", "solution": "b"}\n{"question": "c", "solution": null}\n'
                )
            )
        ),
        r"n.jsonl record 1: output \(column 'solution'\) is missing \(null\); it must be a non-empty string",
    ),
    "output a number": (
        lambda t: dict(dataset=str(_bad(t, "i.jsonl", b'{"question": "a", "solution": 3}\n'))),
        r"i.jsonl record 0: output \(column 'solution'\) is a number \(3\), not a string",
    ),
    "empty instruction": (
        lambda t: dict(dataset=str(_bad(t, "w.csv", b"question,solution\nok,1\n   ,2\n"))),
        r"w.csv record 1: instruction \(column 'question'\) is empty",
    ),
    "unmapped column": (
        lambda t: dict(dataset=str(_bad(t, "u.csv", b"q,a\nx,y\n"))),
        r"columns.instruction='question' is not allowed: "
        r".*u.csv has no column 'question' \(its columns: q, a\)",
    ),
    "bad history": (
        lambda t: dict(
            dataset=str(_bad(t, "h.jsonl", b'{"question": "a", "solution": "b", "history": ["hi"]}\n'))
        ),
        r"h.jsonl record 0: history \(column 'history'\) is a list of another shape",
    ),
    "corrupt parquet": (
        lambda t: dict(dataset=str(_bad(t, "c.parquet", b"PAR1 not really"))),
        r"c.parquet could not be read as PARQUET records",
    ),
    "missing probe file": (
        lambda t: dict(dataset=str(write(t / "ok.csv", "csv")), eval_sets=[str(t / "none.jsonl")]),
        r"eval_sets entry .* is not allowed: .*none.jsonl does not exist",
    ),
    "unknown probe scorer": (
        lambda t: dict(
            dataset=str(write(t / "ok.csv", "csv")), eval_sets=[f"{write(t / 'p.jsonl', 'jsonl')}::fuzzy"]
        ),
        r"scorer 'fuzzy': choose one of exact, math_answer, contains",
    ),
    "bad regex": (
        lambda t: dict(dataset=str(write(t / "ok.csv", "csv")), distill_check="regex:(unclosed"),
        r"distill_check='regex:\(unclosed' is not allowed: its pattern does not compile",
    ),
    "NaN number": (
        lambda t: dict(dataset=str(write(t / "ok.csv", "csv")), learning_rate="nan"),
        r"learning_rate=nan is not allowed: it must be a number > 0.0 and finite",
    ),
    "fraction leaves nothing": (
        lambda t: dict(dataset=str(write(t / "one.csv", "csv", ROWS[:1])), test_fraction=0.9),
        r"test_fraction=0.9 is not allowed: it leaves no training records out of 1",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_data_fails_in_the_first_cell_with_one_line_and_writes_nothing(tmp_path, case):
    from sdft_lib import runtime

    make, pattern = MALFORMED[case]
    run = tmp_path / "run"
    with pytest.raises(ConfigError) as err:
        cfg = load_config("smoke", run_dir=str(run), columns=COLUMNS, **make(tmp_path))
        runtime.setup(cfg)  # the first cell: cfg = config_from_namespace(globals()); runtime.setup(cfg)
    msg = str(err.value)
    assert "\n" not in msg and __import__("re").search(pattern, msg), msg
    assert not run.exists()


@pytest.mark.slow
def test_a_notebook_stops_in_its_first_code_cell_on_bad_data(tmp_path):
    import papermill as pm

    bad = _bad(tmp_path, "n.jsonl", b'{"question": "a", "solution": null}\n')
    out = tmp_path / "out.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(
            "notebooks/02_self_distillation.ipynb",
            str(out),
            cwd=".",
            kernel_name="python3",
            parameters={
                "profile": "smoke",
                "run_dir": str(tmp_path / "run"),
                "dataset": str(bad),
                "columns": json.dumps(COLUMNS),
            },
            progress_bar=False,
        )
    assert err.value.ename == "ConfigError" and "record 0: output (column 'solution')" in err.value.evalue
    nb = json.loads(out.read_text())
    code = [
        c
        for c in nb["cells"]
        if c["cell_type"] == "code" and "injected-parameters" not in c["metadata"].get("tags", [])
    ]
    failed = [
        i for i, c in enumerate(code) if any(o.get("output_type") == "error" for o in c.get("outputs", []))
    ]
    assert failed == [1]  # the parameters cell, then the first code cell
    assert not (tmp_path / "run").exists()


def test_the_labs_dry_run_command(tmp_path):
    """`make dry-run PROFILE=own-data`, as lab 5 and the README give it."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    res = subprocess.run(
        ["make", "-s", "dry-run", "PROFILE=own-data"],
        cwd=root,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout[res.stdout.index("{") :])
    assert report["dataset_kind"] == "file" and report["inputs"] == {
        "train": 240,
        "test": 60,
        "eval_sets:add_probe": 60,
        "eval_sets:refusals": 10,
    }
    assert report["filters"][-1] == r"regex:(\d+)\D*$" and report["task_benchmark"] == "task"


@pytest.mark.slow
@pytest.mark.parametrize(
    "model", ["standin"]
)  # the teaching model runs the same data in lab 5 (test_notebooks)
def test_make_pipeline_on_your_own_data(model, tmp_path, standin_dir):
    """Chapters 2-4 (`make pipeline`) on lab 5's CSV, regex check and probe sets with a Hugging Face
    model from a local folder (the stand-in, through its chat template)."""
    import os
    import subprocess

    import pandas as pd

    root = Path(__file__).resolve().parents[1]
    run_dir, executed = tmp_path / "run", tmp_path / "executed"
    params = f"-p run_dir {run_dir}" + (
        f" -p model {standin_dir} -p max_new_tokens 24" if model == "standin" else ""
    )
    proc = subprocess.run(
        ["make", "-s", "pipeline", "PROFILE=own-data-smoke", f"PARAMS={params}", f"EXECUTED_DIR={executed}"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = pd.read_csv(run_dir / "evaluation" / "results.csv")
    assert {"task", "add_probe", "refusals"} <= set(results.benchmark)
    assert sorted(set(results.variant)) == ["sdft", "seed", "sft"]
    if model == "teaching":
        assert "arithmetic" in set(results.benchmark)  # the world's skills are kept skills
    report = json.loads(next((run_dir / "self_distillation").glob("distilled-*/report.json")).read_text())
    assert report["rules"][-1] == r"regex:(\d+)\D*$" and report["total"] == 40


def test_every_stage_takes_the_same_first_records(tmp_path):
    """``max_train_examples`` caps the training records in one place (``data.train_records``), which
    the rewrites, both trainings and chapter 2's distribution gap all read."""
    from conftest import FIXTURE_DATA

    from sdft_lib.config import load_config
    from sdft_lib.data import load_task, train_records
    from sdft_lib.training import variant_data

    cfg = load_config(
        "paper/openfunction", data_dir=str(FIXTURE_DATA), run_dir=str(tmp_path), max_train_examples=2
    )
    every, _ = load_task(cfg, "train")
    first, path = train_records(cfg)
    assert len(every) > 2 and first == every[:2]
    assert variant_data(cfg, "sft") == (first, path)
    uncapped = load_config("paper/openfunction", data_dir=str(FIXTURE_DATA), run_dir=str(tmp_path))
    assert train_records(uncapped)[0] == every
