"""Chinese retrieval sanity with the multilingual encoder on real Douban movies."""

from __future__ import annotations

import numpy as np

from lmrec.text.templates import DATASET_TEMPLATES, Template, is_mostly_cjk


def _movie_texts(movies) -> list[str]:
    tpl = Template.parse(DATASET_TEMPLATES["douban"])
    rows = movies.rename(columns=str.lower).to_dict("records")
    for r in rows:
        for f in ("genres", "regions", "directors", "tags"):
            r[f] = r[f].replace("/", ", ")
    return [tpl.render(r) for r in rows]


def test_chinese_query_retrieves_science_fiction(use_multilingual, douban_movies) -> None:
    texts = _movie_texts(douban_movies)
    assert is_mostly_cjk(texts)
    items = use_multilingual.encode(texts)
    for query in ("科幻电影", "science fiction movie"):  # Chinese query, and English query over Chinese texts
        q = use_multilingual.encode([query])[0]
        top = np.argsort(-(items @ q))[:10]
        hits = int(douban_movies["scifi"].to_numpy()[top].sum())
        assert hits >= 5, (query, hits)  # base rate is 1/6: about 2 of 10 by chance


def test_chinese_query_matches_english_title(use_multilingual) -> None:
    query, match, others = (
        "太空探险科幻电影",
        "Interstellar: a science fiction film about space travel",
        [
            "A romantic comedy about a wedding in Paris",
            "A documentary about traditional cooking",
        ],
    )
    q, m, *o = use_multilingual.encode([query, match, *others])
    assert q @ m > max(q @ x for x in o) + 0.1


def test_english_catalog_is_not_cjk(scientific_texts) -> None:
    assert not is_mostly_cjk(scientific_texts)
