"""Parity with the paper's code, record by record, for both of its branches.

``paper_reference.py`` writes out again what sail-sg/sdft's ``main`` and ``reproduce`` branches do
(prompt assembly, piecewise encoding, truncation, the distillation filters). Here ``sdft_lib`` is
compared with it: rendered strings byte for byte, token ids under a Llama-2-style SentencePiece
tokenizer (the project's stand-in: ``▁`` prefix on every piece, byte fallback), and filter decisions.
The fixture rows always run; every row of the paper's shared data runs where that folder exists.
"""

import os
from collections import Counter
from pathlib import Path

import paper_reference as ref
import pytest
from conftest import FIXTURE_DATA

from sdft_lib.data import read_records
from sdft_lib.paper_eval import read_advbench
from sdft_lib.self_distillation import apply_filters, filter_rules
from sdft_lib.templates import BRANCHES, prompt_ids, render_prompt_text, train_example

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SDFT_PAPER_DATA", ROOT.parent / "shared" / "datasets" / "sdft-paper-data"))
CUTOFF = 1024  # the paper's cutoff_len

# file -> the templates the paper runs it through (scripts/*/sdft.sh, sft.sh, test_seed_LM.sh)
FILES = {
    "gsm8k/gsm8k_train.json": ("gsm8k", "gsm8k_distill"),
    "gsm8k/gsm8k_test.json": ("gsm8k_infer",),
    "multiarith_test.json": ("gsm8k_infer",),
    "openfunction/openfunction_train.json": ("alpaca", "alpaca_distill_refer"),
    "openfunction/openfunction_test.json": ("alpaca",),
    "alpaca/alpaca_train.json": ("alpaca", "alpaca_distill_using"),
    "dolly/dolly_train.json": ("alpaca", "alpaca_distill_using"),
    "lima/lima_train.json": ("alpaca", "alpaca_distill_using"),
    "harmful_behaviors.csv": ("alpaca", "alpaca_gcg"),
    "alpaca_eval.json": ("alpaca",),
}


class CachedEncoder:
    """The tokenizer with ``encode`` memoised: both writings encode the same pieces (system sentences,
    separators, the same record under several templates), so each is encoded once."""

    def __init__(self, tok):
        self._tok, self._cache = tok, {}

    def encode(self, text, add_special_tokens=False):
        key = (text, add_special_tokens)
        if key not in self._cache:
            self._cache[key] = self._tok.encode(text, add_special_tokens=add_special_tokens)
        return list(self._cache[key])

    def __getattr__(self, name):
        return getattr(self._tok, name)


def _records(path: Path) -> list[dict]:
    return read_advbench(path) if path.suffix == ".csv" else read_records(path)


def _parity(data_dir: Path, tok, stride: int = 1) -> dict:
    """{(file, template, branch): Counter(rows, text, prompt_ids, train_ids)} of rows that agree."""
    out, tok = {}, CachedEncoder(tok)
    for rel, templates in FILES.items():
        path = data_dir / rel
        if not path.is_file():
            continue
        records = _records(path)[::stride]
        for name in templates:
            for branch in BRANCHES:
                c = Counter()
                for rec in records:
                    c["rows"] += 1
                    c["text"] += render_prompt_text(name, rec, branch=branch) == ref.render(name, rec, branch)
                    c["prompt_ids"] += prompt_ids(tok, name, rec, CUTOFF, branch) == ref.UNSUPERVISED[branch](
                        tok, name, rec, CUTOFF
                    )
                    ex = train_example(tok, name, rec, CUTOFF, branch)
                    c["train_ids"] += (ex["input_ids"], ex["labels"]) == tuple(
                        map(list, ref.SUPERVISED[branch](tok, name, rec, CUTOFF))
                    )
                out[(rel, name, branch)] = c
    return out


def _report(counts: dict) -> str:
    lines = [f"{'file':40s} {'template':22s} {'branch':10s} rows text ids(prompt) ids(train)"]
    for (rel, name, branch), c in counts.items():
        lines.append(
            f"{rel:40s} {name:22s} {branch:10s} {c['rows']:5d} {c['text']:5d} "
            f"{c['prompt_ids']:5d} {c['train_ids']:5d}"
        )
    return "\n".join(lines)


def test_fixture_rows_match_the_papers_code_in_both_branches(standin_tokenizer):
    counts = _parity(FIXTURE_DATA, standin_tokenizer)
    assert len(counts) == 2 * sum(len(t) for t in FILES.values())
    bad = {k: c for k, c in counts.items() if not c["rows"] == c["text"] == c["prompt_ids"] == c["train_ids"]}
    assert not bad, _report(bad)


