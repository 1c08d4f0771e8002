"""Grounded explanations: only real history items and real shared words; Chinese template; generative
paraphrase accepted only when it names real titles (fake generators injected)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from lmrec.explain import (
    Explainer,
    attribute,
    catalog_attributes,
    check_generated,
    paraphrase,
    render,
    shared_terms,
    short_title,
)
from lmrec.feedback.terms import terms_of


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
    titles = [
        "Star Wars (1977)",
        "Return of the Jedi (1983)",
        "Sleepless in Seattle (1993)",
        "Empire Strikes Back, The (1980)",
        "When Harry Met Sally (1989)",
    ]
    return Explainer(vectors, texts, titles), texts, titles


def test_hand_built_explanation_names_the_single_most_responsible_item(toy):
    ex, texts, titles = toy
    e = ex.explain(3, history=[0, 2, 1], variant=0)
    # the newest similar item (recency weight) is the one named; never two titles in one sentence
    assert [i for i, _, _ in e.because] == [1]
    assert set(e.shared) == {"space opera", "sci-fi", "war"}
    assert e.text == "Recommended because you liked Return of the Jedi (shared: space opera, sci-fi and war)."
    assert "Star Wars" not in e.text and e.kind == "terms"
    assert not e.generated and e.display() == e.text and ex.check(e, [0, 2, 1]) is None
    # the romance history item explains the romance film; rarer in the catalog first
    e2 = ex.explain(4, history=[0, 2], variant=0)
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
    titles = data.item_titles()
    genres = catalog_attributes(data.items, ["genres"])
    assert genres[0] == ("Animation", "Children's", "Comedy")  # Toy Story
    for attrs in (None, genres):
        ex = Explainer(model.vectors, texts, titles, attributes=attrs)
        seqs = data.interactions.sequences()
        checked, wordings = 0, set()
        for user in (0, 1, 5, 10, 100):
            hist = seqs[user]
            recs, _ = model.recommend(np.array([user]), k=3)
            for e in ex.explain_many(recs[0].tolist(), hist):
                assert len(e.because) == 1, "every user here has a similar item in the history"
                (i, title, _), item = e.because[0], e.item
                assert i in set(hist.tolist()) and title == titles[i]
                assert short_title(title) in e.text
                # never a union over several liked items: only what this one item shares
                if attrs is None:
                    both = set(terms_of(texts[item])) & set(terms_of(texts[i]))
                else:
                    both = set(genres[item]) & set(genres[i])
                    assert set(e.shared) == both or len(e.shared) == 3 and set(e.shared) < both
                assert set(e.shared) <= both
                assert ex.check(e, hist) is None
                wordings.add(e.text.replace(short_title(title), "X").split("(")[0][:12])
                checked += 1
        assert checked == 15 and len(wordings) >= 3  # not the same sentence fifteen times


def test_genres_are_the_intersection_with_the_one_named_item_never_merged():
    # Space Jam (animation, children, comedy) and Waterworld (action, adventure, sci-fi) are liked; the
    # recommended film shares comedy with the first and sci-fi with the second
    titles = ["Space Jam (1996)", "Waterworld (1995)", "Men in Black (1997)", "Toy Story (1995)"]
    attrs = [
        ("Animation", "Children's", "Comedy"),
        ("Action", "Adventure", "Sci-Fi"),
        ("Action", "Comedy", "Sci-Fi"),
        ("Animation", "Children's", "Comedy"),
    ]
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.2, 1.0], [1.0, 0.05]], np.float32)
    texts = [f"{t}. {', '.join(a)}" for t, a in zip(titles, attrs, strict=True)]
    ex = Explainer(vectors, texts, titles, attributes=attrs)
    e = ex.explain(2, history=[0, 1], variant=0)
    assert [i for i, _, _ in e.because] == [1]
    assert set(e.shared) == set(attrs[2]) & set(attrs[1]) == {"Action", "Sci-Fi"}
    assert "comedy" not in e.text.lower() and "Space Jam" not in e.text
    assert e.text == "Recommended because you liked Waterworld: both are action and sci-fi."
    assert e.kind == "shared"
    e = ex.explain(3, history=[1, 0], variant=0)
    assert [i for i, _, _ in e.because] == [0] and set(e.shared) == {"Animation", "Children's", "Comedy"}
    assert ex.check(e, [1, 0]) is None


def test_a_near_tie_names_the_item_that_shares_something():
    titles = ["Kids in the Hall (1996)", "Blade Runner (1982)", "Twelve Monkeys (1995)"]
    attrs = [("Comedy",), ("Film-Noir", "Sci-Fi"), ("Drama", "Sci-Fi")]
    vectors = np.array([[1.0, 0.1], [0.9, 0.3], [1.0, 0.2]], np.float32)
    ex = Explainer(vectors, titles, titles, attributes=attrs, half_life=None)
    e = ex.explain(2, history=[1, 0])
    assert [i for i, _, _ in e.because] == [1] and e.shared == ("Sci-Fi",)
    # without a near tie, the most responsible item is named even when it shares nothing
    strict = Explainer(vectors, titles, titles, attributes=attrs, half_life=None, prefer_ratio=1.0)
    e = strict.explain(2, history=[1, 0], variant=0)
    assert [i for i, _, _ in e.because] == [0] and e.shared == () and e.kind == "plain"
    assert e.text == "Recommended because you liked Kids in the Hall."


def test_wording_varies_deterministically_and_titles_never_become_ids(toy):
    ex, texts, titles = toy
    a = [e.text for e in ex.explain_many([3, 1, 0], [0, 1, 3])]
    assert a == [e.text for e in ex.explain_many([3, 1, 0], [0, 1, 3])]  # deterministic
    assert len({t.split(" ")[0] for t in a}) == 3  # neighbours read differently
    assert ex.explain(3, [1]).text == ex.explain(3, [1]).text
    assert len({render("Star Wars", ["war"], variant=v) for v in range(4)}) == 4
    assert render(None, []) == "Recommended because it is popular with other users."
    # an item without a title is named by its text, never by its index
    untitled = Explainer(ex.item_vectors, texts, ["", *titles[1:]])
    e = untitled.explain(3, history=[0])
    assert e.because[0][0] == 0 and "Star Wars" in e.text and "item 0" not in e.text
    assert untitled.check(e, [0]) is None


def test_the_check_catches_ungrounded_explanations(toy):
    from dataclasses import replace

    ex, _, titles = toy
    e = ex.explain(3, history=[0, 2, 1], variant=0)
    assert ex.check(e, [0, 2, 1]) is None
    assert "not in the history" in ex.check(e, [0, 2])
    fake = replace(e, shared=("romance",), template_text=e.text + " romance")
    want = "'romance' is not shared by 'Return of the Jedi' and the recommended item"
    assert ex.check(fake, [0, 2, 1]) == want
    other = replace(e, template_text=e.text + " Like When Harry Met Sally.")
    assert ex.check(other, [0, 2, 1]) == "the sentence names 'When Harry Met Sally', which it does not credit"
    two = replace(e, because=e.because + ((0, titles[0], 0.5),))
    assert "one is expected" in ex.check(two, [0, 2, 1])


def test_collaborative_wording_when_the_model_weights_name_an_item_sharing_nothing(toy):
    ex, _, titles = toy

    class ItemItem:
        weights = np.zeros((5, 5), np.float32)

    model = ItemItem()
    model.weights[4, 3] = 0.9  # When Harry Met Sally drives Empire Strikes Back: nothing in common but users
    texts = [*ex.item_texts[:4], "When Harry Met Sally. Comedy"]
    explainer = Explainer.for_model(model, titles, texts)
    e = explainer.explain(3, history=[4], variant=0)
    assert e.kind == "collaborative" and e.text == "People who liked When Harry Met Sally also liked this."


def test_catalog_attributes_reads_lists_and_pipes():
    import pandas as pd

    from lmrec.data import ItemTable

    frame = pd.DataFrame(
        {
            "item_id": ["a", "b", "c"],
            "genres": [["Drama", "War"], "Comedy|Drama", None],
            "brand": ["x", "x", "y"],
        }
    )
    table = ItemTable(frame, categorical_fields=("genres", "brand"))
    assert catalog_attributes(table) == [("Drama", "War", "x"), ("Comedy", "Drama", "x"), ("y",)]
    assert catalog_attributes(table, ["genres"])[1] == ("Comedy", "Drama")


def test_chinese_template_and_character_terms():
    want = "推荐理由：你喜欢《霸王别姬》（共同点：年代、剧情）。"
    assert render("霸王别姬", ["年代", "剧情"], "zh") == want
    assert render("星际穿越", [], "zh") == "推荐理由：你喜欢《星际穿越》。"
    assert render("星际穿越", [], "zh", variant=1) == "因为你喜欢《星际穿越》，为你推荐。"
    vectors = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], np.float32)
    texts = ["流浪地球。科幻、冒险。太空救援", "星际穿越。科幻、剧情。太空探索", "甜蜜蜜。爱情、剧情"]
    ex = Explainer(vectors, texts, ["流浪地球", "星际穿越", "甜蜜蜜"])
    assert ex.language == "zh"
    e = ex.explain(0, history=[2, 1], variant=0)
    assert [i for i, _, _ in e.because] == [1]
    assert set(e.shared) == {"科幻", "太空"}
    assert e.text.startswith("推荐理由：你喜欢《星际穿越》（共同点：")
    assert ex.check(e, [2, 1]) is None
    # every Chinese wording names the liked title in 《》 and is Chinese (no English words)
    for v in range(4):
        text = ex.explain(0, history=[2, 1], variant=v).text
        assert "《星际穿越》" in text and not re.search("[A-Za-z]", text)


def test_short_title():
    assert short_title("Silence of the Lambs, The (1991)") == "The Silence of the Lambs"
    assert short_title("Star Wars (1977)") == "Star Wars"


def test_generative_paraphrase_falls_back_when_it_invents_a_title(toy):
    ex, _, titles = toy
    e = ex.explain(3, history=[0, 1])
    assert [i for i, _, _ in e.because] == [1]
    seen = []

    def inventing(prompt: str) -> str:
        seen.append(prompt)
        return 'Since you enjoyed "Return of the Jedi" and "The Phantom Menace", try this one!'

    out = paraphrase(e, inventing, titles)
    assert "Return of the Jedi" in seen[0]
    assert not out.generated and out.text == e.template_text
    assert "phantom menace" in out.notes[0]

    def naming_other(prompt: str) -> str:
        return "You liked Star Wars, so here is When Harry Met Sally."

    assert not paraphrase(e, naming_other, titles).generated

    def broken(prompt: str) -> str:
        raise RuntimeError("model missing")

    assert paraphrase(e, broken, titles).text == e.template_text

    def faithful(prompt: str) -> str:
        return 'Fans of "Return of the Jedi" will love more space opera battles here.'

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
