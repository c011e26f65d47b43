"""Fetching a source's list: HTTPS with certificate checks, timeouts, a size limit, no redirects.

The list's own signature is what makes it trustworthy, but TLS still matters: without it anyone on the path could
serve an older, validly signed list and hide a revocation. Plain HTTP is allowed to loopback only (a local mirror,
the tests). Redirects are not followed: a moved list is a configuration change (`trust source add` again), not
something to follow silently. The body is read in chunks and abandoned past `max_bytes` or `deadline_s`, so a
server sending without end cannot fill the centre's memory or hold a fetch for ever.
"""

from __future__ import annotations

import ipaddress
import time
from urllib.parse import urlsplit

import requests

from central.trustsources.errors import TrustSourceError
from kiosk.redact import redact_url

MAX_BYTES = 8 * 2**20  # Germany's list of every EU DSC is about 2 MB; the gateway's array about 5 MB
TIMEOUT_S = 30.0  # to connect, and between two chunks of the answer
DEADLINE_S = 120.0  # for the whole answer
CHUNK = 64 * 1024


def check_url(url: str) -> None:
    """Refuse a URL the fetch would refuse, when the source is added rather than at its first fetch."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise TrustSourceError(f"{redact_url(url)}: not a URL") from None
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and _loopback(host):
        return
    raise TrustSourceError(f"{redact_url(url)}: the URL must be https:// (plain http only to this machine)")


def download(
    url: str, *, max_bytes: int = MAX_BYTES, timeout_s: float = TIMEOUT_S, deadline_s: float = DEADLINE_S
) -> bytes:
    """The body of a 200 answer from `url`; a TrustSourceError saying what went wrong otherwise."""
    check_url(url)
    shown = redact_url(url)
    started = time.monotonic()
    try:
        with requests.get(
            url, stream=True, timeout=timeout_s, verify=True, allow_redirects=False, headers={"Accept": "*/*"}
        ) as answer:
            if answer.status_code != 200:
                moved = f" to {redact_url(answer.headers.get('Location', '?'))}" if answer.is_redirect else ""
                raise TrustSourceError(f"{shown}: the server answered {answer.status_code} {answer.reason}{moved}")
            return _body(answer, shown, max_bytes, started + deadline_s)
    except requests.exceptions.SSLError as exc:
        raise TrustSourceError(f"{shown}: TLS failed (certificate not trusted or wrong host): {_reason(exc)}") from None
    except requests.exceptions.Timeout:
        raise TrustSourceError(f"{shown}: no answer within {timeout_s:g} s") from None
    except requests.exceptions.ConnectionError as exc:
        if "timed out" in str(exc).lower():  # a stall while the body arrives comes as a ConnectionError
            raise TrustSourceError(f"{shown}: the server stopped sending for more than {timeout_s:g} s") from None
        raise TrustSourceError(f"{shown}: cannot connect: {_reason(exc)}") from None
    except requests.exceptions.RequestException as exc:
        raise TrustSourceError(f"{shown}: {type(exc).__name__}: {_reason(exc)}") from None


def _body(answer: requests.Response, shown: str, max_bytes: int, deadline: float) -> bytes:
    declared = answer.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise TrustSourceError(f"{shown}: the list is {int(declared)} bytes, more than the {max_bytes} allowed")
    body = bytearray()
    for chunk in answer.iter_content(CHUNK):
        body += chunk
        if len(body) > max_bytes:
            raise TrustSourceError(f"{shown}: the list is more than the {max_bytes} bytes allowed; abandoned")
        if time.monotonic() > deadline:
            raise TrustSourceError(f"{shown}: the list took too long to arrive; abandoned")
    return bytes(body)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reason(exc: Exception) -> str:
    """The innermost cause, without requests' nesting of pool and connection objects."""
    for _ in range(10):  # chains are short; a bound, in case one loops
        inner = exc.__cause__ or exc.__context__
        if not isinstance(inner, Exception):
            break
        exc = inner
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:200] + "…"
