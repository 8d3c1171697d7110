"""The distribution gap, measured: likelihood under the seed, output drift, and the paper's data.

* **The gap**, one definition for the whole book (:func:`dataset_nll`): the token-weighted mean NLL
  (nats per token) of a dataset's response tokens under the seed, each record encoded exactly as
  training encodes it (the run's ``train_template``, ``cutoff_len`` and ``paper_branch``; the
  end-of-sequence token counts). :func:`gap_table` gives it for the originals, the distilled set, and
  the distilled set's two parts: accepted rewrites and fallbacks (originals put back).
* Output drift after fine-tuning (the paper's ``eval_similarity``): on the *other* skills' held-out
  prompts, how similar is a fine-tuned model's answer to the seed's? ROUGE-L, unigram F1, exact
  match, and an embedding cosine. Sentence-transformers is used when it and a local model are
  available; otherwise a bag-of-words cosine (no download) stands in, and the method is reported.
* The paper's released rewrites (Alpaca, OpenFunctions) against their originals.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from . import metrics
from .errors import ConfigError

_TOKEN = re.compile(r"\w+|[^\w\s]")


def dataset_nll(model, tokenizer, records: Sequence[dict], cfg) -> float:
    """The book's measure of the distribution gap: the token-weighted mean NLL (nats per token) of
    ``records``' responses under ``model``, encoded as the run's training encodes them."""
    from .likelihood import mean_nll, response_nll

    return mean_nll(
        response_nll(model, tokenizer, records, cfg.train_template, cfg.cutoff_len, cfg.paper_branch)
    )


def gap_table(model, tokenizer, cfg, original: Sequence[dict], distilled=None, accepted=None):
    """:func:`dataset_nll` of the original responses and, when given, of the distilled set, its
    accepted rewrites and its fallbacks (``accepted``: one flag per record, from the rewrites'
    verdicts), with the records and response tokens of each. One row per set."""
    import pandas as pd

    from .likelihood import response_nll

    def rows_of(recs):
        return response_nll(model, tokenizer, recs, cfg.train_template, cfg.cutoff_len, cfg.paper_branch)

    def line(name, rows):
        tokens = sum(r["tokens"] for r in rows)
        nll = sum(r["nll"] * r["tokens"] for r in rows) / tokens if tokens else math.nan
        return {"responses": name, "records": len(rows), "tokens": tokens, "NLL (nats/token)": nll}

    out = [line("original", rows_of(original))]
    if distilled is not None:
        d = rows_of(distilled)
        out.append(line("distilled (all)", d))
        if accepted is not None:
            if len(accepted) != len(d):
                raise ValueError(f"{len(accepted)} verdicts for {len(d)} distilled records")
            out.append(line("distilled: accepted rewrites", [r for r, a in zip(d, accepted) if a]))
            out.append(line("distilled: fallbacks (originals)", [r for r, a in zip(d, accepted) if not a]))
    return pd.DataFrame(out).set_index("responses")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


rouge_l = metrics.rouge_l  # ROUGE-L F1 (rouge_score), 0..1: the same function scores rouge_l benchmarks


def unigram_f1(a: str, b: str) -> float:
    """Token-overlap F1 (multiset), 0..1."""
    ca, cb = Counter(tokens(a)), Counter(tokens(b))
    if not ca or not cb:
        return float(ca == cb)
    common = sum((ca & cb).values())
    if common == 0:
        return 0.0
    p, r = common / sum(cb.values()), common / sum(ca.values())
    return 2 * p * r / (p + r)


def exact_match(a: str, b: str) -> float:
    return float(a.strip() == b.strip())


def bow_cosine(a: str, b: str) -> float:
    """Cosine similarity of bag-of-words count vectors: the no-download stand-in for embeddings."""
    ca, cb = Counter(tokens(a)), Counter(tokens(b))
    dot = sum(ca[t] * cb[t] for t in ca)
    na, nb = math.sqrt(sum(v * v for v in ca.values())), math.sqrt(sum(v * v for v in cb.values()))
    return dot / (na * nb) if na and nb else float(na == nb)


def embedding_similarity(
    a: Sequence[str], b: Sequence[str], model: str | None = None
) -> tuple[list[float], str]:
    """Cosine similarity of sentence embeddings with ``model`` (a local sentence-transformers folder
    or a cached name); without a model, the bag-of-words cosine. Returns (scores, method). A model
    that cannot be used raises :class:`ConfigError` naming ``embedding_model``."""
    if model:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ConfigError(
                f"embedding_model={model!r} is not allowed: sentence-transformers is not "
                "installed (pip install sentence-transformers), or pass '' for the "
                "bag-of-words cosine"
            ) from None
        try:
            st = SentenceTransformer(model, local_files_only=True)
        except OSError as exc:
            raise ConfigError(
                f"embedding_model={model!r} could not be loaded: {str(exc).splitlines()[0]}"
            ) from None
        ea = st.encode(list(a), normalize_embeddings=True)
        eb = st.encode(list(b), normalize_embeddings=True)
        return [float((x * y).sum()) for x, y in zip(ea, eb)], f"sentence-transformers:{model}"
    return [bow_cosine(x, y) for x, y in zip(a, b)], "bag-of-words cosine (no embedding model)"


def similarity_rows(reference: Sequence[str], other: Sequence[str], model: str | None = None) -> list[dict]:
    """Per pair: rouge_l, unigram_f1, exact_match, embedding cosine (method named in each row)."""
    emb, method = embedding_similarity(reference, other, model)
    return [
        {
            "rouge_l": rouge_l(x, y),
            "unigram_f1": unigram_f1(x, y),
            "exact_match": exact_match(x, y),
            "embedding_cosine": e,
            "embedding_method": method,
        }
        for x, y, e in zip(reference, other, emb)
    ]


# ---------------------------------------------------------------------------------------------
# The teaching world's three response sets
# ---------------------------------------------------------------------------------------------
def own_answers(model, tokenizer, records: Sequence[dict], cfg) -> list[dict]:
    """The seed's own answers to the records' prompts (no reference shown), rendered with the run's
    training template and decoded with the run's decoding settings."""
    from .generation import HFBackend, decoding
    from .templates import prompt_ids

    outs = HFBackend(model, tokenizer, batch_size=cfg.gen_batch_size).generate(
        [prompt_ids(tokenizer, cfg.train_template, r, cfg.cutoff_len, cfg.paper_branch) for r in records],
        decoding(cfg),
    )
    return [{**r, "output": o} for r, o in zip(records, outs)]


