"""The main job (`make demo` = `lmrec quickstart`) end to end on real ML-100K, kept short: one baseline and
one textseq epoch. The full run is what `make demo` does."""

import json
import re

from lmrec.cli import main


def test_quickstart_runs_end_to_end(tmp_path, capsys, shared_data, monkeypatch):
    monkeypatch.setenv("LMREC_DATA", str(shared_data))
    out = tmp_path / "qs"
    code = main(["quickstart", "--out", str(out), "--baselines", "pop", "--epochs", "1", "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "943 users, 1,682 items, 100,000 interactions" in printed
    results = json.loads((out / "results.json").read_text())
    assert set(results["results"]) == {"pop", "textseq", "textseq+id"}
    assert results["split_hash"] == "cf4b102d95976f1f"
    pop = results["results"]["pop"]
    assert abs(pop["ndcg@10"] - 0.0441) < 0.0005  # REFERENCE-NUMBERS.md, ties averaged
    assert (out / "report.html").is_file()
    assert (out / "model" / "config.json").is_file()
    assert (out / "model" / "catalog" / "items.parquet").is_file()
    # sample users' recommendations are printed with movie titles, each with its reason
    assert "recently watched:" in printed and "(19" in printed
    assert "liked" in printed
    samples = results["samples"]
    assert [len(s["items"]) for s in samples] == [10, 10] and all(
        s["model"] == "textseq" or s["model"] == "textseq+id" for s in samples
    )
    # the model saved and shown is chosen on validation, never on the test scores it is judged by
    text = {n: results["results"][n] for n in ("textseq", "textseq+id")}
    chosen = max(text, key=lambda n: text[n]["valid_ndcg@10"])
    assert {s["model"] for s in samples} == {chosen}
    assert json.loads((out / "model" / "config.json").read_text())["config"]["id_fusion"] == (
        chosen == "textseq+id"
    )
    report = (out / "report.html").read_text()
    assert "class='verdict'" in report and "vs pop [95% interval]" in report
    assert "lmrec serve" in printed
    # what is shown is new to the user: no recommended title is in that user's whole history
    for block in printed.split("recently watched:")[1:]:
        recent, _, recs = block.partition("\n   1.")
        numbered = [line for line in ("   1." + recs).splitlines() if re.match(r"^ +\d+\. ", line)][:10]
        rec_titles = [line.split(". ", 1)[1].strip() for line in numbered]
        assert len(rec_titles) == 10
        assert not any(t in recent.replace("\n", " ") for t in rec_titles)
    # the next steps are whole command lines (a terminal of 80 columns must not break them for copying)
    steps = printed[printed.index("next steps") :].splitlines()[1:]
    assert len(steps) == 5 and all(line.startswith("  lmrec ") for line in steps)
    assert steps[-1].endswith("--models pop,ease,sasrec --tune")
