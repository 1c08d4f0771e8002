"""Each measured section of the README's Benchmarks names its date and the commit of its numbers (issue 21).

The regenerable tables (``<!-- bench:NAME -->`` blocks) are rebuilt by ``benchmarks/readme.py``; every other
figure says when it was measured and which commit added it, and those commits exist in this repository.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_readme_script() -> ModuleType:
    """benchmarks/readme.py as a module (benchmarks/ is not a package and is not put on sys.path)."""
    spec = importlib.util.spec_from_file_location("_bench_readme", ROOT / "benchmarks" / "readme.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


readme_script = _load_readme_script()
figure_marks = readme_script.figure_marks

SNIPPET = """# demo

## Benchmarks

### Marked (2026-12-04)

| model | NDCG@10 |
|---|---|
| a | .1 |

Numbers from commit `abc1234`; the rerun at commit 0123456789abcdef0123456789abcdef01234567 and commits
`def5678`, `feed123` and `9876543`. Split `cf4b102d95976f1f` is not a commit.

### Undated, no commit

| model | NDCG@10 |
|---|---|
| b | .2 |

### Dated, no commit (2026-11-27)

The code was run on 2 cores: .3.

### Regenerated

<!-- bench:demo -->
Measured 2020-01-01 at commit `1111111` (inside the block: ignored).
<!-- /bench:demo -->

Around the block: 2026-12-05, code `2222222`.

## Next part

### Not a benchmark (2026-01-01, commit `3333333`)
"""


def test_figure_marks_on_a_snippet() -> None:
    marks = {title: (dates, commits) for title, dates, commits in figure_marks(SNIPPET)}
    assert list(marks) == [
        "Marked (2026-12-04)",
        "Undated, no commit",
        "Dated, no commit (2026-11-27)",
        "Regenerated",
    ]
    assert marks["Marked (2026-12-04)"] == (
        ["2026-12-04"],
        ["abc1234", "0123456789abcdef0123456789abcdef01234567", "def5678", "feed123", "9876543"],
    )
    assert marks["Undated, no commit"] == ([], [])
    assert marks["Dated, no commit (2026-11-27)"] == (["2026-11-27"], [])
    assert marks["Regenerated"] == (["2026-12-05"], ["2222222"])
    assert figure_marks("# no benchmarks here\n") == []


def test_print_marks_warns_where_a_mark_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    assert readme_script.print_marks(SNIPPET) == 2
    out = capsys.readouterr().out
    assert "WARNING: README section 'Undated, no commit' names no date (YYYY-MM-DD) and no commit hash" in out
    assert "WARNING: README section 'Dated, no commit (2026-11-27)' names no commit hash" in out
    assert "Marked (2026-12-04)" in out and "WARNING: README section 'Marked" not in out
    assert "Regenerated [outside its bench block]: 2026-12-05; commits 2222222" in out


README_MARKS = figure_marks((ROOT / "README.md").read_text(encoding="utf-8"))


def test_readme_has_benchmark_sections() -> None:
    assert len(README_MARKS) >= 5, [title for title, _, _ in README_MARKS]


@pytest.mark.parametrize("title,dates,commits", README_MARKS, ids=[m[0][:40] for m in README_MARKS])
def test_every_benchmark_section_names_a_date_and_a_commit(
    title: str, dates: list[str], commits: list[str]
) -> None:
    assert dates, f"README section {title!r} names no measurement date (YYYY-MM-DD)"
    assert commits, f"README section {title!r} names no commit (write: commit `abc1234` or code `abc1234`)"


def test_named_commits_exist() -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("no git or no .git folder here (e.g. an sdist): the named commits cannot be checked")
    commits = sorted({c for _, _, named in README_MARKS for c in named})
    unknown = [
        c
        for c in commits
        if subprocess.run(
            [git, "cat-file", "-e", f"{c}^{{commit}}"], cwd=ROOT, capture_output=True, check=False
        ).returncode
        != 0
    ]
    assert not unknown, f"README names commits that are not in this repository: {unknown}"
