"""Multi-Domain Sentiment Dataset (Blitzer, Dredze & Pereira, ACL 2007).

One ``{domain}_positive.review`` and one ``{domain}_negative.review`` file per domain, in pseudo-XML:
``<review>`` blocks holding ``<asin>``, ``<product_name>``, ``<rating>``, ``<title>``, ``<date>``
(``July 1, 2006``), ``<reviewer>``, ``<review_text>`` ... They are not well-formed (bare ``&``, stray markup
inside texts), so fields are cut out with regexes instead of an XML parser; known entities are decoded.
The positive file holds 4-5 star reviews (label 1), the negative file 1-2 stars (label 0).

:func:`load_reviews` gives the labelled review table for sentiment work; :func:`load` the same reviews as a
:class:`Dataset` (users = reviewers, items = products, rating = stars, text = title + review).
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data._build import build_dataset
from lmrec.data._dataset import Dataset
from lmrec.data.loaders._read import read_text_lenient
from lmrec.errors import DataError

DOMAINS = ("books", "dvd", "electronics", "kitchen")
_BLOCK = re.compile(r"<review>(.*?)(?=</review>|<review>|\Z)", re.S)
_FIELDS = (
    "unique_id",
    "asin",
    "product_name",
    "helpful",
    "rating",
    "title",
    "date",
    "reviewer",
    "reviewer_location",
    "review_text",
)
_FIELD_RE = {f: re.compile(rf"<{f}>(.*?)</{f}>", re.S) for f in _FIELDS}
# a field whose closing tag is lost (truncated block) runs to the next field tag or the end of the block
_NEXT_FIELD = "|".join(_FIELDS)
_OPEN_FIELD_RE = {f: re.compile(rf"<{f}>(.*?)(?=</?(?:{_NEXT_FIELD})>|\Z)", re.S) for f in _FIELDS}
# HTML formatting that leaked into some titles/texts; other "<" uses ("in <2 days", "<whatever>") are text
_HTML_TAG = re.compile(r"</?(?:b|i|u|em|strong|br|p|a|span|div|font)(?:\s[^<>]*)?/?>", re.I)
_SPACE = re.compile(r"[ \t\r\f\v]+")


def load_reviews(folder: str | Path, domain: str) -> pd.DataFrame:
    """All labelled reviews of ``domain``: positives first, then negatives, each in file order.

    Columns: ``text`` (review body), ``rating`` (float stars), ``label`` (1 positive / 0 negative), ``title``,
    ``product`` (product name), ``asin``, ``reviewer``, ``date`` (seconds since epoch, -1 when missing),
    ``helpful``, ``domain``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("no such folder", file=folder)
    frames = []
    for polarity, label in (("positive", 1), ("negative", 0)):
        f = folder / f"{domain}_{polarity}.review"
        if not f.is_file():
            found = ", ".join(available_domains(folder)) or "none"
            raise DataError(f"no {f.name} for domain {domain!r} (domains here: {found})", file=folder)
        frame = _parse_file(f)
        frame["label"] = np.int8(label)
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["domain"] = domain
    cols = ["text", "rating", "label", "title", "product", "asin", "reviewer", "date", "helpful", "domain"]
    return out[cols]


def available_domains(folder: str | Path) -> list[str]:
    """Domains with both a positive and a negative file in ``folder``, sorted."""
    folder = Path(folder)
    pos = {p.name[: -len("_positive.review")] for p in folder.glob("*_positive.review")}
    neg = {p.name[: -len("_negative.review")] for p in folder.glob("*_negative.review")}
    return sorted(pos & neg)


def load(
    path: Path,
    *,
    format: str = "mdsd",
    domain: str | None = None,
    name: str | None = None,
) -> Dataset:
    """The reviews of one ``domain`` (books / dvd / electronics / kitchen), or of every domain found in the
    folder when ``domain`` is None, as a :class:`Dataset`.

    Users are reviewer names (a review without a reviewer becomes its own user ``anonymous:<unique_id>``);
    items are ASINs with ``title`` = product name; ``Interactions.text`` is the review title and body;
    timestamps are the review dates (missing dates become 0). The item table also carries ``domain``.
    """
    path = Path(path)
    folder = path.parent if path.is_file() else path
    domains = [domain] if domain is not None else available_domains(folder)
    if not domains:
        raise DataError("no *_positive.review / *_negative.review pairs found", file=folder)
    reviews = pd.concat([load_reviews(folder, d) for d in domains], ignore_index=True)
    events = pd.DataFrame(
        {
            "user": reviews["reviewer"],
            "item": reviews["asin"],
            "timestamp": reviews["date"].clip(lower=0),
            "rating": reviews["rating"],
            "text": [_join(t, b) for t, b in zip(reviews["title"], reviews["text"], strict=True)],
        }
    )
    # one row per product: the first name seen wins (names differ slightly between reviews of an ASIN)
    items = reviews.drop_duplicates("asin")[["asin", "product", "domain"]].rename(
        columns={"asin": "item_id", "product": "title"}
    )
    label = domain if domain is not None else "mdsd"
    return build_dataset(
        name or (f"mdsd-{domain}" if domain is not None else "mdsd"),
        label,
        events,
        items,
        source=folder,
        item_source=folder,
        text_fields=("title",),
        categorical_fields=("domain",),
        meta={"format": format, "domains": domains, "label": reviews["label"].to_numpy(np.int8)},
    )


def _join(title: str, body: str) -> str:
    if title and body:
        return title + (" " if title[-1] in ".!?" else ". ") + body
    return title or body


def _clean(raw: str) -> str:
    # html.unescape leaves a bare "&" alone, and the sources contain both "&amp;" and bare "&"
    text = _HTML_TAG.sub("", html.unescape(raw))
    lines = [_SPACE.sub(" ", line).strip() for line in text.strip().splitlines()]
    return "\n".join(line for line in lines if line)


def _parse_file(path: Path) -> pd.DataFrame:
    text = read_text_lenient(path)
    rows: list[dict[str, Any]] = []
    line, pos = 1, 0
    for m in _BLOCK.finditer(text):
        line += text.count("\n", pos, m.start())  # incremental: counting from 0 each time is quadratic
        pos = m.start()
        block = m.group(1)
        rec = {}
        for f, rx in _FIELD_RE.items():
            hit = rx.search(block) or _OPEN_FIELD_RE[f].search(block)
            rec[f] = _clean(hit.group(1)) if hit else ""
        if not rec["asin"]:
            raise DataError("review without <asin>", file=path, line=line, field="asin")
        try:
            rating = float(rec["rating"])
        except ValueError:
            raise DataError(
                f"rating {rec['rating']!r} is not a number", file=path, line=line, field="rating"
            ) from None
        reviewer = rec["reviewer"] or f"anonymous:{rec['unique_id'] or rec['asin'] + ':' + str(line)}"
        rows.append(
            {
                "text": rec["review_text"],
                "rating": rating,
                "title": rec["title"],
                "product": rec["product_name"],
                "asin": rec["asin"],
                "reviewer": reviewer,
                "date_raw": rec["date"],
                "helpful": rec["helpful"],
            }
        )
    if not rows:
        raise DataError("no <review> blocks found", file=path)
    frame = pd.DataFrame(rows)
    dates = pd.to_datetime(frame.pop("date_raw"), format="%B %d, %Y", errors="coerce")
    seconds = dates.to_numpy("datetime64[s]").astype(np.int64)
    frame["date"] = np.where(dates.isna().to_numpy(), -1, seconds)
    return frame
