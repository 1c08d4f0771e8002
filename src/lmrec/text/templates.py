"""Item and user text: templates that turn table rows into the strings an encoder sees.

A template is a plain string with ``{field}`` or ``{field:N}`` placeholders (``N`` = keep at most N characters
of that field, cut at a word boundary when one is near). Literal text before a placeholder belongs to it: when
the field is empty the placeholder *and the literal text before it* are dropped, so
``"{title}. {brand}. {description:200}"`` with no brand renders ``"Title. Description"``, not
``"Title. . Description"``.
Separators left dangling at the start are stripped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lmrec.data import Interactions, ItemTable
from lmrec.errors import ConfigError, DataError

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(\d+))?\}")
_LEADING_SEPARATORS = " \t\n.,;:|-/"
_END_PUNCT = ".,;:!?。，；："

# Per-dataset defaults, chosen by the dataset name's prefix. Fields missing from a table are a user error for
# a template the user gave, but a built-in template falls back to the table's own text fields instead.
DATASET_TEMPLATES: dict[str, str] = {
    "amazon": "{title}. {categories}. {brand}. {description:200}",
    "douban": "{name}. {genres}. {regions}. {directors}. {tags}. {storyline:200}",
    "ml-100k": "{title}. {genres}",
    "mind": "{category}. {subcategory}. {title}. {abstract:200}",
}


@dataclass(frozen=True)
class Template:
    """A parsed item-text template."""

    source: str
    prefix: str
    parts: tuple[tuple[str, str, int | None], ...]  # (literal before, field, max chars)
    suffix: str

    @classmethod
    def parse(cls, source: str) -> Template:
        """Parse ``source``; a template without any placeholder is a :class:`ConfigError`."""
        if not isinstance(source, str):
            raise ConfigError(f"template must be a string, got {type(source).__name__}")
        parts: list[tuple[str, str, int | None]] = []
        pos = 0
        for m in _PLACEHOLDER.finditer(source):
            literal = source[pos : m.start()]
            limit = int(m.group(2)) if m.group(2) else None
            if limit == 0:
                raise ConfigError(f"template {source!r}: field '{m.group(1)}' has max length 0")
            parts.append((literal, m.group(1), limit))
            pos = m.end()
        if not parts:
            raise ConfigError(f"template {source!r} has no {{field}} placeholder")
        leftover = _PLACEHOLDER.sub("", source)
        if "{" in leftover or "}" in leftover:
            raise ConfigError(f"template {source!r}: malformed placeholder (use {{field}} or {{field:N}})")
        prefix, first_field, first_limit = parts[0]
        return cls(source, prefix, ((("", first_field, first_limit),) + tuple(parts[1:])), source[pos:])

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(p[1] for p in self.parts)

    def render(self, values: dict[str, Any]) -> str:
        """The text for one row (``values`` maps field -> value; missing or empty values are dropped)."""
        out: list[str] = []
        for literal, field, limit in self.parts:
            text = as_text(values.get(field))
            if not text:
                continue
            if limit is not None:
                text = clip_chars(text, limit)
            if out and out[-1][-1:] in _END_PUNCT and literal.lstrip()[:1] in _END_PUNCT:
                # "Title." + ". " + "Brand" -> "Title. Brand", not "Title.. Brand"
                literal = literal.lstrip()[1:]
            out.append((literal if out else "") + text)
        if not out:
            return ""
        body = "".join(out).lstrip(_LEADING_SEPARATORS)
        return f"{self.prefix}{body}{self.suffix}".strip()


def as_text(value: Any) -> str:
    """A cell as clean text: None/NaN -> "", lists joined with ", ", whitespace collapsed."""
    if value is None:
        return ""
    if isinstance(value, float) and np.isnan(value):
        return ""
    if isinstance(value, (list, tuple, np.ndarray)):
        return ", ".join(s for s in (as_text(v) for v in value) if s)
    return " ".join(str(value).split())


def clip_chars(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at the last space in the final fifth when there is one."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space >= limit * 4 // 5:
        cut = cut[:space]
    return cut.rstrip(" ,;:-")


def template_for(dataset_name: str | None) -> str | None:
    """The built-in template of a dataset (by name prefix), or None."""
    if not dataset_name:
        return None
    name = dataset_name.lower()
    for prefix, tpl in DATASET_TEMPLATES.items():
        if name.startswith(prefix):
            return tpl
    return None


def item_texts(
    items: ItemTable, template: str | Template | None = None, *, dataset: str | None = None
) -> list[str]:
    """One text per item in dense index order.

    ``template=None``: the built-in template of ``dataset`` when it names fields the table has, else the
    table's ``text_fields`` joined with ". " (``ItemTable.texts()``). A template naming a missing column
    raises a one-line :class:`DataError`.
    """
    if template is None:
        builtin = template_for(dataset)
        if builtin is not None:
            tpl = Template.parse(builtin)
            if all(f in items.frame.columns for f in tpl.fields):
                return _render_all(items, tpl)
        return [" ".join(t.split()) for t in items.texts()]
    tpl = template if isinstance(template, Template) else Template.parse(template)
    missing = [f for f in tpl.fields if f not in items.frame.columns]
    if missing:
        raise DataError(
            f"template field not in the item table (columns: {', '.join(map(str, items.frame.columns))})",
            field=missing[0],
        )
    return _render_all(items, tpl)


def _render_all(items: ItemTable, tpl: Template) -> list[str]:
    cols = {f: items.frame[f].tolist() for f in dict.fromkeys(tpl.fields)}
    return [tpl.render({f: cols[f][i] for f in cols}) for i in range(len(items))]


def user_texts(
    interactions: Interactions, *, max_chars: int | None = 2000, sep: str = " | ", newest_first: bool = True
) -> list[str]:
    """One text per user: the user's event texts (reviews, comments, queries) joined, in dense user order.

    Users without any text get "". ``newest_first`` puts the latest texts first so that truncation (by
    ``max_chars`` here, or by the encoder's token limit) keeps the most recent ones.
    """
    if interactions.text is None:
        raise DataError("interactions have no text column (reviews/comments/queries)", field="text")
    order = interactions.time_order()
    users = interactions.user[order]
    texts = interactions.text[order]
    bounds = np.searchsorted(users, np.arange(interactions.n_users + 1))
    out: list[str] = []
    for u in range(interactions.n_users):
        own = [as_text(t) for t in texts[bounds[u] : bounds[u + 1]]]
        own = [t for t in own if t]
        if newest_first:
            own.reverse()
        joined = sep.join(own)
        out.append(clip_chars(joined, max_chars) if max_chars else joined)
    return out


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0x3400 <= code <= 0x4DBF  # extension A
        or 0x3040 <= code <= 0x30FF  # hiragana, katakana
        or 0xAC00 <= code <= 0xD7AF  # hangul syllables
        or 0xF900 <= code <= 0xFAFF  # compatibility ideographs
        or 0x20000 <= code <= 0x2FA1F  # extensions B+
    )


def cjk_fraction(text: str) -> float:
    """Share of CJK characters among the letters of ``text`` (0 when it has none)."""
    letters = [c for c in text if c.isalpha() or _is_cjk(c)]
    if not letters:
        return 0.0
    return sum(1 for c in letters if _is_cjk(c)) / len(letters)


def is_mostly_cjk(texts: Sequence[str | None], *, threshold: float = 0.3, sample: int = 500) -> bool:
    """Do most of these texts (an evenly spaced sample) have at least ``threshold`` CJK letters?

    Callers use it to pick the multilingual encoder for Chinese/Japanese/Korean catalogs (e.g. Douban).
    """
    texts = [t for t in texts if t]
    if not texts:
        return False
    step = max(1, len(texts) // sample)
    picked = [unicodedata.normalize("NFKC", str(t)) for t in texts[::step][:sample]]
    return sum(1 for t in picked if cjk_fraction(t) >= threshold) > len(picked) / 2
