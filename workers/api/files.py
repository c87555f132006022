"""`GET /v1/files?uri=…`: the media of a hit and its thumbnails, and nothing else.

What is served is looked up, never taken from the request: a source is served only when the ledger holds it as
indexed (`done`) under exactly the URI asked for, and a thumbnail only when its path is the one the artifact area
gives that source's record (the ledger's id, a version digest and an item number, all checked for their shape).
Any other path or key is 404, however it is spelt (`..`, links, encodings). A local file is served with HTTP
Range support (a browser seeks in a video), and only if no part of its path is a symbolic link now; an object in
S3 is a redirect to a presigned URL valid for MMINDEX_API__LINK_TTL_S, through MMINDEX_S3__PUBLIC_ENDPOINT_URL when set.
"""

from __future__ import annotations

import mimetypes
import os
import re
import stat
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse, Response

from shared.ledger import State, source_id
from shared.runtime import Runtime
from shared.storage import ObjectInfo, is_s3, locate
from workers.api.access import Access, Role

router = APIRouter()

THUMBNAIL = re.compile(r"thumbnails/([0-9a-f]{32})/([0-9a-f]{32})/([0-9]{1,9})\.jpg\Z")
"""The tail of a thumbnail's URI: the source's id, its version's folder, the item (see shared/artifacts.py)."""
NOT_SERVED = "not an indexed source or one of its thumbnails"


def served(uri: str, runtime: Runtime) -> str | None:
    """The URI to serve for `uri`, from the ledger's records; None when it is not one this server may serve."""
    match = THUMBNAIL.search(uri)
    if match is not None:
        id, folder, item = match.groups()
        records = runtime.ledger.get([id])
        if not records or records[0].state is State.DELETED:
            return None
        record = records[0]
        info = ObjectInfo(uri=record.uri, root=record.root, key=record.key, size=0, version=record.version)
        expected = runtime.storage(record.uri).artifact_uri(info, f"thumbnails/{id}/{folder}/{int(item)}.jpg")
        return expected if expected == uri else None
    try:
        where = locate(uri)
    except (ValueError, OSError):  # a NUL byte, a path the system refuses
        return None
    records = runtime.ledger.get([source_id(where.root, where.key)])
    if not records or records[0].state is not State.DONE or records[0].uri != uri:
        return None
    return records[0].uri


def _local(path: Path) -> Path | None:
    """The file at `path` if it is a regular file and no part of its path is a symbolic link (now)."""
    try:
        if os.path.realpath(path) != str(path) or not stat.S_ISREG(path.lstat().st_mode):
            return None
    except (OSError, ValueError):
        return None
    return path


@router.get("/v1/files", summary="The media of a hit, or its thumbnail (Range requests on local files)")
async def files(request: Request, uri: str, exp: str | None = None, sig: str | None = None) -> Response:
    access: Access = request.app.state.access
    if not access.signed(uri, exp, sig):
        access.require(request, Role.SEARCH)
    runtime: Runtime = request.app.state.runtime
    target = await run_in_threadpool(served, uri, runtime)
    if target is None:
        raise HTTPException(404, f"{uri}: {NOT_SERVED}")
    if is_s3(target):
        storage = runtime.storage(target)
        link = await run_in_threadpool(storage.browser_link, target, runtime.settings.api.link_ttl_s)
        if link is None:
            raise HTTPException(404, f"{uri}: {NOT_SERVED}")
        return RedirectResponse(link, status_code=307)
    path = await run_in_threadpool(_local, Path(target))
    if path is None:
        raise HTTPException(404, f"{uri}: {NOT_SERVED}")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, content_disposition_type="inline", filename=path.name)
