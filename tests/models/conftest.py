"""Fixtures shared by the model tests."""

import pytest


@pytest.fixture(scope="session")
def text_cache(tmp_path_factory):
    """One embedding cache folder for every model test of the session (vectors are keyed by encoder and text,
    so sharing it only saves encoding time)."""
    return str(tmp_path_factory.mktemp("embeddings"))
