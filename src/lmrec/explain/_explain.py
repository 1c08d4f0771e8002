"""Grounded explanations: which history items made a recommendation, and which words they share with it.

Attribution: history item ``j`` contributes ``w_j * max(0, cos(v_j, v_item))`` to recommended item ``item``,
where ``w_j`` is a recency weight (the newest item weighs 1, halving every ``half_life`` steps back, as the
``content`` model's profile does) or, when the model exposes it, the attention weight of position ``j``. When
the model's score is itself a sum over the history (EASE, ItemKNN), its own terms are the contributions.
The single most responsible history item is named (among near-ties, one that shares something with the
recommended item). What it shares is exactly the intersection of the two items' catalog attributes (e.g.
genres) when the catalog has them, else the terms (English words and two-word phrases without stopwords;
Chinese character 2-3-grams) present in both texts, rarest in the catalog first; never a union over several
liked items. The sentence is one of several wordings (:mod:`lmrec.explain._wording`), in the catalog's
language.

Every name and word in a template explanation is therefore real: the title of an item in the user's history
and attributes both items have; :meth:`Explainer.check` verifies exactly that.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from lmrec.errors import DataError
from lmrec.explain._wording import sentence, variant_for
from lmrec.feedback.terms import drop_contained, is_cjk_text, terms_of


@dataclass(frozen=True)
class Explanation:
    """One recommendation's explanation.

    ``because``: the named (history item, title, contribution), at most one; ``shared``: what that item shares
    with the recommended one; ``kind``: the situation worded (shared, terms, plain, collaborative, none);
    ``text``: the rendered sentence; ``template_text``: the grounded template sentence (equal to ``text``
    unless a generated paraphrase was accepted, which sets ``generated``).
    """

    item: int
    title: str
    because: tuple[tuple[int, str, float], ...]
    shared: tuple[str, ...]
    text: str
    language: str = "en"
    template_text: str = ""
    generated: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    kind: str = ""

    def display(self) -> str:
        """The sentence for people, a generated one clearly marked as such."""
        if self.generated:
            mark = "[AI 生成] " if self.language == "zh" else "[generated] "
            return mark + self.text
        return self.text

    def to_dict(self) -> dict:
        return {
            "item": self.item,
            "title": self.title,
            "text": self.display(),
            "template": self.template_text,
            "generated": self.generated,
            "shared": list(self.shared),
            "kind": self.kind,
            "because": [{"item": i, "title": t, "contribution": round(c, 4)} for i, t, c in self.because],
        }


def attribute(
    item: int,
    history: Sequence[int],
    item_vectors: np.ndarray,
    *,
    top: int = 2,
    half_life: float | None = 5.0,
    attention: Sequence[float] | None = None,
    contributions: Sequence[float] | None = None,
    min_ratio: float = 0.5,
) -> list[tuple[int, float]]:
    """The ``top`` history items that contributed most to ``item`` (see the module docstring), as
    (history item, contribution) best first. Items contributing less than ``min_ratio`` times the best one
    (and items with no positive contribution) are left out: a weak second reason only blurs the first."""
    h = np.asarray(history, dtype=np.int64)
    if not len(h):
        return []
    n = len(item_vectors)
    if h.min() < 0 or h.max() >= n or not 0 <= int(item) < n:
        raise DataError(f"item index out of range [0, {n})", field="item")
    vh = item_vectors[h] / np.maximum(np.linalg.norm(item_vectors[h], axis=1, keepdims=True), 1e-12)
    vi = item_vectors[int(item)] / max(float(np.linalg.norm(item_vectors[int(item)])), 1e-12)
    sim = np.maximum(vh @ vi, 0.0)
    if contributions is not None:
        # the model's own additive attribution (e.g. EASE's B[j, item]): used as is
        contrib = np.asarray(contributions, dtype=np.float64)
        if len(contrib) != len(h):
            raise DataError(f"{len(contrib)} contributions for a history of {len(h)}", field="contributions")
        return _best(h, contrib, top, min_ratio)
    if attention is not None:
        w = np.asarray(attention, dtype=np.float64)
        if len(w) != len(h):
            raise DataError(f"{len(w)} attention weights for a history of {len(h)}", field="attention")
    elif half_life:
        w = 0.5 ** (np.arange(len(h))[::-1] / half_life)
    else:
        w = np.ones(len(h))
    return _best(h, w * sim, top, min_ratio)


def _best(h: np.ndarray, contrib: np.ndarray, top: int, min_ratio: float) -> list[tuple[int, float]]:
    best: dict[int, float] = {}
    for j in np.argsort(-contrib, kind="stable"):
        if contrib[j] <= 0 or contrib[j] < min_ratio * contrib.max():
            break
        best.setdefault(int(h[j]), float(contrib[j]))  # a repeated item keeps its best position
        if len(best) == top:
            break
    return list(best.items())


def model_contributions(model: object, history: Sequence[int], item: int) -> np.ndarray | None:
    """Per-history-item additive score contributions when the model's score is a sum over the history:
    EASE (``weights[j, item]``) and ItemKNN (``similarity[j, item]``); None for other models."""
    h = np.asarray(history, dtype=np.int64)
    weights = getattr(model, "weights", None)
    if isinstance(weights, np.ndarray) and weights.ndim == 2 and weights.shape[0] == weights.shape[1]:
        return weights[h, int(item)].astype(np.float64)
    sim = getattr(model, "similarity", None)
    if sim is not None and hasattr(sim, "tocsc"):
        return np.asarray(sim[h][:, int(item)].todense()).ravel().astype(np.float64)
    return None


def shared_terms(
    item_text: str,
    other_texts: Sequence[str],
    *,
    language: str | None = None,
    top: int = 3,
    document_frequency: Counter[str] | None = None,
    n_documents: int | None = None,
    exclude: Sequence[str] = (),
) -> list[str]:
    """Terms of ``item_text`` that also occur in ``other_texts``, best first: shared by more of the others,
    then rarer in the catalog (``document_frequency`` over ``n_documents`` texts), then longer. ``exclude``:
    terms never to show (e.g. words of the titles, which the sentence names anyway)."""
    lang = language or ("zh" if is_cjk_text(item_text) else "en")
    mine = set(terms_of(item_text, lang)) - set(exclude)
    if not mine:
        return []
    count: Counter[str] = Counter()
    for t in other_texts:
        count.update(mine & set(terms_of(t, lang)))
    if not count:
        return []

    def rarity(term: str) -> float:
        if document_frequency is None or not n_documents:
            return 0.0
        return math.log((1 + n_documents) / (1 + document_frequency.get(term, 0)))

    ranked = sorted(count, key=lambda t: (-count[t], -rarity(t), -len(t), t))
    return drop_contained(ranked)[:top]


_YEAR = re.compile(r"\s*\((\d{4}|\d{4}-\d{4}|[IVX]+)\)\s*$")


_ARTICLE = re.compile(r"^(.*), (The|A|An|Les|La|Le|L'|Il|Das|Der|Die|El)$")


def short_title(title: str) -> str:
    """A display title: no trailing "(1977)" year, and a MovieLens-style trailing article moved to the front
    ("Silence of the Lambs, The (1991)" -> "The Silence of the Lambs")."""
    t = _YEAR.sub("", str(title)).strip()
    m = _ARTICLE.match(t)
    if m:
        sep = "" if m.group(2).endswith("'") else " "
        t = f"{m.group(2)}{sep}{m.group(1)}"
    return t


def render(
    title: str | None,
    shared: Sequence[str] = (),
    language: str = "en",
    *,
    variant: int = 0,
    kind: str | None = None,
) -> str:
    """The template sentence naming one history ``title`` (None: no history item points at the item) and the
    ``shared`` attributes or terms, in English or Chinese, wording number ``variant``. ``kind``: "shared"
    (catalog attributes), "terms" (shared words; the default when ``shared`` is given), "plain" or
    "collaborative" (nothing shared; default "plain")."""
    if kind is None:
        kind = "terms" if shared else "plain"
    if kind in ("shared", "terms") and not shared:
        kind = "plain"
    liked = short_title(title) if title is not None else None
    return sentence(kind, language, liked, shared, variant)


def catalog_attributes(items: object, fields: Sequence[str] | None = None) -> list[tuple[str, ...]]:
    """Each item's categorical attributes (e.g. genres) from an :class:`lmrec.data.ItemTable`: the values of
    ``fields`` (default: its ``categorical_fields``), lists/tuples flattened and "a|b" strings split."""
    frame = items.frame
    names = list(fields if fields is not None else getattr(items, "categorical_fields", ()))
    out: list[tuple[str, ...]] = [() for _ in range(len(frame))]
    for name in names:
        if name not in frame.columns:
            raise DataError("no such item column", field=name)
        for i, value in enumerate(frame[name].tolist()):
            out[i] = out[i] + tuple(v for v in _values(value) if v not in out[i])
    return out


def _values(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split("|") if v.strip()]


class Explainer:
    """Explains recommendations over one catalog.

    ``item_vectors``: (n_items, dim) text vectors (any model's item vectors: the ``content`` model's
    ``vectors``, or ``lmrec.text.encode_items``); ``item_texts``: the text of each item (what the shared words
    come from); ``titles``: display names (an empty title reads as the start of the item's text, never as a
    number). ``attributes``: optional categorical attributes per item (e.g. genres, see
    :func:`catalog_attributes`); when given, the shared attributes are those instead of shared words.
    ``language``: "en", "zh" or None (detected from the titles/texts).

    Each explanation names the single most responsible history item (see :func:`attribute`); among the
    history items contributing at least ``prefer_ratio`` times as much as the best one, the first that
    shares something with the recommended item is named, so that a near-tie does not produce a pairing with
    nothing in common. The shared attributes are those of that one item only, never merged across items.
    """

    def __init__(
        self,
        item_vectors: np.ndarray,
        item_texts: Sequence[str],
        titles: Sequence[str],
        *,
        attributes: Sequence[Sequence[str]] | None = None,
        language: str | None = None,
        top_terms: int = 3,
        half_life: float | None = 20.0,
        hide_title_words: bool = True,
        prefer_ratio: float = 0.8,
    ) -> None:
        n = len(item_vectors)
        if len(item_texts) != n or len(titles) != n:
            what = f"{n} item vectors, {len(item_texts)} texts and {len(titles)} titles"
            raise DataError(f"{what}: one each needed")
        if attributes is not None and len(attributes) != n:
            raise DataError(
                f"{len(attributes)} attribute lists for {n} items: one each needed", field="attributes"
            )
        self.item_vectors = np.asarray(item_vectors, dtype=np.float32)
        self.item_texts = [str(t or "") for t in item_texts]
        self.titles = [str(t) if t is not None else "" for t in titles]
        self.attributes = (
            None if attributes is None else [tuple(str(a) for a in attrs) for attrs in attributes]
        )
        if language is None:
            sample = self.titles[:: max(1, n // 200)] or [""]
            language = "zh" if sum(is_cjk_text(t) for t in sample) > len(sample) / 2 else "en"
        self.language = language
        self.top_terms, self.half_life = top_terms, half_life
        self.hide_title_words, self.prefer_ratio = hide_title_words, prefer_ratio
        self.model: object | None = None
        self._terms = [set(terms_of(t, language)) for t in self.item_texts]
        self._df: Counter[str] = Counter()
        for s in self._terms:
            self._df.update(s)
        self._attr_df: Counter[str] = Counter()
        for attrs in self.attributes or ():
            self._attr_df.update(set(attrs))

    @classmethod
    def for_model(
        cls,
        model: object,
        titles: Sequence[str],
        item_texts: Sequence[str] | None = None,
        *,
        encoder: str = "auto",
        **options: object,
    ) -> Explainer:
        """An explainer over a fitted model's catalog: the model's own unit item ``vectors`` when it has them
        (``content``), else the item texts (default: the titles) encoded with ``encoder`` (cached)."""
        texts = list(item_texts) if item_texts is not None else [str(t) for t in titles]
        vectors = getattr(model, "vectors", None)
        if vectors is None or len(vectors) != len(texts):
            from lmrec.text import encode_texts

            vectors = encode_texts(texts, encoder=encoder)
        explainer = cls(np.asarray(vectors), texts, titles, **options)  # type: ignore[arg-type]
        explainer.model = model
        return explainer

    def display_title(self, i: int) -> str:
        """The name shown for item ``i``: its short title, else the first sentence of its text, else
        "item <i>" (only for an item with neither)."""
        title = self.titles[int(i)].strip()
        if title:
            return short_title(title)
        text = self.item_texts[int(i)].strip()
        if text:
            return text.split(". ")[0][:80]
        return f"item {int(i)}"

    def shared_with(self, item: int, other: int) -> tuple[str, ...]:
        """What ``item`` shares with ``other``: their common attributes (rarest in the catalog first) when the
        explainer has attributes, else the words found in both texts (see :func:`shared_terms`)."""
        if self.attributes is not None:
            common = set(self.attributes[int(item)]) & set(self.attributes[int(other)])
            return tuple(sorted(common, key=lambda a: (self._attr_df[a], a))[: self.top_terms])
        exclude: list[str] = []
        if self.hide_title_words:
            for i in (int(item), int(other)):
                exclude.extend(terms_of(short_title(self.titles[i]), self.language))
        return tuple(
            shared_terms(
                self.item_texts[int(item)],
                [self.item_texts[int(other)]],
                language=self.language,
                top=self.top_terms,
                document_frequency=self._df,
                n_documents=len(self._terms),
                exclude=exclude,
            )
        )

    def explain(
        self,
        item: int,
        history: Sequence[int],
        *,
        attention: Sequence[float] | None = None,
        contributions: Sequence[float] | None = None,
        variant: int | None = None,
    ) -> Explanation:
        """The explanation of recommending ``item`` to a user with ``history`` (oldest first).

        ``contributions``: the model's own per-history-item score contributions (see
        :func:`model_contributions`); ``attention``: attention weights over the history; neither: text
        similarity times recency. When a model was given to :meth:`for_model`, its contributions are used.
        ``variant``: the wording number (default: a stable function of the item and the named history item).
        """
        if contributions is None and attention is None and self.model is not None:
            contributions = model_contributions(self.model, history, item)
        candidates = attribute(
            item,
            history,
            self.item_vectors,
            top=3,
            half_life=self.half_life,
            attention=attention,
            contributions=contributions,
            min_ratio=self.prefer_ratio,
        )
        chosen: tuple[int, float] | None = candidates[0] if candidates else None
        shared: tuple[str, ...] = ()
        for i, c in candidates:
            common = self.shared_with(item, i)
            if common:
                chosen, shared = (i, c), common
                break
        if chosen is None:
            kind = "none"
        elif shared:
            kind = "shared" if self.attributes is not None else "terms"
        else:
            kind = "collaborative" if contributions is not None else "plain"
        because = () if chosen is None else ((chosen[0], self.titles[chosen[0]], chosen[1]),)
        if variant is None:
            variant = variant_for(item, chosen[0] if chosen else None)
        liked = None if chosen is None else self.display_title(chosen[0])
        text = sentence(kind, self.language, liked, shared, variant)
        return Explanation(
            item=int(item),
            title=self.titles[int(item)],
            because=because,
            shared=shared,
            text=text,
            language=self.language,
            template_text=text,
            kind=kind,
        )

    def explain_many(self, items: Sequence[int], history: Sequence[int]) -> list[Explanation]:
        """Explanations of several recommendations for one history, wordings rotated along the list so that
        neighbours read differently."""
        start = variant_for(int(items[0]), len(history)) if len(items) else 0
        return [self.explain(int(i), history, variant=start + n) for n, i in enumerate(items)]

    def check(self, expl: Explanation, history: Sequence[int]) -> str | None:
        """None when ``expl`` is grounded, else what is wrong: it must name at most one history item, that
        item must be in ``history`` with its catalog title, the sentence must name it, every shared attribute
        or term must belong to both items (and appear in the sentence), and no other catalog title may appear
        in the sentence."""
        hist = {int(i) for i in history}
        if len(expl.because) > 1:
            return f"names {len(expl.because)} history items; one is expected"
        text = expl.template_text or expl.text
        named: set[str] = set()
        for i, title, _ in expl.because:
            if i not in hist:
                return f"item {i} is not in the history"
            if title != self.titles[i]:
                return f"title {title!r} is not the catalog title of item {i}"
            name = self.display_title(i)
            if name not in text:
                return f"the sentence does not name {name!r}"
            named.add(name)
            if self.attributes is not None:
                mine, theirs = set(self.attributes[expl.item]), set(self.attributes[i])
            else:
                mine, theirs = self._terms[expl.item], self._terms[i]
            for a in expl.shared:
                if a not in mine or a not in theirs:
                    return f"{a!r} is not shared by {name!r} and the recommended item"
        if expl.shared and not expl.because:
            return "shared attributes without a history item"
        shown = text if self.language == "zh" else text.lower()
        for a in expl.shared:
            if (a if self.language == "zh" else a.lower()) not in shown:
                return f"the sentence does not state {a!r}"
        credited = {i for i, _, _ in expl.because}
        for j, title in enumerate(self.titles):
            other = short_title(title)
            if len(other) < 4 or j in credited or any(other in n for n in named):
                continue  # a credited title may contain a shorter catalog title
            if re.search(rf"(?<!\w){re.escape(other)}(?!\w)", text):
                return f"the sentence names {other!r}, which it does not credit"
        return None


def with_text(expl: Explanation, text: str, *, generated: bool, note: str | None = None) -> Explanation:
    """A copy with another sentence (the template sentence is kept in ``template_text``)."""
    notes = expl.notes + ((note,) if note else ())
    return replace(expl, text=text, generated=generated, notes=notes)
