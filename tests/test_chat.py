from sdft_lib.chat import IGNORE_INDEX, encode_example, render_chat_text, render_prompt, to_messages, user_text


def test_user_text_joins_instruction_and_input():
    assert user_text({"instruction": "Do it.", "input": ""}) == "Do it."
    assert user_text({"instruction": "Do it.", "input": "with this"}) == "Do it.\n\nwith this"


def test_llama2_template_renders_llama2_format():
    msgs = to_messages({"system": "Be brief.", "instruction": "Hi", "input": "", "output": "Hello"})
    assert render_chat_text(msgs) == "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s>"
    assert render_chat_text(to_messages({"instruction": "Hi", "output": "Yo"})) == "<s>[INST] Hi [/INST] Yo </s>"


def test_encode_masks_prompt_tokens(tiny_tokenizer):
    rec = {"instruction": "What is 2 plus 3?", "input": "", "output": "Let me compute that. 2 + 3 = 5. The answer is 5."}
    ex = encode_example(tiny_tokenizer, rec)
    prompt_ids = tiny_tokenizer(render_prompt(tiny_tokenizer, rec), add_special_tokens=False)["input_ids"]
    n = len(prompt_ids)
    assert ex["input_ids"][:n] == prompt_ids
    assert ex["labels"][:n] == [IGNORE_INDEX] * n
    assert ex["labels"][n:] == ex["input_ids"][n:]
    assert ex["input_ids"][-1] == tiny_tokenizer.eos_token_id
    answer = tiny_tokenizer.decode(ex["input_ids"][n:], skip_special_tokens=True).strip()
    assert answer == rec["output"]


def test_encode_cutoff(tiny_tokenizer):
    rec = {"instruction": "Sort 3, 1, 2.", "input": "", "output": "Here is the result. The answer is 1, 2, 3."}
    ex = encode_example(tiny_tokenizer, rec, cutoff=5)
    assert len(ex["input_ids"]) == len(ex["labels"]) == 5


def test_encode_with_a_paper_template_masks_the_papers_prompt(tiny_tokenizer):
    from sdft_lib.templates import get_template

    rec = {"instruction": "What is 2 plus 3?", "input": "", "output": "#### 5"}
    ex = encode_example(tiny_tokenizer, rec, template="gsm8k")
    prompt = get_template("gsm8k").render(rec["instruction"])
    n = len(tiny_tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert ex["labels"][:n] == [IGNORE_INDEX] * n
    assert ex["input_ids"][-1] == tiny_tokenizer.eos_token_id
    assert tiny_tokenizer.decode(ex["input_ids"][n:], skip_special_tokens=True).strip() == "#### 5"
