"""Which kind of code is this? Each parser is asked in turn; the first that recognises the text wins."""

from __future__ import annotations

from collections.abc import Callable

from kiosk.credentials.accesspass import parse_access_pass
from kiosk.credentials.base import Credential, CredentialError, Kind
from kiosk.credentials.cccd import parse_cccd
from kiosk.credentials.context import VerifyContext
from kiosk.credentials.hc1 import parse_hc1
from kiosk.credentials.passes import parse_pass
from kiosk.credentials.pccovid import parse_pccovid
from kiosk.credentials.shc import parse_shc
from kiosk.credentials.vdsnc import parse_vdsnc

Parser = Callable[[str, VerifyContext], Credential | None]


def _unsigned(parse: Callable[[str], Credential | None]) -> Parser:
    def parser(text: str, ctx: VerifyContext) -> Credential | None:
        return parse(text)

    parser.__name__ = parse.__name__
    return parser


# Prefixed formats first (a cheap check each), then the layouts recognised by their fields; a PC-Covid code
# before a CCCD one, since it is recognised by the ISO date in its third field.
PARSERS: tuple[Parser, ...] = (
    parse_hc1,
    parse_shc,
    parse_pass,
    parse_access_pass,
    parse_vdsnc,
    _unsigned(parse_pccovid),
    _unsigned(parse_cccd),
)


def read_credential(text: str, ctx: VerifyContext | None = None, parsers: tuple[Parser, ...] = PARSERS) -> Credential:
    """The credential in `text`: a parsed one, one of a known kind marked malformed, or kind `unknown`.

    Signed kinds are verified against `ctx` (no trusted keys and the current time when it is None).
    """
    context = ctx or VerifyContext()
    text = text.rstrip("\r\n")  # some generators and apps end the payload with a line break
    for parse in parsers:
        try:
            credential = parse(text, context)
        except CredentialError as exc:
            return Credential(exc.kind, problem=exc.reason, problem_detail=exc.detail)
        if credential is not None:
            return credential
    return Credential(Kind.UNKNOWN)
