"""Fixtures for the data tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FORMATS = Path(__file__).resolve().parents[1] / "fixtures" / "formats"

# a P5 `user_sequence.txt` written at test time, so that no file named like the shared research data is
# committed (the item file beside it is a hand-written RecBole `.item`)
P5_SEQUENCES = "U1 I1 I2 I3\nU2 I2 I1\nU3 I3 I4 I1 I2\n"


@pytest.fixture(scope="session")
def p5_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A P5 folder: ``user_sequence.txt`` (3 users) and the hand-written ``Toy.item``."""
    folder = tmp_path_factory.mktemp("p5")
    shutil.copyfile(FORMATS / "p5" / "Toy.item", folder / "Toy.item")
    (folder / "user_sequence.txt").write_text(P5_SEQUENCES, encoding="utf-8")
    return folder
