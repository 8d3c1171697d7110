import pytest

from sdft_lib.distribution_gap import (
    bow_cosine,
    embedding_similarity,
    exact_match,
    rouge_l,
    similarity_rows,
    tokens,
    unigram_f1,
)


def test_tokens():
    assert tokens("The answer is 42.") == ["the", "answer", "is", "42", "."]


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("the cat sat", "the cat sat", 1.0),
        ("the cat sat", "dog ran far", 0.0),
        ("a b c d", "a c d", 2 * (3 / 3) * (3 / 4) / (3 / 3 + 3 / 4)),  # LCS a c d: p=1, r=3/4
        ("", "", 1.0),
        ("", "x", 0.0),
    ],
)
def test_rouge_l_by_hand(a, b, expected):
    assert rouge_l(a, b) == pytest.approx(expected)


def test_rouge_l_respects_order_but_unigram_f1_does_not():
    assert unigram_f1("a b c", "c b a") == 1.0
    assert rouge_l("a b c", "c b a") == pytest.approx(1 / 3)


def test_bow_cosine_and_exact_match():
    assert bow_cosine("a a b", "a a b") == pytest.approx(1.0)
    assert bow_cosine("a", "b") == 0.0
    assert bow_cosine("a b", "a") == pytest.approx(1 / 2**0.5)
    assert exact_match(" x ", "x") == 1.0 and exact_match("x", "y") == 0.0


def test_embedding_falls_back_without_a_model():
    scores, method = embedding_similarity(["a b"], ["a b"], model=None)
    assert scores == [pytest.approx(1.0)] and method.startswith("bag-of-words")


def test_a_model_that_cannot_be_used_is_a_one_line_error_naming_the_parameter():
    from sdft_lib.config import ConfigError, load_config
    from sdft_lib.runtime import check_paths

    with pytest.raises(
        ConfigError, match=r"^embedding_model='no/such-model' (is not allowed|could not be loaded)"
    ):
        embedding_similarity(["a b"], ["a b"], model="no/such-model")
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        with pytest.raises(
            ConfigError, match="embedding_model='x' is not allowed: sentence-transformers is not installed"
        ):
            check_paths(load_config("toy", embedding_model="x"))  # runtime.setup checks the machine


def test_rouge_l_is_rouge_score():
    from rouge_score import rouge_scorer

    a, b = "Let me compute that. 6 * 7 = 42.", "6*7=<<6*7=42>>42 pens"
    assert rouge_l(a, b) == rouge_scorer.RougeScorer(["rougeL"]).score(a, b)["rougeL"].fmeasure


def test_similarity_rows():
    rows = similarity_rows(["Let me compute that. 2 + 3 = 5."], ["Let me compute that. 2 + 3 = 5."])
    assert rows[0]["rouge_l"] == 1.0 and rows[0]["exact_match"] == 1.0 and rows[0]["unigram_f1"] == 1.0
