"""Loaders on small hand-written fixtures (every format detail) and on the real shared datasets (counts)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmrec.data import load_dataset
from lmrec.data.loaders import load_format
from lmrec.data.split import TEST, TRAIN, VALID, leave_one_out_split

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "formats"


def seqs(data):
    """Each user's external item ids in time order, keyed by external user id."""
    return {
        str(data.user_ids[u]): [str(x) for x in data.item_ids[s]]
        for u, s in enumerate(data.interactions.sequences())
    }


# ---------------------------------------------------------------- fixtures: one test per format


def test_movielens_1m_latin1_ties_and_users():
    data = load_format("movielens-1m", FIXTURES / "ml1m")
    assert (data.n_users, data.n_items, len(data.interactions)) == (2, 3, 4)
    # user 1 rated 10 and 20 in the same second: file order decides
    assert seqs(data) == {"1": ["10", "20"], "2": ["30", "10"]}
    items = data.items.frame.set_index("item_id")
    assert items.loc["10", "title"] == "Amélie (2001)"  # decoded from Latin-1
    assert items.loc["10", "genres"] == ["Comedy", "Romance"]
    assert items.loc["30", "genres"] == []
    assert items.loc["20", "year"] == 1995 and np.isnan(items.loc["30", "year"])
    assert data.users.frame["occupation"].tolist() == ["K-12 student", "self-employed"]
    assert data.interactions.rating.tolist() == [5, 3, 4, 1]


def test_movielens_csv_quotes_genres_and_tags():
    data = load_format("movielens-csv", FIXTURES / "mlcsv")
    assert (data.n_users, data.n_items, len(data.interactions)) == (2, 4, 4)
    items = data.items.frame.set_index("item_id")
    assert items.loc["2", "title"] == "American President, The (1995)"
    assert items.loc["1", "tags"] == ["pixar", "fun"]  # case-insensitive dedup keeps the first spelling
    assert items.loc["4", "genres"] == [] and items.loc["4", "tags"] == []
    assert data.items.text_fields == ("title", "genres", "tags")
    assert data.interactions.rating.tolist() == [4.0, 4.5, 2.5, 3.0]
    assert seqs(data) == {"1": ["3", "1"], "2": ["1", "2"]}  # user 2 tie kept in file order


def test_recbole_typed_columns():
    data = load_format("recbole", FIXTURES / "recbole")
    assert (data.n_users, data.n_items, len(data.interactions)) == (2, 4, 4)
    items = data.items.frame.set_index("item_id")
    assert items.loc["i1", "title"] == "First & Best"  # HTML entity decoded
    assert items.loc["i1", "categories"] == ["Beauty", "Makeup"]  # quoted list form
    assert items.loc["i2", "categories"] == ["Beauty Skin"]  # one column, one type: all lists
    assert items.loc["i3", "categories"] == []
    assert load_format("recbole", FIXTURES / "recbole").items.frame["title"].tolist()[1] == "Second"
    assert np.isnan(items.loc["i2", "price"]) and items.loc["i3", "price"] == 1.25
    assert items.loc["i4", "emb"] == [0.7, 0.8]
    assert data.items.text_fields == ("title", "categories")
    assert data.items.numeric_fields == ("price",)
    assert data.items.categorical_fields == ("genre",)
    assert data.items.vector_fields == ("emb",)
    assert data.users.frame["age"].tolist() == [30.0, 40.0]
    assert data.interactions.timestamp.tolist() == [100, 100, 50, 60]


def test_recbole_rename_list_and_numeric_options():
    data = load_format("recbole", FIXTURES / "recbole", rename={"genre": "kind"}, list_fields=["categories"])
    items = data.items.frame.set_index("item_id")
    assert "kind" in items.columns and "genre" not in items.columns
    assert items.loc["i2", "categories"] == ["Beauty", "Skin"]


