"""Grounded explanations of recommendations: the history items and shared words behind each one, rendered in
the catalog's language, with an optional, checked generative paraphrase.

>>> from lmrec.explain import Explainer
>>> ex = Explainer(model.vectors, texts, dataset.item_titles())  # doctest: +SKIP
>>> ex.explain(item, history).text  # doctest: +SKIP
'Recommended because you liked Return of the Jedi (shared: sci-fi, war).'
"""

from lmrec.explain._explain import (
    Explainer,
    Explanation,
    attribute,
    catalog_attributes,
    model_contributions,
    render,
    shared_terms,
    short_title,
)
from lmrec.explain._generate import check_generated, paraphrase, prompt_for, smollm2_generator

__all__ = [
    "Explainer",
    "Explanation",
    "attribute",
    "catalog_attributes",
    "check_generated",
    "model_contributions",
    "paraphrase",
    "prompt_for",
    "render",
    "shared_terms",
    "short_title",
    "smollm2_generator",
]
