"""How likely is a response under a model? Per-token negative log-likelihood, responses only.

The distribution gap of the paper, made measurable: a dataset written in the model's own voice has
a low NLL under the model; a foreign-style dataset has a high one.

The records are encoded exactly as the training stage encodes them (``templates.train_example``
with the run's ``train_template`` and ``cutoff_len``), so the number is the loss the first training
step sees. Memory stays bounded for long responses and large vocabularies: batches are filled up to
a token budget, and the loss is computed from the last hidden states in slices of response tokens,
so the float logits of a whole batch (batch x length x vocabulary) never exist at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .templates import IGNORE_INDEX, collator, train_example


def token_budget_batches(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Indices grouped into batches of similar length whose padded size (rows x longest) stays within
    ``max_tokens`` (a longer single example gets a batch of its own)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        if cur and (len(cur) + 1) * max(lengths[i], max(lengths[j] for j in cur)) > max_tokens:
            batches.append(cur)
            cur = []
        cur.append(i)
    return batches + ([cur] if cur else [])


def _token_nll(model, input_ids, attention_mask, labels, slice_tokens: int) -> torch.Tensor:
    """Per-position NLL (0 where the label is masked), computed slice by slice from hidden states."""
    target = labels[:, 1:]
    mask = target != IGNORE_INDEX
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    special = getattr(model.config, "final_logit_softcapping", None) or getattr(
        model.config, "logit_scale", None
    )
    out = torch.zeros(target.shape, dtype=torch.float32, device=input_ids.device)
    if head is None or decoder is None or special:  # unusual heads: fall back to the full logits
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target.clamp(min=0), reduction="none")
        return nll * mask
    hidden = decoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, :-1]
    rows, cols = mask.nonzero(as_tuple=True)
    for s in range(0, len(rows), slice_tokens):
        r, c = rows[s : s + slice_tokens], cols[s : s + slice_tokens]
        logits = head(hidden[r, c]).float()
        out[r, c] = torch.nn.functional.cross_entropy(logits, target[r, c], reduction="none")
    return out


@torch.inference_mode()
def response_nll(
    model,
    tokenizer,
    records: Sequence[dict],
    template: str = "chat",
    cutoff: int | None = None,
    branch: str = "reproduce",
    max_batch_tokens: int = 16384,
    slice_tokens: int = 2048,
) -> list[dict]:
    """For each record: mean NLL (nats/token) of its response given its prompt, token count, PPL.

    Encoded as in training (``template``, ``cutoff``, ``branch``: pass the run's ``train_template``,
    ``cutoff_len`` and ``paper_branch``); the end-of-sequence token counts as part of the response.
    """
    enc = [train_example(tokenizer, template, r, cutoff, branch) for r in records]
    out: list[dict | None] = [None] * len(enc)
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    collate = collator(pad)
    for idx in token_budget_batches([len(e["input_ids"]) for e in enc], max_batch_tokens):
        batch = {k: v.to(device) for k, v in collate([enc[i] for i in idx]).items()}
        tok_nll = _token_nll(
            model, batch["input_ids"], batch["attention_mask"], batch["labels"], slice_tokens
        )
        counts = (batch["labels"][:, 1:] != IGNORE_INDEX).sum(1)
        sums = tok_nll.sum(1)
        for j, i in enumerate(idx):
            n = int(counts[j])
            nll = float(sums[j]) / n if n else float("nan")
            out[i] = {"nll": nll, "tokens": n, "ppl": math.exp(nll) if n else float("nan")}
    return out  # type: ignore[return-value]


def mean_nll(rows: Sequence[dict]) -> float:
    """Token-weighted mean NLL over records (each token counts once)."""
    tokens = sum(r["tokens"] for r in rows)
    return sum(r["nll"] * r["tokens"] for r in rows) / tokens if tokens else float("nan")


@torch.inference_mode()
def response_kl(
    p_model,
    q_model,
    tokenizer,
    records: Sequence[dict],
    template: str = "chat",
    cutoff: int | None = None,
    branch: str = "reproduce",
    max_batch_tokens: int = 8192,
    slice_tokens: int = 1024,
) -> list[dict]:
    """For each record: mean per-token KL(p || q) over its response tokens (nats/token), and the mean
    NLL each model gives the response (``p_nll``, ``q_nll``), with its token count.

    The same encoding as :func:`response_nll`; both models share the tokenizer. The full-vocabulary
    distributions are computed slice by slice from the last hidden states, so memory stays bounded.
    ``p_model is q_model`` is allowed (KL 0)."""
    enc = [train_example(tokenizer, template, r, cutoff, branch) for r in records]
    out: list[dict | None] = [None] * len(enc)
    device = next(p_model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    collate = collator(pad)
    models = [p_model] if q_model is p_model else [p_model, q_model]
    for idx in token_budget_batches([len(e["input_ids"]) for e in enc], max_batch_tokens):
        batch = {k: v.to(device) for k, v in collate([enc[i] for i in idx]).items()}
        target = batch["labels"][:, 1:]
        rows, cols = (target != IGNORE_INDEX).nonzero(as_tuple=True)
        hidden = [
            m.get_decoder()(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).last_hidden_state[:, :-1]
            for m in models
        ]
        kl = torch.zeros(target.shape)
        nll = [torch.zeros(target.shape) for _ in range(2)]
        for s in range(0, len(rows), slice_tokens):
            r, c = rows[s : s + slice_tokens], cols[s : s + slice_tokens]
            logp = [
                torch.log_softmax(m.get_output_embeddings()(h[r, c]).float(), -1)
                for m, h in zip(models, hidden)
            ]
            lp, lq = logp[0], logp[-1]
            kl[r, c] = (lp.exp() * (lp - lq)).sum(-1).clamp(min=0).cpu()
            t = target[r, c].unsqueeze(1)
            nll[0][r, c] = -lp.gather(1, t).squeeze(1).cpu()
            nll[1][r, c] = -lq.gather(1, t).squeeze(1).cpu()
        counts = (target != IGNORE_INDEX).sum(1)
        for j, i in enumerate(idx):
            n = int(counts[j])
            out[i] = {
                "kl": _row_mean(kl, j, n),
                "p_nll": _row_mean(nll[0], j, n),
                "q_nll": _row_mean(nll[1], j, n),
                "tokens": n,
            }
    return out  # type: ignore[return-value]


def _row_mean(values, row: int, n: int) -> float:
    """Mean of row ``row`` of a per-token table over its ``n`` scored tokens (NaN for none)."""
    return float(values[row].sum()) / n if n else float("nan")