def drift(cfg, run_dir: Path, target: str, model: str | None = None) -> list[dict]:
    """Similarity of a fine-tuned model's answers to the seed's, on the kept skills' prompts."""
    from .evaluation import outputs_for_run, outputs_for_seed

    seed = {(o["skill"], o["instruction"]): o["response"] for o in outputs_for_seed(cfg)}
    tuned = [o for o in outputs_for_run(cfg, run_dir) if o["skill"] != target]
    ref = [seed[(o["skill"], o["instruction"])] for o in tuned]
    rows = similarity_rows(ref, [o["response"] for o in tuned], model)
    return [{"skill": o["skill"], **r} for o, r in zip(tuned, rows)]


# ---------------------------------------------------------------------------------------------
# The paper's released rewrites
# ---------------------------------------------------------------------------------------------
def paper_rewrites(data_dir: str | Path) -> list[dict] | None:
    """One row per record of the paper's distilled Alpaca and OpenFunctions sets: whether it was
    replaced, lengths (words) before and after, ROUGE-L and bag-of-words cosine to the original.
    None when the files are absent."""
    from .data import paper_distilled_pairs

    pairs = paper_distilled_pairs(data_dir)
    if pairs is None:
        return None
    rows = []
    for dataset, (orig, dist) in pairs.items():
        for o, d in zip(orig, dist):
            a, b = o["output"].strip(), d["output"].strip()
            rows.append(
                {
                    "dataset": dataset,
                    "replaced": a != b,
                    "words_original": len(a.split()),
                    "words_distilled": len(b.split()),
                    "rouge_l": rouge_l(a, b),
                    "bow_cosine": bow_cosine(a, b),
                }
            )
    return rows
