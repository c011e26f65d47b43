"""POST /api/v1/diagnostics: a kiosk's answer to a technician's request (docs/updates.md).

No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from central.devices import Device
from central.diagnostics.store import NotFound, keep_answer

MAX_BODY = 1024 * 1024


class DiagnosticsAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: Annotated[str, Field(pattern=r"^[0-9a-f-]{36}$")]
    version: Annotated[str, Field(max_length=64)] = ""
    doctor: dict[str, Any]
    logs: Annotated[list[Annotated[str, Field(max_length=2000)]], Field(max_length=500)] = []


def add_diagnostics_route(
    app: FastAPI, transaction: Callable[..., Any], sender: Callable[..., Device], clock: Callable[[], datetime]
) -> None:
    Tx = Annotated[Connection, Depends(transaction, scope="function")]

    @app.post("/api/v1/diagnostics", status_code=204, responses={404: {"description": "no such request pending"}})
    def answer(body: DiagnosticsAnswer, conn: Tx, device: Annotated[Device, Depends(sender)]) -> Response:
        """The device's answer to one of its pending diagnostics requests (its id), kept for the technician."""
        if not keep_answer(conn, device.id, body.model_dump(), clock()):
            raise NotFound(f"no diagnostics request {body.id} pending for this device")
        return Response(status_code=204)
