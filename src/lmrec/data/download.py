"""``lmrec datasets download NAME``: fetch a public dataset from its home, checking sha256 where published.

MovieLens 1M, 20M and 25M come from GroupLens as zips whose sha256 is pinned in the catalog (no offline copy).

MovieLens 100K comes from GroupLens (``ml-100k.zip``, sha256 pinned below). When GroupLens cannot be reached
(offline CI, firewalls) it falls back to the copy that ships inside the PyPI wheel ``recbole==1.2.1``
(``recbole/dataset_example/ml-100k/ml-100k.{inter,item,user}``, RecBole atomic format), fetched with
``pip download`` through the machine's package index. Its three files are checked against pinned sha256 sums;
``ml-100k.inter`` without its header line is byte-identical to GroupLens' ``u.data``
(sha256 ``06416e59...``), so ratings, timestamps and row order (time ties!) are those of the release. The
zip's sha256 (``50d2a982...``, 4,924,029 bytes) and u.data's are the values published by several independent
projects. Note: the research copy in ``../shared/data/ml-100k`` is NOT byte-identical to the release: its
u.data differs in one rating (line 385, user 94 item 1224: 4 instead of 3; sha256 ``f3099019...``), which
changes nothing for implicit-feedback protocols; the test suite pins this difference.

Files land in the user cache (``$LMREC_CACHE``, default ``~/.cache/lmrec``) under the dataset's folder, where
:func:`lmrec.data.load_dataset` finds them.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from lmrec.data.registry import CATALOG, get_entry
from lmrec.errors import DataError, LmrecError

RECBOLE_WHEEL = "recbole==1.2.1"
RECBOLE_ML100K = "recbole/dataset_example/ml-100k/"
# sha256 of the three files inside the recbole-1.2.1 wheel (py3-none-any, as published on PyPI)
RECBOLE_ML100K_SHA256 = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
    "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
}
ML100K_MEMBERS = ("u.data", "u.item", "u.user", "u.genre", "u.info", "u.occupation", "README")

Fetch = Callable[[str, float], bytes]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_url(url: str, timeout: float = 30.0) -> bytes:
    """The body at ``url`` (urllib; raises OSError/URLError when unreachable)."""
    request = urllib.request.Request(url, headers={"User-Agent": "lmrec"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - fixed https URLs
        return response.read()


def download(
    name: str,
    *,
    root: Path | None = None,
    fetch: Fetch = fetch_url,
    fallback: bool = True,
    force: bool = False,
    timeout: float = 30.0,
    log: Callable[[str], None] = lambda msg: None,
) -> Path:
    """Download dataset ``name`` into ``root`` (default: the user cache); returns the dataset folder."""
    get_entry(name)
    downloader = DOWNLOADERS.get(name)
    if downloader is None:
        entry = CATALOG[name]
        raise LmrecError(
            f"dataset '{name}' cannot be downloaded automatically; get it from {entry.url or entry.home} "
            f"and put it in a folder named {entry.folder}"
        )
    if root is None:
        from lmrec.paths import cache_root

        root = cache_root()
    return downloader(Path(root), fetch=fetch, fallback=fallback, force=force, timeout=timeout, log=log)


def _ml100k(
    root: Path,
    *,
    fetch: Fetch,
    fallback: bool,
    force: bool,
    timeout: float,
    log: Callable[[str], None],
) -> Path:
    entry = CATALOG["ml-100k"]
    folder = root / entry.folder
    if not force:
        for layout in entry.layouts:
            if layout.matches(folder):
                log(f"already present: {folder}")
                return folder
    assert entry.url is not None and entry.sha256 is not None
    try:
        log(f"fetching {entry.url}")
        archive = fetch(entry.url, timeout)
    except (OSError, urllib.error.URLError) as exc:
        if not fallback:
            raise LmrecError(
                f"cannot reach {entry.url} ({exc}); retry online or allow the fallback"
            ) from None
        log(f"GroupLens unreachable ({exc}); using the copy in the PyPI wheel {RECBOLE_WHEEL}")
        return ml100k_from_recbole_wheel(folder, log=log)
    digest = _checked(archive, entry.sha256, entry.url)
    _extract_release(archive, entry.url, "ml-100k", folder, ML100K_MEMBERS)
    log(f"verified sha256 {digest[:12]}... and wrote {folder}")
    return folder


def _extract_release(
    archive: bytes, url: str, prefix: str, folder: Path, members: Sequence[str], optional: Sequence[str] = ()
) -> None:
    """Write ``prefix/MEMBER`` of the zip ``archive`` (from ``url``) into ``folder`` (replaced whole, or left
    as it was when a required member is missing); members are streamed (20M ratings are not held twice)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}.", dir=_mkdir(folder.parent)))
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            present = set(z.namelist())
            for member in (*members, *optional):
                path = f"{prefix}/{member}"
                if path not in present:
                    if member in optional:
                        continue
                    raise DataError(f"the archive has no {path}", file=url)
                with z.open(path) as src, open(tmp / member, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        _replace_dir(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def ml100k_from_recbole_wheel(
    folder: Path, *, wheel: Path | None = None, log: Callable[[str], None] = print
) -> Path:
    """Write ML-100K (RecBole atomic files) into ``folder`` from the recbole 1.2.1 wheel.

    ``wheel``: a wheel file already on disk; by default ``pip download --no-deps recbole==1.2.1`` fetches it
    into a temporary folder. Every extracted file is checked against its pinned sha256.
    """
    with tempfile.TemporaryDirectory(prefix="lmrec-recbole-") as tmp:
        if wheel is None:
            wheel = _pip_download_wheel(Path(tmp))
        try:
            z = zipfile.ZipFile(wheel)
        except (OSError, zipfile.BadZipFile) as exc:
            raise DataError(f"not a readable wheel ({exc})", file=wheel) from None
        staged = Path(tempfile.mkdtemp(prefix="ml-100k.", dir=_mkdir(folder.parent)))
        try:
            with z:
                for member, expected in RECBOLE_ML100K_SHA256.items():
                    try:
                        data = z.read(RECBOLE_ML100K + member)
                    except KeyError:
                        raise DataError(f"wheel has no {RECBOLE_ML100K + member}", file=wheel) from None
                    digest = sha256_bytes(data)
                    if digest != expected:
                        raise DataError(
                            f"sha256 mismatch for {member}: got {digest}, expected {expected}", file=wheel
                        )
                    (staged / member).write_bytes(data)
            (staged / "SOURCE.txt").write_text(
                "MovieLens 100K (GroupLens, research use only, no redistribution), copied from the PyPI "
                f"wheel {RECBOLE_WHEEL} ({RECBOLE_ML100K}); sha256 verified by lmrec.\n",
                encoding="utf-8",
            )
            _replace_dir(staged, folder)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
    log(f"verified sha256 of {', '.join(RECBOLE_ML100K_SHA256)} and wrote {folder}")
    return folder


def _pip_download_wheel(dest: Path) -> Path:
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
        "--disable-pip-version-check", RECBOLE_WHEEL, "-d", str(dest),
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LmrecError(f"cannot run pip to fetch {RECBOLE_WHEEL}: {exc}") from None
    wheels = sorted(dest.glob("recbole-*.whl"))
    if proc.returncode != 0 or not wheels:
        last = (proc.stderr or proc.stdout).strip().splitlines()
        why = last[-1] if last else f"exit code {proc.returncode}"
        raise LmrecError(f"GroupLens unreachable and `pip download {RECBOLE_WHEEL}` failed: {why}")
    return wheels[0]


def _amazon_2018(name: str) -> Callable[..., Path]:
    def run(
        root: Path,
        *,
        fetch: Fetch,
        fallback: bool,
        force: bool,
        timeout: float,
        log: Callable[[str], None],
    ) -> Path:
        entry = CATALOG[name]
        folder = _mkdir(root / entry.folder)
        reviews = entry.layouts[0].options["reviews"]
        urls = {reviews: entry.url}
        meta = entry.layouts[0].options.get("meta")
        if meta:
            urls[meta] = f"{str(entry.url).split('/categoryFilesSmall/')[0]}/metaFiles2/{meta}"
        for filename, url in urls.items():
            target = folder / filename
            if target.is_file() and not force:
                log(f"already present: {target}")
                continue
            log(f"fetching {url}")
            try:
                data = fetch(str(url), timeout)
            except (OSError, urllib.error.URLError) as exc:
                raise LmrecError(f"cannot reach {url} ({exc}); download it by hand into {folder}") from None
            # the McAuley lab publishes no checksums: record ours so a later run can tell if the file changed
            tmp = target.with_name(target.name + ".part")
            tmp.write_bytes(data)
            tmp.replace(target)
            log(f"wrote {target} (sha256 {sha256_bytes(data)})")
        return folder

    return run


def _grouplens(name: str, optional: tuple[str, ...]) -> Callable[..., Path]:
    """The downloader of a GroupLens release other than 100K: ``NAME.zip`` (sha256 pinned in the catalog),
    whose folder ``NAME/`` holds the layout's files and the ``optional`` ones."""

    def run(
        root: Path,
        *,
        fetch: Fetch,
        fallback: bool,
        force: bool,
        timeout: float,
        log: Callable[[str], None],
    ) -> Path:
        entry = CATALOG[name]
        folder = root / entry.folder
        if not force and entry.layouts[0].matches(folder):
            log(f"already present: {folder}")
            return folder
        assert entry.url is not None and entry.sha256 is not None
        log(f"fetching {entry.url}")
        try:
            archive = fetch(entry.url, timeout)
        except (OSError, urllib.error.URLError) as exc:
            raise LmrecError(f"cannot reach {entry.url} ({exc}); retry online") from None
        digest = _checked(archive, entry.sha256, entry.url)
        _extract_release(archive, entry.url, name, folder, entry.layouts[0].files, optional)
        log(f"verified sha256 {digest[:12]}... and wrote {folder}")
        return folder

    return run


def _checked(data: bytes, sha256: str, url: str) -> str:
    """The sha256 of ``data``, which must be the pinned one of ``url``."""
    digest = sha256_bytes(data)
    if digest != sha256:
        raise DataError(f"sha256 mismatch: got {digest}, expected {sha256}", file=url)
    return digest


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def _replace_dir(staged: Path, folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    staged.replace(folder)


DOWNLOADERS: dict[str, Callable[..., Path]] = {
    "ml-100k": _ml100k,
    "ml-1m": _grouplens("ml-1m", ("README",)),
    "ml-20m": _grouplens("ml-20m", ("tags.csv", "README.txt")),
    "ml-25m": _grouplens("ml-25m", ("tags.csv", "README.txt")),
    "amazon-magazine": _amazon_2018("amazon-magazine"),
    "amazon-gift-cards": _amazon_2018("amazon-gift-cards"),
    "amazon-all-beauty": _amazon_2018("amazon-all-beauty"),
}
