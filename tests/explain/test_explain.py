"""Grounded explanations: only real history items and real shared words; Chinese template; generative
paraphrase accepted only when it names real titles (fake generators injected)."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.explain import Explainer, attribute, check_generated, paraphrase, render, shared_terms, short_title
from lmrec.feedback._terms import terms_of


@pytest.fixture()
def toy():
    vectors = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.95, 0.05], [0.1, 0.9]], np.float32)
    texts = [
        "Star Wars. Sci-Fi, space opera, war",
        "Return of the Jedi. Sci-Fi, space opera, war",
        "Sleepless in Seattle. Romance, comedy",
        "Empire Strikes Back. Sci-Fi, space opera, war, romance",
        "When Harry Met Sally. Romance, comedy",
    ]
    titles = ["Star Wars (1977)", "Return of the Jedi (1983)", "Sleepless in Seattle (1993)",
              "Empire Strikes Back, The (1980)", "When Harry Met Sally (1989)"]
    return Explainer(vectors, texts, titles), texts, titles


def test_hand_built_explanation(toy):
    ex, texts, titles = toy
    e = ex.explain(3, history=[0, 2, 1])
    assert [i for i, _, _ in e.because] == [1, 0]  # newest similar item first (recency weight), not item 2
    assert set(e.shared) == {"space opera", "sci-fi", "war"}
    assert e.text == ("Recommended because you liked Return of the Jedi and Star Wars "
                      f"(shared: {', '.join(e.shared)}).")
    assert not e.generated and e.display() == e.text
    # the romance history item explains the romance film
    e2 = ex.explain(4, history=[0, 2])
    # rarer in the catalog first
    assert [i for i, _, _ in e2.because] == [2] and e2.shared == ("comedy", "romance")


def test_attribution_by_hand_and_with_attention():
    v = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], np.float32)
    # cos(0, 2) = 0, cos(1, 2) = 0.8: only item 1 contributes
    assert attribute(2, [0, 1], v, half_life=None) == [(1, pytest.approx(0.8))]
    # attention weights replace recency: 0.5 * 0.8
    assert attribute(2, [1, 0], v, attention=[0.5, 0.5]) == [(1, pytest.approx(0.4))]
    assert attribute(2, [], v) == []


def test_shared_terms_are_in_both_texts():
    shared = shared_terms("A dark space thriller with aliens", ["Space aliens attack", "A romantic thriller"])
    assert shared == ["space", "aliens", "thriller"] or set(shared) == {"space", "aliens", "thriller"}
    assert shared_terms("Romance", ["Space war"]) == []


def test_real_ml100k_explanations_name_only_history_items_and_shared_words(ml100k_small):
    from lmrec.text import item_texts

    data, model = ml100k_small
    texts = item_texts(data.items, "{title}. {genres}")
    ex = Explainer(model.vectors, texts, data.item_titles())
    seqs = data.interactions.sequences()
    checked = 0
    for user in (0, 1, 5, 10, 100):
        hist = seqs[user]
        recs, _ = model.recommend(np.array([user]), k=3)
        for item in recs[0]:
            e = ex.explain(int(item), hist)
            assert e.because, "every user here has similar items in the history"
            for i, title, _ in e.because:
                assert i in set(hist.tolist()) and title == data.item_titles()[i]
                assert short_title(title) in e.text
            item_terms = set(terms_of(texts[int(item)]))
            for term in e.shared:
                assert term in item_terms
                assert any(term in set(terms_of(texts[i])) for i, _, _ in e.because)
                assert term in e.text
            checked += 1
    assert checked == 15


def test_chinese_template_and_character_terms():
    expected = "推荐理由：你喜欢《霸王别姬》和《活着》（共同点：年代、剧情）。"
    assert render(["霸王别姬", "活着"], ["年代", "剧情"], "zh") == expected
    assert render(["星际穿越"], [], "zh") == "推荐理由：你喜欢《星际穿越》。"
    vectors = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], np.float32)
    texts = ["流浪地球。科幻、冒险。太空救援", "星际穿越。科幻、剧情。太空探索", "甜蜜蜜。爱情、剧情"]
    ex = Explainer(vectors, texts, ["流浪地球", "星际穿越", "甜蜜蜜"])
    assert ex.language == "zh"
    e = ex.explain(0, history=[2, 1])
    assert [i for i, _, _ in e.because] == [1]
    assert set(e.shared) == {"科幻", "太空"}
    assert e.text.startswith("推荐理由：你喜欢《星际穿越》（共同点：")


def test_short_title():
    assert short_title("Silence of the Lambs, The (1991)") == "The Silence of the Lambs"
    assert short_title("Star Wars (1977)") == "Star Wars"


def test_generative_paraphrase_falls_back_when_it_invents_a_title(toy):
    ex, _, titles = toy
    e = ex.explain(3, history=[0, 1])
    seen = []

    def inventing(prompt: str) -> str:
        seen.append(prompt)
        return 'Since you enjoyed "Star Wars" and "The Phantom Menace", try this one!'

    out = paraphrase(e, inventing, titles)
    assert "Return of the Jedi" in seen[0] and "Star Wars" in seen[0]
    assert not out.generated and out.text == e.template_text
    assert "phantom menace" in out.notes[0]

    def naming_other(prompt: str) -> str:
        return "You liked Star Wars, so here is When Harry Met Sally."

    assert not paraphrase(e, naming_other, titles).generated

    def broken(prompt: str) -> str:
        raise RuntimeError("model missing")

    assert paraphrase(e, broken, titles).text == e.template_text

    def faithful(prompt: str) -> str:
        return 'Fans of "Star Wars" and "Return of the Jedi" will love more space opera battles here.'

    good = paraphrase(e, faithful, titles)
    assert good.generated and good.display().startswith("[generated] Fans of")
    assert good.template_text == e.template_text
    assert check_generated("A great film for a rainy evening.", e, titles) == (
        "names none of the contributing history items"
    )
    # what SmolLM2-135M really produced on ML-100K: parroting the prompt, or no sentence at all
    parrot = 'Rewrite this recommendation reason as one friendly sentence: "Star Wars"'
    assert check_generated(parrot, e, titles) == "repeats the instruction instead of answering it"
    assert check_generated("Mine: Star Wars", e, titles) == "not a sentence (fewer than 6 words)"


def test_model_contributions_are_used_when_the_model_exposes_them(toy):
    ex, _, titles = toy

    class ItemItem:  # an EASE-like model: score(item) = sum over history of weights[j, item]
        weights = np.zeros((5, 5), np.float32)

    model = ItemItem()
    model.weights[2, 3] = 0.9  # the romance film drives the recommendation of item 3, not the sci-fi ones
    model.weights[0, 3] = 0.1
    explainer = Explainer.for_model(model, titles, ex.item_texts)
    e = explainer.explain(3, history=[0, 2])
    assert [i for i, _, _ in e.because] == [2] and e.shared == ("romance",)
