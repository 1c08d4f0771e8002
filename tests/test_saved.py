"""The one saved-folder helper: JSON metadata + safetensors arrays + card, with one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.errors import LmrecError
from lmrec.saved import read_arrays, read_meta, write_saved


def test_round_trip(tmp_path):
    arrays = {"w.safetensors": {"a": np.arange(6, dtype=np.float32).reshape(2, 3)[:, ::2]}}
    out = write_saved(
        tmp_path / "m", meta_file="m.json", meta={"k": 1, "p": tmp_path}, arrays=arrays, card="# hi"
    )
    assert read_meta(out, "m.json", what="x") == {"k": 1, "p": str(tmp_path)}
    np.testing.assert_array_equal(read_arrays(out / "w.safetensors")["a"], [[0, 2], [3, 5]])
    assert (out / "README.md").read_text() == "# hi"


def test_errors_are_one_line_and_name_the_file(tmp_path):
    with pytest.raises(LmrecError, match="not a saved thing \\(no m.json\\)"):
        read_meta(tmp_path, "m.json", what="a saved thing")
    (tmp_path / "m.json").write_text("[1]")
    with pytest.raises(LmrecError, match="m.json: expected a JSON object"):
        read_meta(tmp_path, "m.json", what="x")
    (tmp_path / "m.json").write_text("{")
    with pytest.raises(LmrecError, match="m.json: invalid JSON"):
        read_meta(tmp_path, "m.json", what="x")
    with pytest.raises(LmrecError, match="w.safetensors: is missing \\(get it\\)"):
        read_arrays(tmp_path / "w.safetensors", hint="get it")
    (tmp_path / "w.safetensors").write_bytes(b"\x01\x02")
    with pytest.raises(LmrecError) as err:
        read_arrays(tmp_path / "w.safetensors", noun="the weights")
    assert "cannot read the weights" in str(err.value) and "\n" not in str(err.value)
