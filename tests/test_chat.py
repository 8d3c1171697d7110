import torch

from sdft_lib.chat import render_chat_text
from sdft_lib.templates import IGNORE_INDEX, collator, to_messages


def test_llama2_template_renders_llama2_format():
    msgs = [{"role": "system", "content": "Be brief."}] + to_messages(
        {"instruction": "Hi", "input": "", "output": "Hello"}
    )
    assert render_chat_text(msgs) == "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s>"
    assert (
        render_chat_text(to_messages({"instruction": "Hi", "output": "Yo"})) == "<s>[INST] Hi [/INST] Yo </s>"
    )


def test_collator_pads_right_and_masks_padding():
    batch = collator(0)(
        [{"input_ids": [5, 6, 7], "labels": [IGNORE_INDEX, 6, 7]}, {"input_ids": [8], "labels": [8]}]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE_INDEX, 6, 7], [8, IGNORE_INDEX, IGNORE_INDEX]]
    assert batch["attention_mask"].dtype == torch.long and batch["attention_mask"].tolist() == [
        [1, 1, 1],
        [1, 0, 0],
    ]
