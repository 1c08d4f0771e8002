"""Named datasets: search order, the one-line 'not found' message, paths with formats, lazy top-level API."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lmrec.data.registry as catalog
from lmrec.data import load_dataset
from lmrec.data.registry import CATALOG, guess_format, locate
from lmrec.errors import LmrecError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "formats"


@pytest.fixture()
def only_roots(monkeypatch, tmp_path):
    """Search only the given folders (the real ../shared/data would otherwise always be found)."""

    def use(*roots):
        monkeypatch.setattr(catalog, "data_roots", lambda: [Path(r) for r in roots])

    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "cache"))
    return use


def test_every_entry_is_complete():
    from lmrec.data.loaders import FORMATS

    for name, entry in CATALOG.items():
        assert entry.name == name and entry.folder and entry.domain and entry.home.startswith("https://")
        assert entry.files and all(layout.format in FORMATS for layout in entry.layouts)
        assert entry.sha256 is None or len(entry.sha256) == 64
    assert CATALOG["ml-100k"].url == "https://files.grouplens.org/datasets/movielens/ml-100k.zip"


def test_all_shared_datasets_are_found(shared_data, monkeypatch):
    monkeypatch.setenv("LMREC_DATA", str(shared_data))
    monkeypatch.setenv("LMREC_CACHE", str(shared_data / "no-such-cache"))
    download_only = {"ml-1m", "ml-20m", "ml-25m"}  # GroupLens zips: `lmrec datasets download NAME`
    for name in CATALOG:
        found = locate(name)
        if name in download_only:
            assert found is None and CATALOG[name].sha256, name
            continue
        assert found is not None, name
        assert found[0] == shared_data / CATALOG[name].folder


def test_search_order_prefers_lmrec_data(tmp_path, monkeypatch):
    first = tmp_path / "first"
    shutil.copytree(FIXTURES / "lcrec", first / "amazon-scientific-2018")
    for f in (first / "amazon-scientific-2018").iterdir():
        f.rename(f.with_name(f.name.replace("Toy", "Scientific")))
    monkeypatch.setenv("LMREC_DATA", str(first))
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "cache"))
    roots = catalog.data_roots()
    assert roots[0] == first and roots[-1] == tmp_path / "cache"
    data = load_dataset("amazon-scientific", cache=False)
    assert (data.n_users, data.n_items, data.name, data.domain) == (3, 5, "amazon-scientific", "scientific")
    assert data.interactions.domain == "scientific"


def test_user_cache_is_the_last_root(only_roots, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(FIXTURES / "recbole", cache / "ml-100k")
    for f in (cache / "ml-100k").iterdir():
        f.rename(f.with_name(f.name.replace("toy", "ml-100k")))
    only_roots(tmp_path / "empty", cache)
    folder, layout = locate("ml-100k")
    assert folder == cache / "ml-100k" and layout.format == "recbole"


def test_missing_dataset_is_one_line_with_where_and_how(only_roots, tmp_path):
    only_roots(tmp_path / "nowhere")
    with pytest.raises(LmrecError) as err:
        load_dataset("ml-100k")
    msg = str(err.value)
    assert "\n" not in msg
    assert "u.data" in msg and str(tmp_path / "cache" / "ml-100k") in msg
    assert "lmrec datasets download ml-100k" in msg
    with pytest.raises(LmrecError) as err:
        load_dataset("amazon-beauty")
    assert "https://github.com/agiresearch/OpenP5" in str(err.value) and "\n" not in str(err.value)


def test_unknown_names_and_paths():
    with pytest.raises(LmrecError, match="unknown dataset 'nope'.*ml-100k"):
        load_dataset("nope")
    with pytest.raises(LmrecError, match="no such file"):
        load_dataset("/definitely/not/here.csv")
    with pytest.raises(LmrecError, match="unknown format"):
        load_dataset(FIXTURES / "recbole", "bogus", cache=False)


def test_path_with_and_without_format(p5_folder):
    assert load_dataset(FIXTURES / "unisrec", cache=False).n_users == 3
    assert load_dataset(str(FIXTURES / "lcrec"), "lcrec-json", cache=False).n_items == 5
    assert guess_format(FIXTURES / "ml1m") == "movielens-1m"
    assert guess_format(FIXTURES / "mlcsv") == "movielens-csv"
    assert guess_format(p5_folder) == "p5-sequence"
    assert guess_format(FIXTURES / "recbole") == "recbole"
    assert guess_format(FIXTURES / "recbole" / "toy.item") is None


def test_catalog_name_through_cache(shared_data, monkeypatch, tmp_path):
    monkeypatch.setenv("LMREC_DATA", str(shared_data))
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path))
    a = load_dataset("ml-100k")
    b = load_dataset("ml-100k")
    assert (a.meta["cache"], b.meta["cache"]) == ("miss", "hit")
    assert b.name == "ml-100k" and (b.n_users, b.n_items, len(b.interactions)) == (943, 1682, 100_000)
    assert (a.interactions.item == b.interactions.item).all()


def test_import_lmrec_is_light_and_load_dataset_is_lazy():
    code = (
        "import sys, lmrec; assert 'pandas' not in sys.modules and 'torch' not in sys.modules; "
        "f = lmrec.load_dataset; from lmrec.data import load_dataset; assert f is load_dataset; "
        "assert 'torch' not in sys.modules; assert 'load_dataset' in dir(lmrec)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_load_with_download_fetches_missing_datasets(only_roots, tmp_path, monkeypatch):
    from lmrec.data import download as dl

    calls = []

    def fake_download(name, **kwargs):
        calls.append(name)
        folder = tmp_path / "cache" / "ml-100k"
        shutil.copytree(FIXTURES / "recbole", folder)
        for f in folder.iterdir():
            f.rename(f.with_name(f.name.replace("toy", "ml-100k")))
        return folder

    monkeypatch.setattr(dl, "download", fake_download)
    only_roots(tmp_path / "cache")
    with pytest.raises(LmrecError, match="not found"):
        load_dataset("ml-100k", cache=False)
    data = load_dataset("ml-100k", cache=False, download=True)
    assert calls == ["ml-100k"] and data.name == "ml-100k" and data.n_items == 4
    load_dataset("ml-100k", cache=False, download=True)
    assert calls == ["ml-100k"]  # present now: no second download


@pytest.mark.parametrize(
    ("name", "users", "interactions"),
    [  # shared/data/README.md: distinct reviews after deduplication
        ("amazon-magazine", 348, 1_972),
        ("amazon-gift-cards", 458, 2_156),
        ("amazon-all-beauty", 991, 1_379),
        ("mdsd-books", None, 2_000),
    ],
)
def test_catalog_loads_review_datasets(shared_data, monkeypatch, name, users, interactions):
    monkeypatch.setenv("LMREC_DATA", str(shared_data))
    data = load_dataset(name, cache=False)
    assert len(data.interactions) == interactions and data.name == name
    assert users is None or data.n_users == users


def test_amazon_review_dumps_are_recognised_by_their_first_record(shared_data, tmp_path):
    """A downloaded Amazon dump needs no --data-format: 2023 (``user_id``, ``parent_asin``, ``rating``; it was
    read as a generic table and failed on 'item_id'), 2018 and 2014 (``helpful``) reviews, gzipped or not,
    alone or beside their meta file; other JSON lines stay a table, and a plain .json stays unknown."""
    amazon = FIXTURES.parent
    assert guess_format(amazon / "amazon-2023" / "Toys.jsonl") == "amazon-2023"
    assert guess_format(amazon / "amazon-2023") == "amazon-2023"
    assert guess_format(amazon / "amazon-2014" / "reviews_Toys.json") == "amazon-2014"
    assert guess_format(amazon / "amazon-2014") == "amazon-2014"
    gift = shared_data / "amazon-reviews-2018" / "Gift_Cards_5.json.gz"
    assert guess_format(gift) == "amazon-2018"
    data = load_dataset(gift, cache=False)
    assert (data.n_users, data.n_items, data.meta["format"]) == (458, 148, "amazon-2018")
    (tmp_path / "events.jsonl").write_text('{"user_id": "u", "item_id": "a"}\n')
    (tmp_path / "events.json").write_text('{"user_id": "u", "item_id": "a"}\n')
    assert guess_format(tmp_path / "events.jsonl") == "table"
    assert guess_format(tmp_path / "events.json") is None
