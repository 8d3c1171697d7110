"""How likely is a response under a model? Per-token negative log-likelihood, responses only.

The distribution gap of the paper, made measurable: a dataset written in the model's own voice has
a low NLL under the model; a foreign-style dataset has a high one.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from .chat import IGNORE_INDEX, collate, encode_example


@torch.inference_mode()
def response_nll(model, tokenizer, records: Sequence[dict], batch_size: int = 32,
                 cutoff: int | None = None) -> list[dict]:
    """For each record: mean NLL (nats/token) of its ``output`` given its prompt, token count, PPL.

    Prompt tokens are masked exactly as in training (``chat.encode_example``); the end-of-sequence
    token counts as part of the response. Batches are length-sorted and right-padded.
    """
    enc = [encode_example(tokenizer, r, cutoff=cutoff) for r in records]
    order = sorted(range(len(enc)), key=lambda i: len(enc[i]["input_ids"]))
    out: list[dict | None] = [None] * len(enc)
    device = next(model.parameters()).device
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        batch = {k: v.to(device) for k, v in collate([enc[i] for i in idx], tokenizer.pad_token_id).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        target = batch["labels"][:, 1:]
        mask = target != IGNORE_INDEX
        tok_nll = -logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1) * mask
        sums, counts = tok_nll.sum(1), mask.sum(1)
        for j, i in enumerate(idx):
            n = int(counts[j])
            nll = float(sums[j]) / n if n else float("nan")
            out[i] = {"nll": nll, "tokens": n, "ppl": math.exp(nll) if n else float("nan")}
    return out  # type: ignore[return-value]


def mean_nll(rows: Sequence[dict]) -> float:
    """Token-weighted mean NLL over records (each token counts once)."""
    tokens = sum(r["tokens"] for r in rows)
    return sum(r["nll"] * r["tokens"] for r in rows) / tokens if tokens else float("nan")
