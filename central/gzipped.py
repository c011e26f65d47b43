"""A JSON answer gzip-compressed when the client accepts it: a venue's access list is megabytes of subject keys,
which a kiosk on a mobile link should not pull raw. Per route, not a middleware: the other answers are small,
and the staff pages stream theirs."""

from __future__ import annotations

import gzip
import json
from typing import Any

from starlette.responses import Response

LEVEL = 6  # zlib's default: most of level 9's saving at a third of its time


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding header allows gzip: named, or `*`, with a weight above 0 (RFC 9110 12.5.3)."""
    weights: dict[str, float] = {}
    for part in (accept_encoding or "").split(","):
        coding, *parameters = (piece.strip() for piece in part.split(";"))
        weights[coding.lower()] = _weight(parameters)
    return weights.get("gzip", weights.get("*", 0.0)) > 0


def _weight(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def json_answer(document: Any, headers: dict[str, str], accept_encoding: str | None) -> Response:
    """`document` as JSON (as FastAPI writes it), gzip-compressed if `accept_encoding` allows."""
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {**headers, "Vary": "Accept-Encoding"}
    if accepts_gzip(accept_encoding):
        body, headers["Content-Encoding"] = gzip.compress(body, LEVEL, mtime=0), "gzip"
    return Response(body, media_type="application/json", headers=headers)
