"""Text generation behind one small interface.

``HFBackend`` (Hugging Face ``generate``) runs everywhere: batched, left-padded, length-sorted
batches with the KV cache. A vLLM backend (GPU only) plugs in behind the same ``generate`` call.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

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


class HFBackend:
    """Batched generation with ``model.generate``; prompts are plain strings (already templated)."""

    name = "hf"

    def __init__(self, model, tokenizer, batch_size: int = 32, progress: bool = False):
        self.model, self.tokenizer, self.batch_size, self.progress = model, tokenizer, batch_size, progress

    @torch.inference_mode()
    def generate(self, prompts: Sequence[str], decoding: Decoding) -> list[str]:
        tok = self.tokenizer
        old_side = tok.padding_side
        tok.padding_side = "left"
        ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: len(ids[i]), reverse=True)
        out: list[str | None] = [None] * len(prompts)
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        it = batches
        if self.progress:
            from tqdm import tqdm  # plain text bars: no widget warnings in executed notebooks
            it = tqdm(batches, desc="generate", unit="batch")
        try:
            for b in it:
                enc = tok.pad({"input_ids": [ids[i] for i in b]}, return_tensors="pt")
                enc = {k: v.to(self.model.device) for k, v in enc.items()}
                gen = self.model.generate(**enc, **decoding.hf_kwargs(), pad_token_id=tok.pad_token_id)
                new = gen[:, enc["input_ids"].shape[1]:]
                for i, row in zip(b, new):
                    out[i] = tok.decode(row, skip_special_tokens=True).strip()
        finally:
            tok.padding_side = old_side
        return out  # type: ignore[return-value]


class VLLMBackend:
    """vLLM generation (GPU only). Imported lazily: vllm is an optional extra (``.[vllm]``)."""

    name = "vllm"

    def __init__(self, seed_path: str, cfg):
        try:
            from vllm import LLM
        except ImportError as exc:  # pragma: no cover - needs the GPU extra
            from .config import ConfigError
            raise ConfigError("gen_backend='vllm' is not allowed: vllm is not installed "
                              "(pip install -e '.[vllm]' on a GPU machine); use gen_backend='hf'") from exc
        import torch
        if not torch.cuda.is_available():  # pragma: no cover
            from .config import ConfigError
            raise ConfigError("gen_backend='vllm' is not allowed on this machine: it has no CUDA GPU; use gen_backend='hf'")
        self.llm = LLM(model=seed_path, tensor_parallel_size=cfg.tensor_parallel_size, seed=cfg.seed,
                       trust_remote_code=False, dtype="auto")

    def generate(self, prompts: Sequence[str], decoding: Decoding) -> list[str]:  # pragma: no cover
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=decoding.max_new_tokens,
                                temperature=decoding.temperature if decoding.do_sample else 0.0,
                                top_p=decoding.top_p if decoding.do_sample else 1.0,
                                top_k=decoding.top_k if decoding.do_sample and decoding.top_k else -1)
        # Prompts are already templated (with <s> where the template has it): tokenize them without
        # adding special tokens again, exactly as the HF backend does.
        tok = self.llm.get_tokenizer()
        inputs = [{"prompt_token_ids": tok(p, add_special_tokens=False)["input_ids"]} for p in prompts]
        outs = self.llm.generate(inputs, params, use_tqdm=True)
        return [o.outputs[0].text.strip() for o in outs]


def throughput(model, tokenizer, prompts: Sequence[str], decoding: Decoding, batch_size: int) -> dict:
    """Generate ``prompts`` with one batch size; return responses/s and new tokens/s.

    Used to compare the batched backend with batch size 1 (the original code's setting).
    """
    import time

    backend = HFBackend(model, tokenizer, batch_size=batch_size)
    t0 = time.perf_counter()
    outs = backend.generate(prompts, decoding)
    secs = time.perf_counter() - t0
    new_tokens = sum(len(tokenizer(o, add_special_tokens=False)["input_ids"]) for o in outs)
    return {"batch_size": batch_size, "prompts": len(prompts), "seconds": round(secs, 3),
            "responses_per_s": round(len(prompts) / secs, 2), "new_tokens_per_s": round(new_tokens / secs, 1),
            "outputs": outs}
