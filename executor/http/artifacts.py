"""Routes: a run's artifacts, listed and downloaded.

A download streams the bytes a chunk at a time from where they are kept (database chunks,
or the ``--artifacts-dir`` file), never whole in memory, with ``Content-Length``, the sha256
as a strong ``ETag`` (``If-None-Match`` answers 304), and one byte range (`ranges`).

The name is the rest of the path (``/runs/R/artifacts/build/dist/app.whl``) and only ever
looks up a row: the bytes are found by the row's id, so no name, however it is spelled
(``..``, ``%2F``, a NUL), reaches a file path. An artifact may be any content a step
wrote, HTML included: it is sent as an attachment, sandboxed and never sniffed, so that a
browser signed in to the dashboard never runs it as a page of this origin.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import cast
from urllib.parse import quote

from loguru import logger
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from executor.artifacts import artifact_json
from executor.engine import Engine
from executor.errors import ArtifactRefused
from executor.http import params, ranges, schemas
from executor.http.api import api, route
from executor.http.problems import RangeNotSatisfiable, Unavailable
from executor.store.records import ArtifactRecord

# A retried step keeps new artifacts under the same URL: a cache must ask (the ETag) first.
SAFETY_HEADERS = {
    "Cache-Control": "private, no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


async def list_artifacts(request: Request) -> JSONResponse:
    listed = await api(request).engine.list_artifacts(params.path(request, "id"))
    return JSONResponse({"artifacts": [artifact_json(artifact) for artifact in listed]})


def disposition(name: str) -> str:
    """``Content-Disposition`` saving the artifact under its last path part: RFC 6266's
    ``filename*`` for any name, and an ASCII ``filename`` for clients that lack it."""
    base = name.rsplit("/", 1)[-1]
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in base)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(base, safe='')}"


async def download(request: Request) -> Response:
    engine = api(request).engine
    run_id, step_id = params.path(request, "id"), params.path(request, "step")
    name = params.path(request, "name", schemas.ARTIFACT_NAME)
    given = request.query_params.get("item")
    item = None if given is None else params.integer("item", given, schemas.ARTIFACT_ITEM_PARAM)
    artifact = await engine.artifact(run_id, step_id, item, name)
    etag = f'"{artifact.sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": disposition(artifact.name),
        **SAFETY_HEADERS,
    }
    if ranges.not_modified(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    asked = request.headers.get("range")
    try:
        wanted = ranges.byte_range(asked, artifact.size, etag, request.headers.get("if-range"))
    except ranges.Unsatisfiable:
        raise RangeNotSatisfiable(
            f"range {asked!r} is past the end of the artifact ({artifact.size} bytes)",
            headers={"Content-Range": f"bytes */{artifact.size}"},
        ) from None
    start, end, status = 0, artifact.size, 200
    if wanted is not None:
        start, end, status = wanted.start, wanted.end, 206
        headers["Content-Range"] = wanted.content_range
    # Set here, not as a media type: Starlette would add a charset the bytes may not have.
    headers |= {"Content-Type": artifact.media_type, "Content-Length": str(end - start)}
    if request.method == "HEAD" or start == end:
        return Response(status_code=status, headers=headers)
    return StreamingResponse(await _opened(engine, artifact, start, end), status, headers)


async def _opened(engine: Engine, artifact: ArtifactRecord, start: int, end: int) -> AsyncIterator[bytes]:
    """The bytes, their first chunk read already: bytes this instance cannot reach (a
    directory it lacks, a file gone) are an error answer, not a 200 cut short."""
    # An async generator (closed below, so a file it opened is closed when the client leaves).
    chunks = cast(AsyncGenerator[bytes, None], engine.artifacts.read(artifact, start, end))
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = b""
    except ArtifactRefused as exc:
        logger.bind(run_id=artifact.run_id, step=artifact.step_id).warning(
            "cannot serve artifact: {}", exc.message
        )
        raise Unavailable(exc.message) from exc

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield first
            async for piece in chunks:
                yield piece
        except ArtifactRefused as exc:  # deleted meanwhile: the client sees the body cut short
            logger.bind(run_id=artifact.run_id, step=artifact.step_id).warning(
                "artifact download cut short: {}", exc.message
            )
            raise
        finally:
            await chunks.aclose()

    return stream()


routes = [
    route("/runs/{id}/artifacts", GET=list_artifacts),
    route("/runs/{id}/artifacts/{step}/{name:path}", GET=download),
]
