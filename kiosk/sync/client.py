"""The kiosk's HTTP client for the central server: authentication, upload, config, heartbeat.

Every failure is sorted into what the uploader must do about it: retry later (Retryable), set the batch aside
(Refused), or stop and raise the alarm (Revoked). Nothing here retries by itself or sleeps.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk import __version__
from kiosk.errors import KioskError
from kiosk.sync.backoff import retry_after_seconds
from kiosk.sync.identity import public_key_bytes

AUTH_CONTEXT = b"kiosk-auth-v1"
TIMEOUT = (5.0, 20.0)  # connect, read: a stalled server is a timeout, then a retry
REFUSE = (400, 413, 422)
SLOW_DOWN_S = 1.0  # a 429 without a readable Retry-After: the centre asked for less, so never a quick retry


class SyncError(KioskError, RuntimeError):
    """Base of the sync failures."""


class Retryable(SyncError):
    """Try again later: the network, a timeout, 429 or 5xx. `retry_after` is the server's wish, if it said (for a
    429 that did not say, SLOW_DOWN_S)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Refused(SyncError):
    """The server refused the request as malformed (400, 413, 422): resending it would fail the same way."""


class Revoked(SyncError):
    """The server refused this device (403): enrolment revoked or unknown."""


class CentralClient:
    def __init__(self, server: str, device_id: str, key: Ed25519PrivateKey, *, ca_bundle: str | None = None) -> None:
        self.server = server.rstrip("/")
        self.device_id = device_id
        self.key = key
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"kiosk/{__version__}"
        # NOTE: passed with every request, not set on the session: requests lets $REQUESTS_CA_BUNDLE override a
        # session's verify (psf/requests issue 3829), which would silently drop the configured bundle.
        self.verify: str | bool = ca_bundle or True
        self._token: str | None = None
        self._token_until = 0.0
        self.server_time: datetime | None = None  # the Date of the last answer: the centre's clock, not ours

    def upload(self, events: list[dict[str, Any]], device_time: dict[str, Any]) -> list[str]:
        """The ids of `events` the server now holds."""
        body = gzip.compress(json.dumps({"device_time": device_time, "events": events}).encode(), 6)
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        answer = self._authorised("POST", "/api/v1/events", data=body, headers=headers)
        held = answer.json().get("held") if _is_json(answer) else None
        if not isinstance(held, list) or not all(isinstance(i, str) for i in held):
            raise Retryable("the server's answer is not a list of held ids")  # a broken proxy: try again
        return held

    def visits(self, visits: list[dict[str, Any]]) -> list[str]:
        """The ids of `visits` the centre now holds."""
        answer = self._authorised("POST", "/api/v1/visits", json={"visits": visits})
        held = answer.json().get("held") if _is_json(answer) else None
        if not isinstance(held, list) or not all(isinstance(i, str) for i in held):
            raise Retryable("the server's answer is not a list of held visit ids")
        return held

    def venue_passages(self, cursor: str) -> tuple[list[Any], str]:
        """The venue's other gates' passages the centre received after `cursor` ("" for the last day), and the
        cursor to ask from next (docs/venue-state.md)."""
        answer = self._authorised("GET", "/api/v1/venue-passages", params={"after": cursor})
        document = answer.json() if _is_json(answer) else None
        if not isinstance(document, dict) or not isinstance(document.get("passages"), list):
            raise Retryable("the venue-passages answer is not a list of passages")
        return document["passages"], str(document.get("cursor") or cursor)

    def claim(self, subject_key: str, timeout: float) -> tuple[bool, str | None]:
        """Claim the first entry on a single-use pass at the centre: (first, the gate that has it if not)."""
        answer = self._authorised("POST", "/api/v1/claims", json={"subject_key": subject_key}, timeout=timeout)
        document = answer.json() if _is_json(answer) else None
        if not isinstance(document, dict) or not isinstance(document.get("first"), bool):
            raise Retryable("the claim answer is not a yes or no")
        holder = document.get("device_id")
        return document["first"], holder if isinstance(holder, str) else None

    def config(self, etag: str | None) -> tuple[dict[str, Any], str] | None:
        """The config document and its ETag, or None if unchanged since `etag`."""
        headers = {"If-None-Match": etag} if etag else {}
        answer = self._authorised("GET", "/api/v1/config", headers=headers)
        if answer.status_code == 304:
            return None
        document = answer.json() if _is_json(answer) else None
        if not isinstance(document, dict):
            raise Retryable("the config answer is not a JSON object")
        return document, answer.headers.get("ETag", "")

    def access_list(self, etag: str | None) -> tuple[dict[str, Any], str] | None:
        """The venue's access list and its ETag, or None if unchanged since `etag`."""
        headers = {"If-None-Match": etag} if etag else {}
        answer = self._authorised("GET", "/api/v1/access-list", headers=headers)
        if answer.status_code == 304:
            return None
        try:
            document = answer.json()  # once: a venue's list may be megabytes
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise Retryable("the access-list answer is not a JSON object")
        return document, answer.headers.get("ETag", "")

    def status_list(self, since: int) -> dict[str, Any]:
        """The status list's changes after version `since` (the whole list for 0)."""
        answer = self._authorised("GET", "/api/v1/status-list", params={"since": since})
        document = answer.json() if _is_json(answer) else None
        if not isinstance(document, dict) or not isinstance(document.get("version"), int):
            raise Retryable("the status-list answer is not a versioned JSON object")
        return document

    def bundle(self, url: str, limit: int) -> bytes:
        """A release bundle the centre offers (docs/updates.md), read to at most `limit` bytes: Refused beyond."""
        if not url.startswith("/api/v1/releases/"):
            raise Refused(f"the update's url {url[:80]!r} is not a release of this centre")
        answer = _checked(self._authorised("GET", url, stream=True, timeout=(TIMEOUT[0], 60.0)))
        body = bytearray()
        try:
            for chunk in answer.iter_content(65536):
                body += chunk
                if len(body) > limit:
                    raise Refused(f"the bundle is larger than its manifest says ({limit} bytes)")
        except requests.RequestException as exc:
            raise Retryable(f"bundle download broke off: {type(exc).__name__}") from None
        finally:
            answer.close()
        return bytes(body)

    def diagnostics(self, answer: dict[str, Any]) -> None:
        """A technician's diagnostics request answered (docs/updates.md, "Remote diagnostics")."""
        self._authorised("POST", "/api/v1/diagnostics", json=answer)

    def heartbeat(self, body: dict[str, Any]) -> None:
        self._authorised("POST", "/api/v1/heartbeat", json=body)

    def _authorised(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        for attempt in range(2):
            headers = {
                **kwargs.pop("headers", {}),
                "Authorization": f"Bearer {self._bearer(kwargs.get('timeout', TIMEOUT))}",
            }
            answer = self._send(method, path, headers=headers, **kwargs)
            if answer.status_code != 401 or attempt:
                return _checked(answer)
            self._token = None  # expired or unknown: authenticate again, once
            kwargs["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
        raise AssertionError("unreachable")

    def _bearer(self, timeout: float | tuple[float, float] = TIMEOUT) -> str:
        if self._token is None or time.monotonic() > self._token_until:
            challenge = {"device_id": self.device_id}
            nonce = _checked(self._send("POST", "/api/v1/auth/challenge", json=challenge, timeout=timeout))
            value = str(_object_with(nonce, "nonce")["nonce"])
            message = AUTH_CONTEXT + b"\n" + self.device_id.encode() + b"\n" + value.encode()
            signature = base64.b64encode(self.key.sign(message)).decode()
            body = {"device_id": self.device_id, "nonce": value, "signature": signature}
            token = _object_with(
                _checked(self._send("POST", "/api/v1/auth/token", json=body, timeout=timeout)), "token"
            )
            self._token = str(token["token"])
            self._token_until = time.monotonic() + float(token.get("expires_in", 900)) - 60
        return self._token

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            kwargs.setdefault("timeout", TIMEOUT)
            answer = self.session.request(method, self.server + path, verify=self.verify, **kwargs)
        except requests.RequestException as exc:  # refused, reset, timeout, TLS, DNS: all mean "later"
            raise Retryable(f"{type(exc).__name__}: {exc}") from None
        self.server_time = _date(answer.headers.get("Date"))
        return answer


def enroll(server: str, code: str, key: Ed25519PrivateKey, name: str, ca_bundle: str | None = None) -> dict[str, Any]:
    """Register this device's public key with a one-time code; the server's answer (device id, venue, config)."""
    body = {"code": code, "public_key": base64.b64encode(public_key_bytes(key)).decode(), "name": name}
    try:
        answer = requests.post(
            server.rstrip("/") + "/api/v1/enroll", json=body, timeout=TIMEOUT, verify=ca_bundle or True
        )
    except requests.RequestException as exc:
        raise Retryable(f"cannot reach {server}: {type(exc).__name__}") from None
    document = _checked(answer).json()
    if not isinstance(document, dict) or "device_id" not in document:
        raise Refused("the enrolment answer has no device id")
    return document


def _date(header: str | None) -> datetime | None:
    try:
        when = parsedate_to_datetime(header) if header else None
    except (TypeError, ValueError):
        return None
    return when if when is not None and when.tzinfo is not None else None  # "-0000" dates are naive: unknown zone


def _checked(answer: requests.Response) -> requests.Response:
    status = answer.status_code
    if status < 300 or status == 304:
        return answer
    detail = _detail(answer)
    if status == 403:
        raise Revoked(f"refused by the server: {detail}")
    if status in REFUSE:
        raise Refused(f"HTTP {status}: {detail}")
    # 429, 5xx and 401 by the protocol; any other status (404 or 405 from a misrouted balancer, 408) is about the
    # way to the server, not this batch: retried, never a reason to quarantine good events.
    retry_after = retry_after_seconds(answer.headers.get("Retry-After"))
    if status == 429 and retry_after is None:
        retry_after = SLOW_DOWN_S
    raise Retryable(f"HTTP {status}: {detail}", retry_after)


def _object_with(answer: requests.Response, key: str) -> dict[str, Any]:
    """The answer's JSON object, which must hold `key`; Retryable if not (a captive portal, a broken proxy)."""
    document = answer.json() if _is_json(answer) else None
    if not isinstance(document, dict) or key not in document:
        raise Retryable(f"the server's answer has no {key!r}: not the central server, or a proxy in the way")
    return document


def _detail(answer: requests.Response) -> str:
    if _is_json(answer):
        detail = answer.json().get("detail") if isinstance(answer.json(), dict) else None
        if isinstance(detail, str):
            return detail[:300]
    return answer.reason or "no detail"


def _is_json(answer: requests.Response) -> bool:
    try:
        answer.json()
    except ValueError:
        return False
    return True
