"""What a QR code is and whose it is: parsers (pure, no I/O) and the subject key that replaces identity."""

from kiosk.credentials.base import Credential, CredentialError, Identity, Kind
from kiosk.credentials.reader import read_credential
from kiosk.credentials.subject import SubjectKeyer

__all__ = ["Credential", "CredentialError", "Identity", "Kind", "SubjectKeyer", "read_credential"]
