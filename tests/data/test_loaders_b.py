"""Loaders for review / news / music / sentiment / Chinese formats: amazon, mind, lastfm, mdsd, douban.

Real files come from the ``shared_data`` folder; formats without a real copy use the hand-written fixtures in
``tests/fixtures``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmrec.data.loaders import amazon, douban, load_format, mdsd, mind
from lmrec.data.loaders._read import clean_html
from lmrec.errors import DataError, LmrecError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _same_arrays(a, b) -> None:
    ia, ib = a.interactions, b.interactions
    for col in ("user", "item", "timestamp", "rating", "text"):
        x, y = getattr(ia, col), getattr(ib, col)
        assert (x is None) == (y is None)
        if x is not None:
            assert np.array_equal(x, y), col
    assert np.array_equal(a.item_ids, b.item_ids)
    assert np.array_equal(a.user_ids, b.user_ids)
    assert a.items.texts() == b.items.texts()


# ---------------------------------------------------------------- helpers


def test_clean_html_decodes_entities_and_strips_tags() -> None:
    assert clean_html("Disney &amp; Me") == "Disney & Me"
    assert clean_html("&amp;quot;Chuck&amp;quot; cast") == '"Chuck" cast'  # double-escaped
    assert clean_html('<span class="a-size-medium a-color-secondary"') == ""  # unclosed scraped tag
    assert clean_html("I <3 this &lt;b&gt;bold&lt;/b&gt;<br/>now") == "I <3 this bold now"
    assert clean_html(["a", "<i>b</i>", None]) == "a b"
    assert clean_html(None) == ""


# ---------------------------------------------------------------- amazon: real 2018 files

AMAZON_2018 = {
    # category: (distinct reviews per README, users, items after dedup, items with any text)
    "Magazine_Subscriptions": (1972, 348, 150, 145),
    "Gift_Cards": (2156, 458, 148, 148),
    "All_Beauty": (1379, 991, 63, 0),
}


@pytest.mark.parametrize("category", sorted(AMAZON_2018))
def test_amazon_2018_counts_after_dedup(shared_data: Path, category: str) -> None:
    n_reviews, n_users, n_items, n_text = AMAZON_2018[category]
    ds = load_format("amazon-2018", shared_data / "amazon-reviews-2018", category=category)
    assert len(ds.interactions) == n_reviews
    assert ds.n_users == n_users
    assert ds.n_items == n_items
    assert int(ds.items.has_text().sum()) == n_text
    assert ds.meta["n_duplicates_dropped"] == ds.meta["n_reviews_raw"] - n_reviews
    assert set(np.unique(ds.interactions.rating)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert all(isinstance(t, str) for t in ds.interactions.text)


def test_amazon_2018_without_dedup_keeps_every_line(shared_data: Path) -> None:
    ds = amazon.load(
        shared_data / "amazon-reviews-2018" / "Gift_Cards_5.json.gz", format="amazon-2018", dedup=False
    )
    assert len(ds.interactions) == 2972
    assert ds.n_items == 148
    assert ds.meta["meta_file"].endswith("meta_Gift_Cards.json.gz")  # found next to the reviews file


def test_amazon_2018_fields(shared_data: Path) -> None:
    folder = shared_data / "amazon-reviews-2018"
    ds = amazon.load(
        folder, format="amazon-2018", reviews="Gift_Cards_5.json.gz", meta="meta_Gift_Cards.json.gz"
    )
    i = ds.item_index("B004LLIKVU")
    assert ds.item_titles()[i] == "Amazon eGift Card"
    row = ds.items.frame.iloc[ds.item_index("B004Q7CK9M")]
    assert row["brand"] == "Amazon"
    assert row["categories"] == ["Gift Cards"]
    # review text = summary + body; the first line of the file
    first = ds.interactions.text[0]
    assert first == "Five Stars. Another great gift."
    assert ds.user_ids[ds.interactions.user[0]] == "A31UBHTUUIFJUT"
    assert ds.interactions.timestamp[0] == 1529193600
    assert ds.interactions.rating[0] == 5.0
    # Magazine meta titles are scraped '<span ...' junk: cleaned to empty, never left as markup
    mag = amazon.load(folder, format="amazon-2018", category="Magazine_Subscriptions")
    assert not mag.items.frame["title"].fillna("").str.contains("<").any()
    assert not mag.items.frame["description"].fillna("").str.contains("&amp;").any()


def test_amazon_loading_twice_gives_identical_arrays(shared_data: Path) -> None:
    folder = shared_data / "amazon-reviews-2018"
    _same_arrays(
        amazon.load(folder, format="amazon-2018", category="Magazine_Subscriptions"),
        amazon.load(folder, format="amazon-2018", category="Magazine_Subscriptions"),
    )


def test_amazon_folder_with_several_review_files_needs_a_choice(shared_data: Path) -> None:
    with pytest.raises(DataError, match="pass reviews= or category="):
        amazon.load(shared_data / "amazon-reviews-2018", format="amazon-2018")
    with pytest.raises(DataError, match="no reviews file for category 'Nope'"):
        amazon.load(shared_data / "amazon-reviews-2018", format="amazon-2018", category="Nope")


# ---------------------------------------------------------------- amazon: fixtures for 2014 and 2023


def test_amazon_2014_python_literal_meta() -> None:
    ds = load_format("amazon-2014", FIXTURES / "amazon-2014")
    assert ds.name == "Toys"
    assert len(ds.interactions) == 4  # U2's review repeated under T100 and T101 counts once
    assert list(ds.item_ids) == ["T100", "T200", "T300"]  # T101 lost its only review to dedup
    row = ds.items.frame.iloc[ds.item_index("T100")]
    assert row["title"] == "Red Racing Car & Track"
    assert row["description"] == "A fast car for kids aged 3\u20136."
    assert row["categories"] == ["Toys & Games", "Vehicles", "Kids"]
    assert ds.item_titles()[ds.item_index("T200")] == "Builder's Block Set"
    assert ds.items.texts()[ds.item_index("T300")] == ""  # no meta row: added without text
    assert ds.interactions.text[0] == "Great gift! My son loves the red car."
    assert ds.interactions.text[2] == "Sturdy and fun."  # empty summary
    full = amazon.load(
        FIXTURES / "amazon-2014", format="amazon-2014", dedup=False, keep_items_without_events=True
    )
    assert len(full.interactions) == 5
    assert full.n_items == 4


def test_amazon_2014_unknown_items_can_be_dropped() -> None:
    ds = amazon.load(FIXTURES / "amazon-2014", format="amazon-2014", unknown_items="drop")
    assert "T300" not in set(ds.item_ids)
    assert len(ds.interactions) == 3


def test_amazon_2023_milliseconds_and_parent_asin() -> None:
    ds = amazon.load(FIXTURES / "amazon-2023", format="amazon-2023", reviews="Toys.jsonl")
    assert len(ds.interactions) == 3
    assert list(ds.item_ids) == ["P01", "P02"]
    assert ds.interactions.timestamp[0] == 1588687728
    assert ds.interactions.text[0] == "Love it. Great puzzle for the family."
    row = ds.items.frame.iloc[0]
    assert row["title"] == '1000 Piece Jigsaw Puzzle "Alps"'
    assert row["brand"] == "Ravensburger"
    assert row["description"] == "A mountain panorama. Made in Germany."
    assert row["features"] == "1000 pieces Poster included"
    assert row["categories"] == ["Toys & Games", "Puzzles", "Jigsaw Puzzles"]


def test_amazon_truncated_gzip_is_one_line_error(tmp_path: Path) -> None:
    raw = (FIXTURES / "amazon-2014" / "reviews_Toys.json").read_bytes()
    packed = gzip.compress(raw * 50)
    bad = tmp_path / "Toys_5.json.gz"
    bad.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError) as err:
        amazon.load(bad, format="amazon-2018", meta=False)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{bad}:")
    assert "truncated or corrupt" in msg
    assert err.value.line is not None and err.value.line > 1


def test_amazon_bad_json_line_names_file_and_line(tmp_path: Path) -> None:
    lines = (FIXTURES / "amazon-2014" / "reviews_Toys.json").read_text().splitlines()
    lines[2] = lines[2][:40]  # cut mid-object
    bad = tmp_path / "Toys_5.json"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        amazon.load(bad, format="amazon-2018")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{bad}:3: invalid JSON line")


def test_amazon_missing_field_names_line(tmp_path: Path) -> None:
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"reviewerID": "u", "asin": "a", "overall": 5.0}\n')
    with pytest.raises(DataError, match=r"x\.jsonl:1: field 'unixReviewTime': missing value"):
        amazon.load(bad, format="amazon-2018")


def test_an_unknown_loader_option_names_the_known_ones() -> None:
    with pytest.raises(
        LmrecError, match="format 'amazon-2014' has no option 'revews'; its options: reviews, "
    ):
        load_format("amazon-2014", FIXTURES / "amazon-2014", revews="x")


# ---------------------------------------------------------------- mind


@pytest.fixture(scope="module")
def mind_ds(shared_data: Path):
    return load_format("mind", shared_data / "mind-small-subset")


def test_mind_counts_and_text_share(mind_ds) -> None:
    ds = mind_ds
    assert len(ds.interactions) == 144455
    assert ds.n_users == 4637
    assert ds.n_items == 23754  # 2,000 news rows + ids only seen in histories / impressions
    has_text = ds.items.has_text()
    assert int(has_text.sum()) == 2000
    assert has_text[:2000].all() and not has_text[2000:].any()
    assert int(ds.meta["is_history"].sum()) == 136952
    # no (user, item) pair twice
    pairs = ds.interactions.user.astype(np.int64) * ds.n_items + ds.interactions.item
    assert len(np.unique(pairs)) == len(pairs)


def test_mind_news_fields(mind_ds) -> None:
    row = mind_ds.items.frame.iloc[mind_ds.item_index("N34700")]
    assert row["title"].startswith("New Florida Majority celebrates grand opening")
    assert row["category"] == "news" and row["subcategory"] == "newspolitics"
    assert "Caribbean" in row["entities"]


def test_mind_history_precedes_impression_and_keeps_order(mind_ds, shared_data: Path) -> None:
    ds = mind_ds
    imp = ds.meta["impressions"]
    # user U35841 has one impression at 11/9/2019 6:42:51 PM with history N138 N49223 ... N38330
    u = ds.user_index("U35841")
    rows = np.flatnonzero(ds.interactions.user == u)
    t_imp = int(imp.loc[imp["user"] == "U35841", "timestamp"].min())
    assert t_imp == 1573324971  # 2019-11-09 18:42:51 UTC
    hist = rows[ds.meta["is_history"][rows]]
    items = [ds.item_ids[i] for i in ds.interactions.item[hist]]
    assert items[:3] == ["N138", "N49223", "N49481"] and items[-1] == "N38330"
    assert (ds.interactions.timestamp[hist] < t_imp).all()
    assert (np.diff(ds.interactions.timestamp[hist]) > 0).all()
    clicked = rows[~ds.meta["is_history"][rows]]
    clicked_items = {ds.item_ids[i] for i in ds.interactions.item[clicked]}
    assert {"N59852", "N33981", "N31300"} <= clicked_items


def test_mind_impressions_long_form(mind_ds, shared_data: Path) -> None:
    imp = mind_ds.meta["impressions"]
    assert list(imp.columns) == ["impression_id", "user", "timestamp", "position", "item", "label"]
    assert imp["impression_id"].nunique() == 5000
    assert len(imp) == 189359
    assert set(imp["label"].unique()) == {0, 1}
    first = imp[imp["impression_id"] == 100643]
    assert list(first["item"][:3]) == ["N50329", "N11853", "N1034"]
    assert first["label"].iloc[12] == 1 and first["item"].iloc[12] == "N59852"
    again = mind.load_impressions(shared_data / "mind-small-subset")
    assert again.equals(imp)


def test_mind_loading_twice_gives_identical_arrays(mind_ds, shared_data: Path) -> None:
    _same_arrays(mind_ds, mind.load(shared_data / "mind-small-subset", with_impressions=False))


def test_mind_bad_impression_token(tmp_path: Path) -> None:
    (tmp_path / "news.tsv").write_text("N1\tnews\tx\tTitle\tAbs\thttp://u\t[]\t[]\n")
    (tmp_path / "behaviors.tsv").write_text(
        "1\tU1\t11/11/2019 9:05:58 AM\tN1\tN1-1 N2-0\n2\tU2\t11/11/2019 9:06:00 AM\tN1\tN1-x\n"
    )
    with pytest.raises(DataError, match=r"behaviors\.tsv:2: impression entry 'N1-x'"):
        mind.load(tmp_path)
    (tmp_path / "behaviors.tsv").write_text("1\tU1\t2019-11-11 09:05\tN1\tN1-1\n")
    with pytest.raises(DataError, match=r"behaviors\.tsv:1: field 'time': cannot parse time"):
        mind.load(tmp_path)


# ---------------------------------------------------------------- lastfm (fixture: no real copy)


def test_lastfm_hetrec_fixture() -> None:
    ds = load_format("lastfm-hetrec", FIXTURES / "lastfm-hetrec")
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (3, 5, 6)
    assert list(ds.item_ids) == ["1", "2", "3", "4", "9"]  # artist 9 is listened to but not in artists.dat
    # play counts are the ratings, in file order
    assert ds.interactions.rating.tolist() == [13883.0, 11690.0, 5.0, 401.0, 77.0, 1.0]
    frame = ds.items.frame
    assert frame["name"][0] == "Björk"  # UTF-8 artists.dat
    # tags.dat is Latin-1: "música" decoded; tags ranked by how many users applied them, ties by tag id
    assert frame["tags"][0] == ["icelandic", "electronic", "música islandesa"]
    assert frame["tags"][1] == ["música islandesa", "icelandic", "ambient"]
    assert ds.items.texts()[2] == "Daft Punk. electronic, french"
    assert ds.items.texts()[3] == "Nobody Listens"  # no tags, no listens: still in the catalog
    assert ds.items.texts()[4] == ""


def test_lastfm_top_tags_and_utf8_tags(tmp_path: Path) -> None:
    for f in (FIXTURES / "lastfm-hetrec").iterdir():
        data = f.read_bytes()
        if f.name == "tags.dat":  # the same tags re-encoded as UTF-8
            data = data.decode("latin-1").encode("utf-8")
        (tmp_path / f.name).write_bytes(data)
    ds = load_format("lastfm-hetrec", tmp_path, top_tags=1)
    assert ds.items.frame["tags"].tolist()[:4] == [["icelandic"], ["música islandesa"], ["electronic"], []]
    _same_arrays(ds, load_format("lastfm-hetrec", FIXTURES / "lastfm-hetrec", top_tags=1))


def test_lastfm_errors_name_file_and_line(tmp_path: Path) -> None:
    for f in (FIXTURES / "lastfm-hetrec").iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    with (tmp_path / "user_artists.dat").open("a") as fh:
        fh.write("5\t1\tlots\n")
    with pytest.raises(DataError, match=r"user_artists\.dat:8: field 'weight': weight 'lots'"):
        load_format("lastfm-hetrec", tmp_path)
    original = FIXTURES / "lastfm-hetrec" / "user_artists.dat"
    (tmp_path / "user_artists.dat").write_bytes(original.read_bytes())
    with (tmp_path / "user_taggedartists.dat").open("a") as fh:
        fh.write("2\t1\t99\t1\t1\t2010\n")
    with pytest.raises(DataError, match=r"user_taggedartists\.dat:13: field 'tagID': tag id '99'"):
        load_format("lastfm-hetrec", tmp_path)
    (tmp_path / "artists.dat").write_text("id\tname\n1\tX\n")
    with pytest.raises(DataError, match=r"artists\.dat:1: missing column\(s\) url, pictureURL"):
        load_format("lastfm-hetrec", tmp_path)


# ---------------------------------------------------------------- mdsd


@pytest.fixture(scope="module")
def mdsd_reviews(shared_data: Path) -> dict[str, pd.DataFrame]:
    return {d: mdsd.load_reviews(shared_data / "mdsd-sentiment", d) for d in ("books", "dvd", "electronics")}


@pytest.mark.parametrize("domain", ["books", "dvd", "electronics"])
def test_mdsd_reviews_per_domain(mdsd_reviews: dict[str, pd.DataFrame], domain: str) -> None:
    reviews = mdsd_reviews[domain]
    assert len(reviews) == 2000
    assert (reviews["label"] == 1).sum() == 1000 and (reviews["label"] == 0).sum() == 1000
    assert set(reviews.loc[reviews["label"] == 1, "rating"]) <= {4.0, 5.0}
    assert set(reviews.loc[reviews["label"] == 0, "rating"]) <= {1.0, 2.0}
    for col in ("text", "rating", "label", "title", "product"):
        assert col in reviews.columns
    assert (reviews["text"].str.len() > 0).all()
    assert not reviews["text"].str.contains("<review_text>|</review>").any()


def test_mdsd_fields_and_entities(mdsd_reviews: dict[str, pd.DataFrame]) -> None:
    books = mdsd_reviews["books"]
    first = books.iloc[0]
    assert first["title"] == "One of the best Crichton novels"
    assert first["product"] == "Sphere: Books: Michael Crichton"
    assert first["asin"] == "0785758968"
    assert first["reviewer"] == "Joseph M"
    assert first["rating"] == 5.0
    assert first["text"].startswith("Sphere by Michael Crichton is an excellant novel.")
    assert first["date"] == 1151712000  # July 1, 2006
    everything = pd.concat(list(mdsd_reviews.values()))
    assert not everything["text"].str.contains("&amp;").any()
    assert everything["text"].str.contains(" & ").any()  # bare ampersands survive


def test_mdsd_dataset(shared_data: Path) -> None:
    ds = load_format("mdsd", shared_data / "mdsd-sentiment", domain="books")
    assert ds.name == "mdsd-books" and ds.domain == "books"
    assert len(ds.interactions) == 2000
    assert (ds.n_users, ds.n_items) == (1884, 1944)
    assert ds.item_titles()[ds.item_index("0785758968")] == "Sphere: Books: Michael Crichton"
    assert ds.interactions.text[0].startswith("One of the best Crichton novels. Sphere by")
    assert ds.meta["label"].sum() == 1000
    _same_arrays(ds, mdsd.load(shared_data / "mdsd-sentiment", domain="books"))


def test_mdsd_all_domains_and_robust_parsing(tmp_path: Path, shared_data: Path) -> None:
    assert mdsd.available_domains(shared_data / "mdsd-sentiment") == ["books", "dvd", "electronics"]
    pos = (
        "<review>\n<unique_id>\nA1:t:x\n</unique_id>\n<asin>\nA1\n</asin>\n"
        "<product_name>\nPots & Pans: Kitchen\n</product_name>\n<rating>\n5.0\n</rating>\n"
        "<title>\nGreat <b>pan</b>\n</title>\n<date>\nMay 3, 2005\n</date>\n<reviewer>\n\n</reviewer>\n"
        "<review_text>\nHeats fast & cleans easily. 5 < 6 &amp; true, <whatever>.\n</review_text>\n"
        "</review>\n"
        "<review>\n<asin>\nA2\n</asin>\n<rating>\n4.0\n</rating>\n"
        "<review_text>\nNo closing tag for this block\n"
    )
    neg = (
        "<review>\n<asin>\nA1\n</asin>\n<rating>\n1.0\n</rating>\n"
        "<review_text>\nRusty.\n</review_text>\n</review>\n"
    )
    (tmp_path / "kitchen_positive.review").write_text(pos)
    (tmp_path / "kitchen_negative.review").write_text(neg)
    reviews = mdsd.load_reviews(tmp_path, "kitchen")
    assert reviews["text"].tolist() == [
        "Heats fast & cleans easily. 5 < 6 & true, <whatever>.",
        "No closing tag for this block",
        "Rusty.",
    ]
    assert reviews["title"][0] == "Great pan"
    assert reviews["label"].tolist() == [1, 1, 0]
    assert reviews["product"][0] == "Pots & Pans: Kitchen"
    assert reviews["reviewer"][0] == "anonymous:A1:t:x"
    assert reviews["date"].tolist()[1:] == [-1, -1]
    ds = mdsd.load(tmp_path)
    assert ds.meta["domains"] == ["kitchen"] and ds.n_items == 2
    with pytest.raises(DataError, match="no books_positive.review for domain 'books'"):
        mdsd.load_reviews(tmp_path, "books")
    (tmp_path / "kitchen_negative.review").write_text(neg.replace("1.0", "one"))
    with pytest.raises(DataError, match=r"kitchen_negative\.review:1: field 'rating'"):
        mdsd.load_reviews(tmp_path, "kitchen")


# ---------------------------------------------------------------- douban


@pytest.fixture(scope="module")
def douban_ds(shared_data: Path):
    return load_format("douban", shared_data / "douban-movies-zh")


def test_douban_counts(douban_ds, shared_data: Path) -> None:
    movies = douban.load_movies(shared_data / "douban-movies-zh")
    assert len(movies) == 1000
    comments = douban.load_comments(shared_data / "douban-movies-zh")
    assert len(comments) == 5000
    assert int(comments["rating"].isna().sum()) == 358
    assert set(comments["rating"].dropna().unique()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    ds = douban_ds
    assert len(ds.interactions) == 5000 - 358
    assert ds.meta["n_unrated"] == 358
    # the 1,000 movies with text come first; the commented (other) movies follow without text
    has_text = ds.items.has_text()
    assert has_text[:1000].all() and not has_text[1000:].any()
    assert ds.n_items == 1000 + comments.loc[comments["rating"].notna(), "movie_id"].nunique()
    zero = douban.load(shared_data / "douban-movies-zh", unrated="zero")
    assert len(zero.interactions) == 5000
    assert int((zero.interactions.rating == 0).sum()) == 358
    assert zero.n_items == 1000 + comments["movie_id"].nunique()


def test_douban_chinese_text(douban_ds, shared_data: Path) -> None:
    ds = douban_ds
    row = ds.items.frame.iloc[ds.item_index("26670818")]
    assert row["name"] == "情定河州"
    assert row["genres"] == ["剧情", "爱情"]
    assert row["directors"] == ["尹哲"]
    assert "一带一路" in row["storyline"]
    assert ds.items.texts()[0].startswith("情定河州. 情定临夏天使然. 剧情, 爱情")
    assert ds.interactions.text[0] == "480p，画质不高，黑白，y"
    assert ds.interactions.timestamp[0] == 1536176527  # 2018-09-05 19:42:07
    comments = douban.load_comments(shared_data / "douban-movies-zh")
    assert list(comments.columns[:2]) == ["text", "rating"]
    assert comments["text"][1].startswith("毫无看点")
    _same_arrays(ds, douban.load(shared_data / "douban-movies-zh"))


def test_douban_errors(tmp_path: Path) -> None:
    (tmp_path / "movies.csv").write_text("MOVIE_ID,NAME\n1,x\n", encoding="utf-8")
    (tmp_path / "comments.csv").write_text(
        "douban_comment_id,douban_id,user_md5,comment_time,rating,votes,content\n"
        '1,1,u,2018-09-05 19:42:07,5,0,"好看,\n真的"\n'
        "2,1,u,2018-09-05 19:42:08,9,0,差\n",
        encoding="gb18030",
    )
    with pytest.raises(DataError, match=r"movies\.csv:1: missing column\(s\) ALIAS"):
        douban.load(tmp_path)
    with pytest.raises(DataError, match=r"comments\.csv:4: field 'rating': rating '9' is not empty or 1-5"):
        douban.load_comments(tmp_path)
    with pytest.raises(Exception, match="unrated must be"):
        douban.load(tmp_path, unrated="keep")
