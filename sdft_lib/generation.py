"""Text generation behind one small interface.

``HFBackend`` (Hugging Face ``generate``) runs everywhere: batched, left-padded, length-sorted
batches with the KV cache. A vLLM backend (GPU only) plugs in behind the same calls: ``generate``
(texts) and ``generate_full`` (texts with whether each ended by itself), then ``close`` to free the
memory before another model is loaded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence, Union

import torch


@dataclass(frozen=True)
class Decoding:
    """Explicit decoding parameters. The paper sampled (T=0.95, top_p=0.7, top_k=50, 512 tokens);
    the teaching world decodes greedily so that its runs are deterministic."""

    max_new_tokens: int = 512
    do_sample: bool = False
    temperature: float = 0.95
    top_p: float = 0.7
    top_k: int = 50

    def hf_kwargs(self) -> dict:
        kw: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample}
        if self.do_sample:
            kw.update(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k)
        else:
            kw.update(temperature=None, top_p=None, top_k=None)
        return kw

    def to_dict(self) -> dict:
        return asdict(self)


Prompt = Union[str, Sequence[int]]  # a rendered string (tokenized without special tokens) or token ids


@dataclass(frozen=True)
class Generation:
    """One answer: its text (special tokens removed, stripped) and whether the model ended it
    itself (an end-of-sequence token) rather than running into ``max_new_tokens``."""

    text: str
    finished: bool


def _eos_ids(model, tokenizer) -> set[int]:
    ids = getattr(model.generation_config, "eos_token_id", None)
    ids = set(ids if isinstance(ids, (list, tuple)) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


def decoding(cfg) -> Decoding:
    """The run's decoding settings (``max_new_tokens``, ``do_sample``, ``temperature``, ``top_p``, ``top_k``)."""
    return Decoding(max_new_tokens=cfg.max_new_tokens, do_sample=cfg.do_sample, temperature=cfg.temperature,
                    top_p=cfg.top_p, top_k=cfg.top_k)


class HFBackend:
    """Batched generation with ``model.generate``: left-padded, length-sorted batches, KV cache.

    Prompts are token ids (what :func:`sdft_lib.templates.prompt_ids` returns) or strings, which are
    tokenized without adding special tokens (templates put BOS where the model expects it).
    """

    name = "hf"

    def __init__(self, model, tokenizer, batch_size: int = 32, progress: bool = False):
        self.model, self.tokenizer, self.batch_size, self.progress = model, tokenizer, batch_size, progress

    def generate(self, prompts: Sequence[Prompt], decoding: Decoding) -> list[str]:
        """The answers' texts, in prompt order."""
        return [g.text for g in self.generate_full(prompts, decoding)]

    @torch.inference_mode()
    def generate_full(self, prompts: Sequence[Prompt], decoding: Decoding) -> list[Generation]:
        """The answers with their finished flags, in prompt order."""
        tok = self.tokenizer
        ids = [list(p) if not isinstance(p, str) else tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: len(ids[i]), reverse=True)
        out: list[Generation | None] = [None] * len(prompts)
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        it = batches
        if self.progress:
            from tqdm import tqdm  # plain text bars: no widget warnings in executed notebooks
            it = tqdm(batches, desc="generate", unit="batch")
        stop = _eos_ids(self.model, tok)
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        for b in it:
            width = max(len(ids[i]) for i in b)  # left padding: every prompt ends where generation starts
            input_ids = torch.tensor([[pad] * (width - len(ids[i])) + ids[i] for i in b], device=self.model.device)
            mask = torch.tensor([[0] * (width - len(ids[i])) + [1] * len(ids[i]) for i in b], device=self.model.device)
            gen = self.model.generate(input_ids=input_ids, attention_mask=mask, **decoding.hf_kwargs(), pad_token_id=pad)
            for i, row in zip(b, gen[:, width:]):
                finished = any(int(t) in stop for t in row)
                out[i] = Generation(tok.decode(row, skip_special_tokens=True).strip(), finished)
        return out  # type: ignore[return-value]

    def close(self) -> None:
        """Drop the model (and its GPU memory) before another model is loaded."""
        _release(self, "model")


def _release(backend, attr: str) -> None:
    import gc

    if getattr(backend, attr, None) is not None:
        setattr(backend, attr, None)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class VLLMBackend:
    """vLLM generation (GPU only). Imported lazily: vllm is an optional extra (``.[vllm]``)."""

    name = "vllm"

    def __init__(self, seed_path: str, cfg):
        try:
            from vllm import LLM
        except ImportError as exc:  # pragma: no cover - needs the GPU extra
            from .errors import ConfigError
            raise ConfigError("gen_backend='vllm' is not allowed: vllm is not installed "
                              "(pip install -e '.[vllm]' on a GPU machine); use gen_backend='hf'") from exc
        if not torch.cuda.is_available():  # pragma: no cover
            from .errors import ConfigError
            raise ConfigError("gen_backend='vllm' is not allowed on this machine: it has no CUDA GPU; use gen_backend='hf'")
        self.llm = LLM(model=seed_path, tensor_parallel_size=cfg.tensor_parallel_size, seed=cfg.seed,
                       trust_remote_code=False, dtype="auto")

    def generate(self, prompts: Sequence[Prompt], decoding: Decoding) -> list[str]:  # pragma: no cover
        return [g.text for g in self.generate_full(prompts, decoding)]

    def generate_full(self, prompts: Sequence[Prompt], decoding: Decoding) -> list[Generation]:  # pragma: no cover
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=decoding.max_new_tokens,
                                temperature=decoding.temperature if decoding.do_sample else 0.0,
                                top_p=decoding.top_p if decoding.do_sample else 1.0,
                                top_k=decoding.top_k if decoding.do_sample and decoding.top_k else -1)
        # The same token ids as the HF backend: strings are tokenized without special tokens.
        tok = self.llm.get_tokenizer()
        inputs = [{"prompt_token_ids": list(p) if not isinstance(p, str) else tok(p, add_special_tokens=False)["input_ids"]}
                  for p in prompts]
        outs = self.llm.generate(inputs, params, use_tqdm=True)
        return [Generation(o.outputs[0].text.strip(), o.outputs[0].finish_reason == "stop") for o in outs]

    def close(self) -> None:
        """Shut the engine down and free its GPU memory, so a Hugging Face model fits after it."""
        try:  # pragma: no cover - needs vllm
            from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel

            destroy_model_parallel()
            destroy_distributed_environment()
        except ImportError:
            pass
        _release(self, "llm")


def throughput(model, tokenizer, prompts: Sequence[str], decoding: Decoding, batch_size: int) -> dict:
    """Generate ``prompts`` with one batch size; return responses/s and new tokens/s.

    Used to compare the batched backend with batch size 1 (the original code's setting).
    """
    import time

    backend = HFBackend(model, tokenizer, batch_size=batch_size)
    t0 = time.perf_counter()
    outs = backend.generate(prompts, decoding)
    secs = time.perf_counter() - t0
    new_tokens = sum(len(tokenizer(o, add_special_tokens=False)["input_ids"]) for o in outs)  # texts re-tokenized
    return {"batch_size": batch_size, "prompts": len(prompts), "seconds": round(secs, 3),
            "responses_per_s": round(len(prompts) / secs, 2), "new_tokens_per_s": round(new_tokens / secs, 1),
            "outputs": outs}
