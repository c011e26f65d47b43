"""The one error of trust sources: a list, an anchor or a download that cannot be used, said in one line."""

from __future__ import annotations

from central.errors import CentralError


class TrustSourceError(CentralError):
    """A source's list is refused whole (nothing of it is imported); the message names the source and where."""
