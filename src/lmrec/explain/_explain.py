"""Grounded explanations: which history items made a recommendation, and which words they share with it.

Attribution: history item ``j`` contributes ``w_j * max(0, cos(v_j, v_item))`` to recommended item ``item``,
where ``w_j`` is a recency weight (the newest item weighs 1, halving every ``half_life`` steps back, as the
``content`` model's profile does) or, when the model exposes it, the attention weight of position ``j``. When
the model's score is itself a sum over the history (EASE, ItemKNN), its own terms are the contributions.
The top contributors are named; the shared words are the terms (English words and two-word phrases without
stopwords; Chinese character 2-3-grams) present both in the recommended item's text and in the contributors'
texts, ranked by how many contributors share them and by rarity across the catalog.

Every name and word in a template explanation is therefore real: a title of an item in the user's history and
a term found in both texts.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from lmrec.errors import DataError
from lmrec.feedback._terms import drop_contained, is_cjk_text, terms_of


@dataclass(frozen=True)
class Explanation:
    """One recommendation's explanation.

    ``because``: (history item, title, contribution) best first; ``shared``: shared terms; ``text``: the
    rendered sentence; ``template_text``: the grounded template sentence (equal to ``text`` unless a generated
    paraphrase was accepted, which sets ``generated``).
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

    def display(self) -> str:
        """The sentence for people, a generated one clearly marked as such."""
        if self.generated:
            mark = "[AI 生成] " if self.language == "zh" else "[generated] "
            return mark + self.text
        return self.text

    def to_dict(self) -> dict:
        return {
            "item": self.item, "title": self.title, "text": self.display(), "template": self.template_text,
            "generated": self.generated, "shared": list(self.shared),
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


def render(titles: Sequence[str], shared: Sequence[str], language: str = "en") -> str:
    """The template sentence, in English or Chinese."""
    titles = [short_title(t) for t in titles]
    if language == "zh":
        if not titles:
            return "推荐理由：很多用户喜欢它。"
        liked = "、".join(f"《{t}》" for t in titles[:-1])
        liked = f"{liked}和《{titles[-1]}》" if liked else f"《{titles[-1]}》"
        tail = f"（共同点：{'、'.join(shared)}）" if shared else ""
        return f"推荐理由：你喜欢{liked}{tail}。"
    if not titles:
        return "Recommended because it is popular with other users."
    liked = titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " and " + titles[-1]
    tail = f" (shared: {', '.join(shared)})" if shared else ""
    return f"Recommended because you liked {liked}{tail}."


class Explainer:
    """Explains recommendations over one catalog.

    ``item_vectors``: (n_items, dim) text vectors (any model's item vectors: the ``content`` model's
    ``vectors``, or ``lmrec.text.encode_items``); ``item_texts``: the text of each item (what the shared words
    come from); ``titles``: display names. ``language``: "en", "zh" or None (detected from the titles/texts).
    """

    def __init__(
        self,
        item_vectors: np.ndarray,
        item_texts: Sequence[str],
        titles: Sequence[str],
        *,
        language: str | None = None,
        top_items: int = 2,
        top_terms: int = 3,
        half_life: float | None = 20.0,
        hide_title_words: bool = True,
    ) -> None:
        n = len(item_vectors)
        if len(item_texts) != n or len(titles) != n:
            what = f"{n} item vectors, {len(item_texts)} texts and {len(titles)} titles"
            raise DataError(f"{what}: one each needed")
        self.item_vectors = np.asarray(item_vectors, dtype=np.float32)
        self.item_texts = [str(t or "") for t in item_texts]
        self.titles = [str(t) for t in titles]
        if language is None:
            sample = self.titles[:: max(1, n // 200)] or [""]
            language = "zh" if sum(is_cjk_text(t) for t in sample) > len(sample) / 2 else "en"
        self.language = language
        self.top_items, self.top_terms, self.half_life = top_items, top_terms, half_life
        self.hide_title_words = hide_title_words
        self.model: object | None = None
        self._terms = [set(terms_of(t, language)) for t in self.item_texts]
        self._df: Counter[str] = Counter()
        for s in self._terms:
            self._df.update(s)

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

    def explain(
        self,
        item: int,
        history: Sequence[int],
        *,
        attention: Sequence[float] | None = None,
        contributions: Sequence[float] | None = None,
    ) -> Explanation:
        """The explanation of recommending ``item`` to a user with ``history`` (oldest first).

        ``contributions``: the model's own per-history-item score contributions (see
        :func:`model_contributions`); ``attention``: attention weights over the history; neither: text
        similarity times recency. When a model was given to :meth:`for_model`, its contributions are used."""
        if contributions is None and attention is None and self.model is not None:
            contributions = model_contributions(self.model, history, item)
        contributors = attribute(
            item, history, self.item_vectors,
            top=self.top_items, half_life=self.half_life, attention=attention, contributions=contributions,
        )
        ids = [i for i, _ in contributors]
        exclude: list[str] = []
        if self.hide_title_words:
            for i in [int(item), *ids]:
                exclude.extend(terms_of(short_title(self.titles[i]), self.language))
        shared = shared_terms(
            self.item_texts[int(item)],
            [self.item_texts[i] for i in ids],
            language=self.language,
            top=self.top_terms,
            document_frequency=self._df,
            n_documents=len(self._terms),
            exclude=exclude,
        )
        text = render([self.titles[i] for i in ids], shared, self.language)
        return Explanation(
            item=int(item),
            title=self.titles[int(item)],
            because=tuple((i, self.titles[i], c) for i, c in contributors),
            shared=tuple(shared),
            text=text,
            language=self.language,
            template_text=text,
        )

    def explain_many(self, items: Sequence[int], history: Sequence[int]) -> list[Explanation]:
        """Explanations of several recommendations for one history."""
        return [self.explain(int(i), history) for i in items]


def with_text(expl: Explanation, text: str, *, generated: bool, note: str | None = None) -> Explanation:
    """A copy with another sentence (the template sentence is kept in ``template_text``)."""
    notes = expl.notes + ((note,) if note else ())
    return replace(expl, text=text, generated=generated, notes=notes)
