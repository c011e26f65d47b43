"""`GET /api/v1/releases/{version}/bundle`: a held release's bundle, for a device with a bearer token.

The file's name comes from the release's row (checked when it was added), never from the request: the version in
the path is only looked up. The ETag is the bundle's SHA-256, which the kiosk checks against the signed manifest
anyway; ranges are answered, so a kiosk on a poor line resumes a download instead of starting it again.

No `from __future__ import annotations` here: FastAPI reads the route annotations at runtime.
"""

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from sqlalchemy import Connection, select

from central.devices import Device
from central.errors import CentralError, NotFound
from central.releases.store import VERSION, bundle_path
from central.releases.tables import releases


class BundleMissing(CentralError):
    """A held release whose file is gone or unreadable (removed by hand, added by another user): the centre's
    fault, so a 5xx the kiosk retries later, not a 404 that says there is no such release."""

    status = 503


def add_release_route(
    app: FastAPI,
    transaction: Callable[[], AsyncIterator[Connection]],
    sender: Callable[..., Device],
    directory: Path,
) -> None:
    Tx = Annotated[Connection, Depends(transaction, scope="function")]

    @app.get(
        "/api/v1/releases/{version}/bundle",
        response_class=FileResponse,
        responses={
            200: {"content": {"application/gzip": {}}, "description": "the bundle; ETag: its SHA-256"},
            404: {"description": "no such release held here"},
            503: {"description": "the bundle cannot be read at the centre: try again later"},
        },
    )
    def release_bundle(
        version: Annotated[str, PathParam(max_length=64)],
        conn: Tx,
        device: Annotated[Device, Depends(sender)],
    ) -> Any:
        """The bundle of a release the centre holds (docs/updates.md); any enrolled device may fetch it."""
        row = None
        if VERSION.match(version):
            row = conn.execute(
                select(releases.c.bundle, releases.c.sha256, releases.c.size).where(releases.c.version == version)
            ).first()
        if row is None:
            raise NotFound(f"no release {version[:64]!r} held here")
        path = bundle_path(directory, row.bundle)
        try:
            with path.open("rb") as held:  # opened here: a failure after the headers went would cut the answer
                size = os.fstat(held.fileno()).st_size
        except OSError as exc:
            raise BundleMissing(
                f"release {version}: its bundle cannot be read at the centre ({exc.strerror})"
            ) from None
        if size != row.size:
            raise BundleMissing(f"release {version}: its bundle at the centre is not the one added: add it again")
        return FileResponse(
            path,
            media_type="application/gzip",
            filename=row.bundle,
            headers={"ETag": f'"{row.sha256}"', "Cache-Control": "private, max-age=3600"},
        )