def test_unisrec_rebuilds_truncated_sequences_and_fixed_split():
    data = load_format("unisrec", FIXTURES / "unisrec")
    # histories in the files are cut to 2 items; the chain still gives the full sequences
    assert seqs(data) == {
        "REVIEWER0": ["B00A", "B00B", "B00C", "B00D", "B00E", "B00F"],
        "REVIEWER1": ["B00C", "B00A", "B00G", "B00B", "B00H"],
        "REVIEWER2": ["B00G", "B00H", "B00A", "B00B", "B00C"],
    }
    assert data.fixed_split.tolist() == [0, 0, 0, 0, 1, 2] + [0, 0, 0, 1, 2] * 2
    # dense index == UniSRec index
    assert data.item_ids.tolist() == ["B00A", "B00B", "B00C", "B00D", "B00E", "B00F", "B00G", "B00H"]
    assert data.items.texts()[0] == "Item A text. Category. Brand."
    # the fixed split agrees with leave-one-out on these files
    assert leave_one_out_split(data).assignment.tolist() == data.fixed_split.tolist()


def test_lcrec_json_positions_and_text():
    data = load_format("lcrec-json", FIXTURES / "lcrec")
    assert (data.n_users, data.n_items, len(data.interactions)) == (3, 5, 9)  # item 4 has no events
    assert seqs(data)["2"] == ["1", "3", "0", "2"]
    items = data.items.frame.set_index("item_id")
    assert items.loc["0", "categories"] == ["Tools", "Hand Tools"]
    assert data.items.texts()[2] == "Gamma. Third."


def test_p5_sequences_with_item_file(p5_folder):
    data = load_format("p5-sequence", p5_folder)
    assert (data.n_users, data.n_items, len(data.interactions)) == (3, 4, 9)
    assert seqs(data)["U3"] == ["I3", "I4", "I1", "I2"]
    assert data.interactions.timestamp.tolist() == [0, 1, 2, 0, 1, 0, 1, 2, 3]
    items = data.items.frame.set_index("item_id")
    assert items.loc["I3", "categories"] == ["Beauty", "Women's"]
    assert np.isnan(items.loc["I3", "price"])


def test_table_csv_with_item_file_and_dates(tmp_path):
    (tmp_path / "events.csv").write_text(
        "uid,iid,when,stars\nu1,a,2020-01-02,5\nu1,b,2020-01-01T12:00:00,4\nu2,a,2020-01-03,3\n"
    )
    (tmp_path / "items.tsv").write_text("iid\tname\tprice\nb\tBee\t2.5\na\tAy\t1\nc\tSea\t\n")
    data = load_format(
        "table", tmp_path / "events.csv", user="uid", item="iid", time="when", rating="stars",
        items_path="items.tsv",
    )  # fmt: skip
    assert (data.n_users, data.n_items, len(data.interactions)) == (2, 3, 3)
    assert data.item_ids.tolist() == ["b", "a", "c"]  # catalog order of the item file
    assert data.items.text_fields == ("name",)  # numeric columns are not text
    assert seqs(data) == {"u1": ["b", "a"], "u2": ["a"]}
    assert data.interactions.timestamp[0] == pd.Timestamp("2020-01-02", tz="UTC").timestamp()
    assert data.interactions.rating.tolist() == [5, 4, 3]


