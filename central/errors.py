"""The central server's errors: each maps to one HTTP status and one exit code of the CLI."""

from __future__ import annotations


class CentralError(Exception):
    """Base of the errors raised on purpose; the message says what was wrong and what to do."""

    status = 400


class NotFound(CentralError):
    status = 404


class Conflict(CentralError):
    status = 409


class Denied(CentralError):
    """Authentication or enrolment refused (wrong, used, expired or revoked)."""

    status = 403


class Unauthenticated(CentralError):
    status = 401
