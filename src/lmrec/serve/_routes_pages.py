"""The web pages: the catalog page (also at ``/item/{id}``, its item pages), the API docs (Swagger UI served
locally from the ``fastapi-offline`` package's copy of swagger-ui-dist, so /docs works offline), the
evaluation report and the favicon."""

import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from lmrec.serve._context import Api, ItemId

STATIC_DIR = Path(__file__).parent / "static"


def swagger_dir() -> Path:
    """The folder with ``swagger-ui-bundle.js`` and ``swagger-ui.css`` (the serve extra's ``fastapi-offline``
    ships them; lmrec keeps no copy)."""
    from importlib.util import find_spec

    from lmrec.errors import MissingDependencyError

    spec = find_spec("fastapi_offline")
    folder = Path(spec.origin).parent / "static" if spec is not None and spec.origin else None
    if folder is None or not (folder / "swagger-ui-bundle.js").is_file():
        raise MissingDependencyError(
            "serving needs the serve extra's Swagger UI files: pip install 'lmrec[serve]' (fastapi-offline)"
        )
    return folder


REPORT_URL = "/report/files/report.html"

# the bar put at the top of the report when the service shows it (the report's CSP allows inline style)
_REPORT_BAR = (
    '<nav aria-label="Pages" style="background:#12324f;padding:.5rem 1rem;font:1rem system-ui,sans-serif">'
    '<a href="/" style="color:#fff;margin-right:1.2rem">&larr; Catalog</a>'
    '<a href="/docs" style="color:#fff">API</a></nav>'
)
_NO_REPORT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Evaluation report</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/style.css"></head><body><main><h1>Evaluation report</h1>
<p>No report is configured. Start the server with <code>--report DIR</code>.</p>
<p><a href="/">Back to the catalog</a></p></main></body></html>"""


def pages_router(api: Api) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    settings = api.settings
    # the page learns where it may keep a key from its body's data attribute (no inline script under the CSP)
    index_html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    index_html = index_html.replace(
        'data-key-storage="memory"', f'data-key-storage="{settings.web_key_storage}"'
    )
    docs_html = (STATIC_DIR / "docs.html").read_text(encoding="utf-8")
    report_dir = Path(settings.report_dir) if settings.report_dir else None

    @router.get("/")
    def index_page() -> HTMLResponse:
        return HTMLResponse(index_html)

    @router.get("/item/{item_id}")
    def item_page(item_id: ItemId) -> HTMLResponse:
        """An item's own URL: the same page, which opens the item (404 for an unknown one)."""
        api.service.sync_catalog()
        known = api.service.item_idx(item_id) is not None
        return HTMLResponse(index_html, status_code=200 if known else 404)

    @router.get("/docs")
    def docs() -> HTMLResponse:
        return HTMLResponse(docs_html)

    @router.get("/favicon.ico")
    def favicon() -> Response:
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    @router.get("/report")
    def report_page() -> Any:
        if report_dir is not None and (report_dir / "report.html").is_file():
            return RedirectResponse(REPORT_URL, status_code=307)
        return HTMLResponse(_NO_REPORT, status_code=200)

    @router.get(REPORT_URL)
    def report_file() -> Any:
        """The report itself (no frame, so no scroll inside a scroll), with a bar back to the catalog."""
        path = None if report_dir is None else report_dir / "report.html"
        if path is None or not path.is_file():
            return HTMLResponse(_NO_REPORT, status_code=404)
        text = path.read_text(encoding="utf-8", errors="replace")
        match = re.search(r"<body[^>]*>", text, re.I)
        if match is None:
            return HTMLResponse(_REPORT_BAR + text)
        return HTMLResponse(text[: match.end()] + _REPORT_BAR + text[match.end() :])

    return router
