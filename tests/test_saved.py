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


def test_arrays_read_back_as_safetensors_reads_them(tmp_path):
    """Every dtype numpy and safetensors share, scalars and empty arrays, and the file's metadata ignored."""
    from safetensors.numpy import load_file, save_file

    rng = np.random.default_rng(0)
    arrays = {
        f"{dt}": (rng.standard_normal((3, 4)) * 50).astype(dt)
        for dt in ("float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "uint16")
    }
    arrays |= {"bool": rng.random(5) > 0.5, "scalar": np.array(2.5), "empty": np.zeros((0, 3), np.float32)}
    save_file(arrays, str(tmp_path / "a.safetensors"), metadata={"note": "x"})
    got, want = read_arrays(tmp_path / "a.safetensors"), load_file(str(tmp_path / "a.safetensors"))
    assert got.keys() == want.keys() == arrays.keys()
    for name, a in want.items():
        assert got[name].dtype == a.dtype and got[name].shape == a.shape, name
        np.testing.assert_array_equal(got[name], a)
        assert got[name].flags.writeable


def test_damaged_files_are_one_line_errors(tmp_path):
    from safetensors.numpy import save_file

    save_file({"a": np.arange(100, dtype=np.float32)}, str(tmp_path / "ok.safetensors"))
    data = (tmp_path / "ok.safetensors").read_bytes()
    damaged = {
        "truncated": data[:-8],
        "header longer than the file": (10**9).to_bytes(8, "little") + data[8:],
        "header not JSON": len(b"{oops").to_bytes(8, "little") + b"{oops",
        "header not an object": len(b"[1]").to_bytes(8, "little") + b"[1]",
    }
    for what, content in damaged.items():
        (tmp_path / "x.safetensors").write_bytes(content)
        with pytest.raises(LmrecError) as err:
            read_arrays(tmp_path / "x.safetensors", noun="the vectors")
        msg = str(err.value)
        assert "x.safetensors: cannot read the vectors" in msg and "\n" not in msg, what


def test_reading_a_large_file_lets_other_threads_run(tmp_path):
    """Found at 1M items: safetensors' own reader held the GIL for the whole 1.5 GB index file (1.1 s alone,
    4 s with two server workers loading), so a worker's health-check thread could not answer and uvicorn
    killed and restarted the worker, again and again. Other threads must keep running while arrays load."""
    import threading
    import time

    from safetensors.numpy import save_file

    save_file({"v": np.ones((1 << 25,), np.float32)}, str(tmp_path / "big.safetensors"))  # 128 MiB
    ticks: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    ticker = threading.Thread(target=tick)
    ticker.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    read_arrays(tmp_path / "big.safetensors")
    t1 = time.perf_counter()
    stop.set()
    ticker.join()
    inside = [t0, *(t for t in ticks if t0 < t < t1), t1]
    longest_stall = max(b - a for a, b in zip(inside, inside[1:], strict=False))
    assert longest_stall < 0.5 * (t1 - t0) + 0.005, (longest_stall, t1 - t0)