def test_truncation_bites_in_the_fixtures_and_still_matches(standin_tokenizer):
    """With a small cutoff every row is cut: the two branches' rules differ, and each still matches."""
    tok = standin_tokenizer
    recs = read_records(FIXTURE_DATA / "lima" / "lima_train.json") + read_records(
        FIXTURE_DATA / "alpaca" / "alpaca_train.json"
    )
    differ = 0
    for rec in recs:
        for branch in BRANCHES:
            ex = train_example(tok, "alpaca_distill_using", rec, 24, branch)
            assert (ex["input_ids"], ex["labels"]) == tuple(
                map(list, ref.SUPERVISED[branch](tok, "alpaca_distill_using", rec, 24))
            )
            assert prompt_ids(tok, "alpaca_distill_using", rec, 24, branch) == ref.UNSUPERVISED[branch](
                tok, "alpaca_distill_using", rec, 24
            )
        differ += prompt_ids(tok, "alpaca", rec, 24, "main") != prompt_ids(
            tok, "alpaca", rec, 24, "reproduce"
        )
    assert differ == len(recs)


@pytest.mark.paperdata
@pytest.mark.skipif(not SHARED.is_dir(), reason=f"the paper's data folder is not at {SHARED}")
def test_every_shared_row_matches_the_papers_code_in_both_branches(standin_tokenizer, tmp_path_factory):
    counts = _parity(SHARED, standin_tokenizer)
    table = _report(counts)
    (tmp_path_factory.getbasetemp() / "parity.txt").write_text(table)
    print("\n" + table)
    bad = {k: c for k, c in counts.items() if not c["rows"] == c["text"] == c["prompt_ids"] == c["train_ids"]}
    assert not bad, _report(bad)
    assert {rel for rel, _, _ in counts} == set(FILES)


# ---------------------------------------------------------------------------------------------
# filters
# ---------------------------------------------------------------------------------------------
def synthetic_rewrites(rec: dict, dataset: str) -> list[str]:
    """Rewrites a model might write, built from the reference: the variants the two branches'
    filters treat differently (positional arguments, quotes, extra words) and the ones both reject."""
    out = rec["output"]
    if dataset == "openfunction":
        name, _, args = out.partition("(")
        values = [a.split("=", 1)[1] if "=" in a else a for a in args.rstrip(")").split(", ")]
        return [
            out,
            f"  {out}  ",
            f"The call is {out}.",
            out.replace('"', "'"),
            f"{name}({', '.join(values)})",
            f"{name}({', '.join(values[:-1])})",
            f"{name}()",
            "Your turn: " + out,
            f"My response is {out}",
            out.replace("=", " = "),
        ]
    if dataset == "gsm8k":
        final = ref.find_last_integer(out)
        return [
            out,
            f"So the answer is {final}.",
            f"The answer is {final}.5",
            f"The answer is {final},000",
            "I cannot tell.",
            f"Using the reference answer, {final}.",
            f"Step one... The answer is {int(final) + 1}.",
        ]
    return [out, "", "Here is my own response: " + out, "now it's your turn", out.upper()]


def _filter_parity(records: list[dict], dataset: str, rewrites_of) -> dict[str, tuple[int, int, int]]:
    """Per branch: (rewrites, accepted by the paper's code, agreements with the project's filter)."""
    out = {}
    for branch in BRANCHES:
        recs, rewrites = [], []
        for r in records:
            for w in rewrites_of(r):
                recs.append(r)
                rewrites.append(w)
        _, verdicts, _ = apply_filters(recs, rewrites, filter_rules(dataset, branch, project=()))
        paper = [ref.paper_accepts(dataset, branch, r["output"], w) for r, w in zip(recs, rewrites)]
        out[branch] = (len(recs), sum(paper), sum(v["accepted"] == p for v, p in zip(verdicts, paper)))
    return out


@pytest.mark.parametrize(
    "dataset, rel",
    [
        ("openfunction", "openfunction/openfunction_train.json"),
        ("gsm8k", "gsm8k/gsm8k_train.json"),
        ("alpaca", "alpaca/alpaca_train.json"),
    ],
)
def test_filter_decisions_equal_each_branch_on_synthetic_rewrites(dataset, rel):
    for data in (FIXTURE_DATA, SHARED):
        if not (data / rel).is_file():
            continue
        res = _filter_parity(read_records(data / rel), dataset, lambda r: synthetic_rewrites(r, dataset))
        print(dataset, data.name, res)
        for n, _, agree in res.values():
            assert agree == n
        if dataset == "openfunction":  # positional arguments: 0.5 in reproduce, which passes its filter
            assert res["reproduce"][1] > res["main"][1]


@pytest.mark.paperdata
@pytest.mark.skipif(not SHARED.is_dir(), reason=f"the paper's data folder is not at {SHARED}")
@pytest.mark.parametrize("dataset", ["alpaca", "openfunction"])
def test_filter_decisions_equal_each_branch_on_the_papers_released_rewrites(dataset):
    orig = read_records(SHARED / f"{dataset}/{dataset}_train.json")
    dist = read_records(SHARED / f"{dataset}/distilled_{dataset}.json")
    res = _filter_parity(
        [{**o, "rewrite": d["output"]} for o, d in zip(orig, dist)], dataset, lambda r: [r["rewrite"]]
    )
    print(dataset, res)
    for n, _, agree in res.values():
        assert agree == n == len(orig)
