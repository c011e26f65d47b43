"""Which kind of code is this? Each parser is asked in turn; the first that recognises the text wins."""

from __future__ import annotations

from collections.abc import Callable

from kiosk.credentials.base import Credential, CredentialError, Kind
from kiosk.credentials.cccd import parse_cccd
from kiosk.credentials.pccovid import parse_pccovid

Parser = Callable[[str], Credential | None]

# More specific layouts first: a PC-Covid code is recognised by its ISO date in the third field.
PARSERS: tuple[Parser, ...] = (parse_pccovid, parse_cccd)


def read_credential(text: str, parsers: tuple[Parser, ...] = PARSERS) -> Credential:
    """The credential in `text`: a parsed one, one of a known kind marked malformed, or kind `unknown`."""
    text = text.rstrip("\r\n")  # some generators and apps end the payload with a line break
    for parse in parsers:
        try:
            credential = parse(text)
        except CredentialError as exc:
            return Credential(exc.kind, problem=exc.reason)
        if credential is not None:
            return credential
    return Credential(Kind.UNKNOWN)
