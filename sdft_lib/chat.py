"""Records in the paper's schema, rendered through a tokenizer's chat template.

One place turns ``{"instruction", "input", "output"}`` (plus an optional ``system``) into chat
messages, prompt strings and masked training examples, for the teaching model and real models alike.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

IGNORE_INDEX = -100

# Llama-2-chat's own chat template (meta-llama/Llama-2-7b-chat-hf tokenizer_config.json). The
# teaching model ships it so that its prompts look exactly like the paper's model's prompts.
LLAMA2_CHAT_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)


def user_text(rec: dict) -> str:
    """The user turn of a record: the instruction, then the input (if any) after a blank line."""
    inp = (rec.get("input") or "").strip()
    return rec["instruction"] + (f"\n\n{inp}" if inp else "")


def to_messages(rec: dict, with_answer: bool = True) -> list[dict[str, str]]:
    msgs = []
    if rec.get("system"):
        msgs.append({"role": "system", "content": rec["system"]})
    msgs.append({"role": "user", "content": user_text(rec)})
    if with_answer:
        msgs.append({"role": "assistant", "content": rec["output"]})
    return msgs


def render_prompt(tokenizer: Any, rec: dict) -> str:
    """The prompt string a model sees before it answers ``rec``."""
    return tokenizer.apply_chat_template(to_messages(rec, with_answer=False), tokenize=False,
                                         add_generation_prompt=True)


def encode_example(tokenizer: Any, rec: dict, cutoff: int | None = None, template: str = "chat") -> dict[str, list[int]]:
    """Token ids of prompt + response, with labels masked (``-100``) on every prompt token.

    The loss is computed on the response (and its end-of-sequence token) only, as in the paper's
    LLaMA-Factory recipe. ``template="chat"`` renders through the tokenizer's chat template; a
    paper template name (``alpaca``, ``gsm8k``, ...) renders the prompt as the paper did and appends
    the response's tokens and EOS, as LLaMA-Factory does.
    """
    if template == "chat":
        prompt = render_prompt(tokenizer, rec)
        full = tokenizer.apply_chat_template(to_messages(rec), tokenize=False)
        if not full.startswith(prompt):
            raise ValueError("chat template renders the prompt differently inside the full conversation")
        p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        r_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
        if not full.rstrip().endswith(tokenizer.eos_token or "\0"):
            r_ids = r_ids + [tokenizer.eos_token_id]
    else:
        from .templates import get_template

        prompt = get_template(template).render(user_text(rec))
        p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        r_ids = tokenizer(rec["output"].strip(), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = p_ids + r_ids
    labels = [IGNORE_INDEX] * len(p_ids) + r_ids
    if cutoff is not None:
        ids, labels = ids[:cutoff], labels[:cutoff]
    return {"input_ids": ids, "labels": labels}


@lru_cache(maxsize=8)
def _compiled(template: str):
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template)


def _raise(msg: str):
    raise ValueError(msg)


def render_chat_text(messages: list[dict[str, str]], template: str = LLAMA2_CHAT_TEMPLATE,
                     bos_token: str = "<s>", eos_token: str = "</s>") -> str:
    """Render messages with a chat template before any tokenizer exists (to train one on it)."""
    return _compiled(template).render(messages=messages, bos_token=bos_token, eos_token=eos_token,
                                      raise_exception=_raise)


def collate(examples: list[dict], pad_id: int) -> dict:
    """Right-pad a batch for training; padded positions get label -100 and attention 0."""
    import torch

    n = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), n), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), n), IGNORE_INDEX, dtype=torch.long)
    att = torch.zeros((len(examples), n), dtype=torch.long)
    for i, e in enumerate(examples):
        k = len(e["input_ids"])
        ids[i, :k] = torch.tensor(e["input_ids"])
        labels[i, :k] = torch.tensor(e["labels"])
        att[i, :k] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": att}
