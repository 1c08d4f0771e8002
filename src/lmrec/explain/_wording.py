"""The sentences of template explanations, in English and Chinese, several per situation.

Ten recommendations that all read "Recommended because you liked X" stop being read, so each situation has a
few wordings and one is picked deterministically (:func:`variant_for`): the same item explained from the
same history item always reads the same, neighbouring items usually differently. Every wording names exactly
one history title (the single most responsible one) and, where given, only the attributes it really shares
with the recommended item.

Situations: ``shared`` attributes (categories such as genres, stated as what the item *is*), ``terms``
(words found in both texts, stated as what they *mention*), ``plain`` (nothing shared, attributed by text
similarity), ``collaborative`` (nothing shared, attributed by the model's own co-occurrence weights: "people
who liked X also liked this" is then literally true) and ``none`` (no history item points at the item).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "shared": (
            "Recommended because you liked {liked}: both are {shared}.",
            "You liked {liked}; this one is {shared} too.",
            "More {shared}, like {liked}, which you liked.",
            "Shares {shared} with {liked}, which you liked.",
        ),
        "terms": (
            "Recommended because you liked {liked} (shared: {shared}).",
            "You liked {liked}; this one also mentions {shared}.",
            "Like {liked}, which you liked, it is about {shared}.",
            "Shares {shared} with {liked}, which you liked.",
        ),
        "plain": (
            "Recommended because you liked {liked}.",
            "Picked because you liked {liked}.",
            "You liked {liked}, so this may suit you too.",
        ),
        "collaborative": (
            "People who liked {liked} also liked this.",
            "Often liked by people who liked {liked}.",
            "Recommended because you liked {liked}: people who liked it liked this too.",
        ),
        "none": ("Recommended because it is popular with other users.",),
    },
    "zh": {
        "shared": (
            "推荐理由：你喜欢《{liked}》（共同点：{shared}）。",
            "和你喜欢的《{liked}》一样，它也是{shared}。",
            "你喜欢《{liked}》，它同样是{shared}。",
        ),
        "terms": (
            "推荐理由：你喜欢《{liked}》（共同点：{shared}）。",
            "它和你喜欢的《{liked}》都涉及{shared}。",
            "你喜欢《{liked}》，它同样有{shared}。",
        ),
        "plain": (
            "推荐理由：你喜欢《{liked}》。",
            "因为你喜欢《{liked}》，为你推荐。",
            "你喜欢《{liked}》，也许也会喜欢它。",
        ),
        "collaborative": (
            "喜欢《{liked}》的人也喜欢它。",
            "推荐理由：喜欢《{liked}》的用户也常选它。",
        ),
        "none": ("推荐理由：很多用户喜欢它。",),
    },
}


def variant_for(item: int, because: int | None) -> int:
    """A stable wording number for explaining ``item`` from history item ``because`` (same in every process,
    unlike ``hash``)."""
    return zlib.crc32(f"{int(item)}|{because}".encode())


def join_list(words: Sequence[str], language: str) -> str:
    """``a``, ``a and b``, ``a, b and c`` (English) or ``a、b、c`` (Chinese)."""
    words = [str(w) for w in words]
    if language == "zh":
        return "、".join(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def sentence(
    situation: str, language: str, liked: str | None, shared: Sequence[str] = (), variant: int = 0
) -> str:
    """The sentence for ``situation`` (see the module docstring) in ``language`` ("en" or "zh"; anything
    else reads English), wording number ``variant`` (any integer, taken modulo the number of wordings)."""
    lang = language if language in TEMPLATES else "en"
    if liked is None:
        situation = "none"
    options = TEMPLATES[lang][situation]
    shown = [s.lower() for s in shared] if lang == "en" else list(shared)
    return options[variant % len(options)].format(liked=liked, shared=join_list(shown, lang))
