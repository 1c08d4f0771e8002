"""Catalog routes: item pages, similar items, text search, and adding or removing items."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from lmrec.serve._context import Api, ItemId
from lmrec.serve._openapi import errors
from lmrec.serve._schemas import NOT_SPACE, Item, ItemAdded, ItemIn, SearchResults, Similar
from lmrec.serve.security import Caller


def catalog_router(api: Api) -> APIRouter:
    router = APIRouter()
    service, settings, access = api.service, api.settings, api.access
    Public = api.public
    MaxK = api.max_k

    access["GET", "/items/{item_id}"] = "public"

    @router.get("/items/{item_id}", response_model=Item, tags=["items"], responses=errors(401, 404, 422, 429))
    def get_item(item_id: ItemId, _: Public) -> Item:
        return Item(**service.item_view(api.known_item(item_id)))

    access["GET", "/items/{item_id}/similar"] = "public"

    @router.get(
        "/items/{item_id}/similar",
        response_model=Similar,
        tags=["items"],
        responses=errors(401, 404, 422, 429),
    )
    def similar(item_id: ItemId, _: Public, k: MaxK = 10) -> Similar:
        idx = api.known_item(item_id)
        return Similar(item_id=item_id, items=api.ranked_out(service.similar(idx, k), False))

    access["GET", "/search"] = "public"

    @router.get("/search", response_model=SearchResults, tags=["items"], responses=errors(401, 422, 429))
    def search(
        q: Annotated[
            str,
            Query(
                min_length=1,
                max_length=settings.max_text_chars,
                pattern=NOT_SPACE,
                description="Free text (not blank).",
            ),
        ],
        caller: Public,
        k: MaxK = 10,
        offset: Annotated[int, Query(ge=0, le=1000, description="Skip this many matches (paging).")] = 0,
        min_similarity: Annotated[
            float | None,
            Query(
                ge=-1,
                le=1,
                description="Only matches with at least this text cosine; default: the service's "
                f"search_min_similarity ({settings.search_min_similarity:g}).",
            ),
        ] = None,
    ) -> SearchResults:
        api.encoder_budget(caller)
        floor = settings.search_min_similarity if min_similarity is None else min_similarity
        found, more = service.search(q, k, offset, floor)
        return SearchResults(
            query=q, offset=offset, min_similarity=floor, more=more, items=api.ranked_out(found, False)
        )

    access["POST", "/items"] = "catalog"

    @router.post(
        "/items",
        response_model=ItemAdded,
        status_code=201,
        tags=["items"],
        responses={
            200: {"model": ItemAdded, "description": "An item with this id existed: it was replaced."},
            201: {"description": "A new item was added."},
            **errors(400, 401, 403, 413, 415, 422, 429),
        },
    )
    def post_item(
        req: ItemIn, response: Response, _: Annotated[Caller, Depends(api.needs("catalog"))]
    ) -> ItemAdded:
        service.sync_catalog()
        created = service.item_idx(req.id) is None
        fields = req.model_dump(exclude={"id"})
        idx = service.add_item(req.id, fields)
        if not created:
            response.status_code = 200
        return ItemAdded(
            item=Item(**service.item_view(idx)), created=created, index_size=len(service.text_index)
        )

    access["DELETE", "/items/{item_id}"] = "catalog"

    @router.delete(
        "/items/{item_id}",
        status_code=204,
        response_model=None,
        response_class=Response,
        tags=["items"],
        responses=errors(401, 403, 404, 422, 429),
    )
    def delete_item(item_id: ItemId, _: Annotated[Caller, Depends(api.needs("catalog"))]) -> Response:
        if not service.delete_item(item_id):
            raise HTTPException(404, f"unknown item {item_id!r}")
        return Response(status_code=204)

    return router
