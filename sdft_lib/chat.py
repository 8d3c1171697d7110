"""Llama-2-chat's chat template, and rendering it before a tokenizer exists.

How a record becomes a prompt and a masked training example (for chat templates and the paper's
templates alike) lives in :mod:`sdft_lib.templates`.
"""

from __future__ import annotations

from functools import lru_cache

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


@lru_cache(maxsize=8)
def _compiled(template: str):
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template)


def _raise(msg: str):
    raise ValueError(msg)


def render_chat_text(
    messages: list[dict[str, str]],
    template: str = LLAMA2_CHAT_TEMPLATE,
    bos_token: str = "<s>",
    eos_token: str = "</s>",
) -> str:
    """Render messages with a chat template before any tokenizer exists (to train one on it)."""
    return _compiled(template).render(
        messages=messages, bos_token=bos_token, eos_token=eos_token, raise_exception=_raise
    )
