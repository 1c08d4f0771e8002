"""Word and phrase extraction shared by aspects (feedback) and explanations: English tokens without stopwords,
and character n-grams for Chinese (which has no spaces between words)."""

from __future__ import annotations

import re

# A compact English stopword list (function words, review boilerplate, and words that carry no aspect).
STOPWORDS_EN = frozenset(
    """
a about above after again against all almost also am an and any are aren as at be because been
before being below between both but by can cannot could did didn do does doesn doing don down during
each even ever every few for from further get gets got had hadn has hasn have haven having he her
here hers herself him himself his how however i if in into is isn it its itself just ll me more most
much must my myself no nor not now of off on once one only or other ought our ours ourselves out
over own quite rather re really s same she should so some still such than that the their theirs them
themselves then there these they this those through thus to too under until up upon us ve very was
wasn we were weren what when where which while who whom why will with won would wouldn you your
yours yourself yourselves t d m o y ain let lets may might shall since yet though although etc via
per vs use used using make made makes many well back way ways thing things lot lots bit
""".split()
)

# Chinese function characters (kept short: 太/中/上/无 start content words such as 太空, 中国, 无间道).
STOPCHARS_ZH = frozenset(
    "的了是在我你他她它们这那和与及就都也还又很更最不没有个一着过给对把被让从而但吧吗呢啊呀哦嗯"
)

_WORD = re.compile(r"[a-z0-9][a-z0-9'\-]*[a-z0-9]|[a-z]")
_CJK = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]+")


def is_cjk_text(text: str) -> bool:
    """True when at least a third of the letters of ``text`` are CJK ideographs."""
    cjk = sum(len(m) for m in _CJK.findall(text))
    latin = sum(c.isalpha() for c in text) - cjk
    return cjk > 0 and cjk >= 0.5 * max(latin, 0) / 1.5


def english_words(text: str) -> list[str]:
    """Lower-cased word tokens of ``text`` without stopwords, numbers-only tokens or one-letter words."""
    out = []
    for w in _WORD.findall(str(text).lower()):
        w = w.strip("'-")
        if w.endswith("'s"):
            w = w[:-2]
        if len(w) > 1 and w not in STOPWORDS_EN and not w.isdigit():
            out.append(w)
    return out


def english_terms(text: str, *, bigrams: bool = True) -> list[str]:
    """Words (see :func:`english_words`) and, when ``bigrams``, adjacent word pairs within a clause
    (both words content words: no stopword inside the phrase)."""
    terms: list[str] = []
    for clause in re.split(r"[.,;:!?()\[\]\"/|]+", str(text).lower()):
        raw = [w.strip("'-") for w in _WORD.findall(clause)]
        raw = [w[:-2] if w.endswith("'s") else w for w in raw]
        ok = [len(w) > 1 and w not in STOPWORDS_EN and not w.isdigit() for w in raw]
        terms.extend(w for w, good in zip(raw, ok, strict=True) if good)
        if bigrams:
            terms.extend(f"{raw[i]} {raw[i + 1]}" for i in range(len(raw) - 1) if ok[i] and ok[i + 1])
    return terms


def chinese_ngrams(text: str, n: tuple[int, ...] = (2, 3)) -> list[str]:
    """Character n-grams of the CJK runs of ``text``, skipping n-grams made only of function characters and
    n-grams that start or end with one."""
    out: list[str] = []
    for run in _CJK.findall(str(text)):
        for size in n:
            for i in range(len(run) - size + 1):
                g = run[i : i + size]
                if g[0] in STOPCHARS_ZH or g[-1] in STOPCHARS_ZH:
                    continue
                out.append(g)
    return out


def terms_of(text: str, language: str | None = None) -> list[str]:
    """The terms of ``text``: English words + bigrams, or Chinese character 2-3-grams (``language`` "zh", or
    detected when None)."""
    lang = language or ("zh" if is_cjk_text(str(text)) else "en")
    return chinese_ngrams(text) if lang == "zh" else english_terms(text)


def drop_contained(terms: list[str]) -> list[str]:
    """Terms that are not substrings of an earlier-kept longer term (keeps "science fiction", drops
    "fiction"; keeps 科幻片, drops 科幻), order preserved."""
    kept: list[str] = []
    for t in sorted(terms, key=len, reverse=True):
        if not any(_contains(k, t) for k in kept):
            kept.append(t)
    return [t for t in terms if t in kept]


def _contains(longer: str, shorter: str) -> bool:
    if " " in longer or " " in shorter:
        return f" {shorter} " in f" {longer} "
    return shorter in longer and len(shorter) < len(longer)
