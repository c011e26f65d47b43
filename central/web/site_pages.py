"""What the site serves besides its pages: the favicon, and the API's OpenAPI document for signed-in staff.

FastAPI's /docs and /redoc are off (central/api.py): they load Swagger UI from a public CDN, and the centre loads
nothing from elsewhere. The document is also committed as central/openapi.json.

No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
"""

from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy import Connection

from central.web.core import HERE, Web

FAVICON = HERE / "static" / "favicon.svg"


def add_routes(app: FastAPI, web: Web) -> None:
    Tx = Annotated[Connection, Depends(web.transaction, scope="function")]

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        # What a browser asks for when a page names no icon (every page names /static/favicon.svg).
        return FileResponse(FAVICON, media_type="image/svg+xml")

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_document(request: Request, conn: Tx) -> Response:
        web.staff(request, conn)
        return JSONResponse(app.openapi(), headers={"Cache-Control": "no-store"})
