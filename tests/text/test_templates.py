"""Item/user text templates and CJK detection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmrec.data import Interactions, ItemTable
from lmrec.errors import ConfigError, DataError
from lmrec.text.templates import Template, clip_chars, is_mostly_cjk, item_texts, template_for, user_texts

AMAZON = "{title}. {categories}. {brand}. {description:200}"


def test_render_drops_empty_fields_with_their_separator() -> None:
    t = Template.parse(AMAZON)
    row = {
        "title": "Hard Start Kit.",
        "categories": ["Industrial", "Capacitors"],
        "brand": None,
        "description": "Relay/capacitor kit.   Increases   starting torque.",
    }
    assert (
        t.render(row)
        == "Hard Start Kit. Industrial, Capacitors. Relay/capacitor kit. Increases starting torque."
    )
    assert t.render({"brand": "Stanley"}) == "Stanley"
    assert t.render({"title": float("nan")}) == ""
    assert Template.parse("Movie: {name}!").render({"name": "Alien"}) == "Movie: Alien!"


def test_field_max_chars_cuts_at_a_word() -> None:
    t = Template.parse("{title}: {description:20}")
    assert t.render({"title": "T", "description": "one two three four five six"}) == "T: one two three four"
    assert clip_chars("abcdefghij", 4) == "abcd"  # no space near the end: hard cut
    assert len(clip_chars("x " * 500, 200)) <= 200


@pytest.mark.parametrize("bad", ["no placeholders", "{title", "{title:0}", "{ti tle}"])
def test_bad_templates_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError):
        Template.parse(bad)


def test_item_texts_default_builtin_and_missing_field() -> None:
    frame = pd.DataFrame(
        {
            "item_id": ["a", "b"],
            "title": ["Pen", "Ruler"],
            "brand": ["Bic", ""],
            "categories": [["Office"], []],
            "description": ["Blue ink", None],
        }
    )
    items = ItemTable(frame, text_fields=("title", "brand"))
    assert item_texts(items) == ["Pen. Bic", "Ruler"]
    assert item_texts(items, dataset="amazon-scientific") == ["Pen. Office. Bic. Blue ink", "Ruler"]
    assert item_texts(items, "{brand} {title}") == ["Bic Pen", "Ruler"]
    with pytest.raises(DataError, match="field 'price'"):
        item_texts(items, "{title} {price}")
    # a built-in template whose fields the table lacks falls back to the text fields
    assert item_texts(items, dataset="douban-movies-zh") == ["Pen. Bic", "Ruler"]
    assert template_for("amazon-beauty") == AMAZON and template_for("unknown") is None


def test_user_texts_join_each_users_texts_newest_first() -> None:
    inter = Interactions(
        user=np.array([0, 1, 0, 0]),
        item=np.array([0, 1, 1, 0]),
        timestamp=np.array([10, 5, 30, 20]),
        n_users=3,
        n_items=2,
        text=np.array(["old review", "only one", "newest", None], dtype=object),
    )
    assert user_texts(inter) == ["newest | old review", "only one", ""]
    assert user_texts(inter, newest_first=False, sep=" / ") == ["old review / newest", "only one", ""]
    no_text = Interactions(
        user=np.array([0]), item=np.array([0]), timestamp=np.array([1]), n_users=1, n_items=1
    )
    with pytest.raises(DataError, match="no text"):
        user_texts(no_text)


def test_is_mostly_cjk() -> None:
    assert is_mostly_cjk(["流浪地球", "星际穿越 Interstellar", "千与千寻"])
    assert not is_mostly_cjk(["Stanley staples", "流浪地球", "Lab beaker 500 ml"])
    assert not is_mostly_cjk([None, "", "123"])
    assert is_mostly_cjk(["映画のタイトル", "영화 제목"])
