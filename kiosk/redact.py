"""Keeping secrets out of logs and messages: camera URLs carry passwords and tokens."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_SECRET_PARAMS = re.compile(r"(?i)^(password|passwd|pass|pwd|token|auth|key|secret|signature)$")


def redact_url(spec: str) -> str:
    """`spec` with URL passwords and secret query values replaced, for logs and messages."""
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", spec):
        return spec
    try:
        parts = urlsplit(spec)
        password = parts.password
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1) if password else parts.netloc
    query = "&".join(_redact_param(p) for p in parts.query.split("&")) if parts.query else ""
    # NOTE: not urlunsplit: it drops an empty authority, so sqlite:////var/x.db came back as sqlite://var/x.db.
    rebuilt = f"{parts.scheme}://{netloc}{parts.path}"
    return rebuilt + (f"?{query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")


def _redact_param(param: str) -> str:
    name, sep, _ = param.partition("=")
    return f"{name}=***" if sep and _SECRET_PARAMS.match(name) else param
