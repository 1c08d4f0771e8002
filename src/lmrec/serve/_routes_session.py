"""The web page's anonymous session (:mod:`lmrec.serve._sessions`): likes, "not interested" and the
recommendations they make, kept on the server for the holder of the session cookie; no API key."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Cookie, Request, Response
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from lmrec.serve import _sessions as sessions
from lmrec.serve._context import Api, Diversity, StrictBool
from lmrec.serve._openapi import errors
from lmrec.serve._schemas import ItemBrief, Recommendations, Session

KIND_PATH = {"likes": "like", "not-interested": "not_interested"}
SessionCookie = Annotated[
    str | None,
    Cookie(alias=sessions.COOKIE, description="The session cookie the server set (HttpOnly)."),
]


def session_router(api: Api) -> APIRouter:
    router = APIRouter(tags=["session"])
    service, settings, access = api.service, api.settings, api.access
    Public = api.public
    MaxK = api.max_k

    def view(items: sessions.SessionItems) -> Session:
        cat = service.catalog

        def briefs(ids: list[str]) -> list[ItemBrief]:
            live = [(i, service.item_idx(i)) for i in ids]
            return [ItemBrief(id=i, title=cat.titles[x]) for i, x in live if x is not None]

        return Session(likes=briefs(items.likes), not_interested=briefs(items.not_interested))

    access["GET", "/session"] = "public"

    @router.get("/session", response_model=Session, responses=errors(401, 422, 429))
    def get_session(_: Public, token: SessionCookie = None) -> Session:
        """This browser's likes and "not interested" items (empty before the first one)."""
        return view(sessions.read(service.store, token))

    def mark(
        kind_path: str, item_id: str, request: Request, response: Response, token: str | None
    ) -> Session:
        api.known_item(item_id)
        if not sessions.valid_token(token):
            token = sessions.new_token()
        assert token is not None
        # (re)set on every change: the cookie lives session_days after the last one
        response.set_cookie(
            sessions.COOKIE,
            token,
            max_age=int(settings.session_days * 86400),
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        max_age = settings.session_days * 86400
        sessions.put(service.store, token, item_id, KIND_PATH[kind_path], settings.session_max_items, max_age)
        return view(sessions.read(service.store, token))

    def unmark(kind_path: str, item_id: str, token: str | None) -> Session:
        sessions.remove(service.store, token, item_id, KIND_PATH[kind_path])
        return view(sessions.read(service.store, token))

    Kind = Annotated[
        Literal["likes", "not-interested"],
        PathParam(description="'likes' or 'not-interested' (negative feedback the ranking uses)."),
    ]
    ItemPath = Annotated[str, PathParam(min_length=1, max_length=200)]
    for method in ("PUT", "DELETE"):
        access[method, "/session/{kind}/{item_id}"] = "public"

    @router.put("/session/{kind}/{item_id}", response_model=Session, responses=errors(401, 404, 422, 429))
    def put_item(
        kind: Kind,
        item_id: ItemPath,
        request: Request,
        response: Response,
        _: Public,
        token: SessionCookie = None,
    ) -> Session:
        """Like an item, or mark it "not interested" (an item is one or the other). The first call sets the
        session cookie."""
        return mark(kind, item_id, request, response, token)

    @router.delete("/session/{kind}/{item_id}", response_model=Session, responses=errors(401, 422, 429))
    def delete_item(kind: Kind, item_id: ItemPath, _: Public, token: SessionCookie = None) -> Session:
        """Undo a like or a "not interested"."""
        return unmark(kind, item_id, token)

    access["GET", "/session/recommendations"] = "public"

    @router.get("/session/recommendations", response_model=Recommendations, responses=errors(401, 422, 429))
    async def session_recommendations(
        _: Public,
        token: SessionCookie = None,
        k: MaxK = 10,
        explain: StrictBool = True,
        diversity: Diversity = None,
    ) -> Any:
        """Recommendations from this browser's likes (popular items before the first), never showing a
        "not interested" item and moving items like one down, each with the reason it names."""

        def run() -> Recommendations:
            items = sessions.read(service.store, token)
            service.sync_catalog()
            hist = [x for x in map(service.item_idx, items.likes) if x is not None]
            avoid = [x for x in map(service.item_idx, items.not_interested) if x is not None]
            ranked = service.recommend(
                None, hist, None, k, True, explain=explain, diversity=diversity, avoid=avoid
            )
            return Recommendations(user_id=None, cold_start=not hist, items=api.ranked_out(ranked, explain))

        return await run_in_threadpool(run)

    return router