def test_table_jsonl_and_parquet_agree(tmp_path):
    rows = [
        {"user_id": 1, "item_id": "x", "timestamp": 10, "title": "Ex"},
        {"user_id": 1, "item_id": "y", "timestamp": 5, "title": "Why"},
        {"user_id": 2, "item_id": "x", "timestamp": 7, "title": "Ex"},
    ]
    (tmp_path / "e.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    pd.DataFrame(rows).to_parquet(tmp_path / "e.parquet")
    a = load_format("table", tmp_path / "e.jsonl", item_text=["title"])
    b = load_format("table", tmp_path / "e.parquet", item_text=["title"])
    for data in (a, b):
        assert seqs(data) == {"1": ["y", "x"], "2": ["x"]}
        assert data.items.texts() == ["Ex", "Why"]
    np.testing.assert_array_equal(a.interactions.timestamp, b.interactions.timestamp)


# ------------------------------------------------------- real data (counts from shared/data/README.md)


@pytest.fixture(scope="module")
def ml100k(shared_data):
    return load_format("movielens-100k", shared_data / "ml-100k")


def test_ml100k_counts_text_and_file_order(ml100k, shared_data):
    data = ml100k
    assert (data.n_users, data.n_items, len(data.interactions)) == (943, 1682, 100_000)
    raw = pd.read_csv(shared_data / "ml-100k" / "u.data", sep="\t", header=None, dtype=str)
    # rows stay in u.data order (time ties are broken by it)
    np.testing.assert_array_equal(data.user_ids[data.interactions.user], raw[0].to_numpy())
    np.testing.assert_array_equal(data.item_ids[data.interactions.item], raw[1].to_numpy())
    np.testing.assert_array_equal(data.interactions.timestamp, raw[3].astype(np.int64).to_numpy())
    items = data.items.frame.set_index("item_id")
    assert items.loc["1", "title"] == "Toy Story (1995)"
    assert items.loc["1", "genres"] == ["Animation", "Children's", "Comedy"]
    assert items.loc["1", "year"] == 1995
    assert data.items.has_text().all()
    assert len(data.users) == 943 and data.users.frame.columns.tolist()[:4] == [
        "user_id",
        "age",
        "gender",
        "occupation",
    ]


def test_ml100k_leave_one_out_tie_rate(ml100k):
    """REFERENCE-NUMBERS.md: 44% of users' test items share their validation item's timestamp."""
    split = leave_one_out_split(ml100k)
    ts = ml100k.interactions.timestamp
    test_t = np.zeros(ml100k.n_users, np.int64)
    valid_t = np.zeros(ml100k.n_users, np.int64)
    test_t[ml100k.interactions.user[split.assignment == TEST]] = ts[split.assignment == TEST]
    valid_t[ml100k.interactions.user[split.assignment == VALID]] = ts[split.assignment == VALID]
    assert round(float((test_t == valid_t).mean()), 2) == 0.44
    assert (split.assignment == TRAIN).sum() == 100_000 - 2 * 943


@pytest.mark.parametrize(
    ("name", "users", "items", "interactions", "text_share"),
    [
        ("amazon-beauty", 22_363, 12_101, 198_502, 1.0),
        ("amazon-scientific", 8_317, 4_344, 58_492, 1.0),
        ("amazon-scientific-unisrec", 8_442, 4_385, 59_427, 1.0),
    ],
)
def test_shared_dataset_counts(shared_data, monkeypatch, name, users, items, interactions, text_share):
    monkeypatch.setenv("LMREC_DATA", str(shared_data))
    data = load_dataset(name, cache=False)
    assert (data.n_users, data.n_items, len(data.interactions)) == (users, items, interactions)
    assert data.name == name
    assert data.items.has_text().mean() == pytest.approx(text_share)


def test_unisrec_real_split_matches_files(shared_data):
    data = load_format("unisrec", shared_data / "amazon-scientific-unisrec")
    codes = np.bincount(data.fixed_split)
    test_rows = sum(1 for _ in open(shared_data / "amazon-scientific-unisrec" / "Scientific.test.inter")) - 1
    assert codes[VALID] == codes[TEST] == test_rows == 8_442
    # last event of every user is its test target, as in the published files
    assert leave_one_out_split(data).assignment.tolist() == data.fixed_split.tolist()
    first = pd.read_csv(
        shared_data / "amazon-scientific-unisrec" / "Scientific.test.inter", sep="\t", nrows=1
    )
    hist = [int(x) for x in first["item_id_list:token_seq"].iloc[0].split()] + [
        int(first["item_id:token"].iloc[0])
    ]
    assert data.interactions.sequences()[0].tolist() == hist


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()
    }


def test_loaders_do_not_touch_their_files(tmp_path, p5_folder):
    """Loaders only read: every source file has the same bytes afterwards and nothing new appears."""
    for fmt, folder in [
        ("movielens-1m", FIXTURES / "ml1m"),
        ("recbole", FIXTURES / "recbole"),
        ("unisrec", FIXTURES / "unisrec"),
        ("p5-sequence", p5_folder),
    ]:
        before = _digest(folder)
        load_format(fmt, folder)
        assert _digest(folder) == before
