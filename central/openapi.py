"""The OpenAPI document of the API, as committed in central/openapi.json (a test keeps the two equal)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine

from central.api import create_app


def document() -> dict[str, Any]:
    return create_app(create_engine("sqlite://"), b"\0" * 32).openapi()
