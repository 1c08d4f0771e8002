"""A text model's encoder follows the catalog's language, as `lmrec encode` does; Douban titles are titles;
items with interactions but no text are reported (issue 18, finding 11)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmrec.data import Dataset, Interactions, ItemTable
from lmrec.errors import LmrecWarning
from lmrec.models.content import ContentRecommender


def _catalog(titles: list[str]) -> Dataset:
    n = len(titles)
    users = np.repeat(np.arange(4), 3)
    items = np.arange(12) % n
    inter = Interactions(
        user=users, item=items, timestamp=np.arange(12), n_users=4, n_items=n, rating=np.ones(12, np.float32)
    )
    frame = pd.DataFrame({"item_id": [f"m{i}" for i in range(n)], "title": titles})
    return Dataset("t", "t", inter, ItemTable(frame, text_fields=("title",)), np.array(list("abcd")),
                   frame["item_id"].to_numpy())  # fmt: skip


def test_the_default_encoder_follows_the_catalog_language(tmp_path, monkeypatch):
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path))
    zh = _catalog(
        ["星际穿越太空冒险", "爱情喜剧电影", "科幻电影外星人", "家庭动画片", "战争历史片", "悬疑犯罪片"]
    )
    model = ContentRecommender().fit(zh.interactions, items=zh.items)
    assert model.config.encoder == "use-multilingual" and model.vector_ref.encoder == "use-multilingual"
    en = _catalog(
        ["space adventure", "romantic comedy", "alien invasion", "family cartoon", "war film", "crime"]
    )
    model = ContentRecommender().fit(en.interactions, items=en.items)
    assert model.config.encoder == "minilm"
    # an explicit choice is kept
    model = ContentRecommender(encoder="minilm").fit(zh.interactions, items=zh.items)
    assert model.config.encoder == "minilm"


def test_rated_items_without_text_are_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path))
    data = _catalog(["space adventure", "", "alien invasion", "", "war film", "crime"])
    with pytest.warns(LmrecWarning, match="2 of 6 items with interactions"):
        ContentRecommender(encoder="minilm").fit(data.interactions, items=data.items)


def test_douban_titles_are_titles_and_a_chinese_query_finds_science_fiction(shared_data, monkeypatch):
    from lmrec.data import load_dataset

    monkeypatch.setenv("LMREC_DATA", str(shared_data))
    data = load_dataset("douban-movies-zh")
    titles = data.item_titles()
    assert titles[:2] == ["情定河州", "我不是李小龙"], titles[:2]
    assert sum(t == str(i) for t, i in zip(titles, data.item_ids, strict=True)) < len(titles) // 5
    with pytest.warns(LmrecWarning, match="have no text"):  # the comments name movies missing from the table
        model = ContentRecommender().fit(data.interactions, items=data.items)
    assert model.config.encoder == "use-multilingual"
    top = np.argsort(-model.score_text("科幻电影"))[:8]
    genres = data.items.frame["genres"]
    assert sum("科幻" in list(genres.iloc[i]) for i in top) >= 6  # MiniLM found 1 of 8
