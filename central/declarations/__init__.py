"""Electronic health declarations: the answers, the status they give, and the signed pass the centre issues.

A person declares identity, contact phone, symptoms, exposure and recent travel; `submit` stores the
declaration and returns an `HD1:` pass (docs/pass-format.md) that kiosks verify offline. What is kept:

- the subject key, never the ID number: the keyed hash a kiosk derives from the same person's CCCD card or
  PC-Covid code (`SubjectKeyer` over the same `Identity` the kiosk's parsers build);
- the answers the status was judged from (symptoms, exposure, travel, language), without identity or phone;
- the phone only sealed to the health service's public key (central/sealing.py), or not at all when no such key
  is configured. The name is not asked for.

Status rule (`STATUS_RULES`, the worst answer wins): red for fever, shortness of breath, or contact with a
confirmed case in the last 14 days; yellow for any other symptom or a stay in a lockdown area; green otherwise.
Travel is free text and judged by no one but a person reading it. See docs/declarations.md.

The package, by concern: `form` (the answers, their checks and messages, the status rule), `issuing` (storing a
declaration with its pass, opening a stored phone, purging), `settings` (validity, issuer, contact key) and
`render` (the pass as a QR code). Everything is re-exported here.
"""

from central.declarations.form import (
    MAX_TRAVEL,
    MESSAGES,
    SEVERITY,
    STATUS_RULES,
    SYMPTOMS,
    DeclarationForm,
    FormInvalid,
    Language,
    Status,
    Symptom,
    identity_of,
    status_for,
    validate_form,
)
from central.declarations.issuing import (
    Issued,
    contact_context,
    listed_status,
    open_contact,
    purge,
    stored_answers,
    submit,
)
from central.declarations.render import qr_png, qr_svg
from central.declarations.settings import (
    CONTACT_KEY,
    DEFAULT_ISSUER,
    DEFAULT_VALID_H,
    ISSUER_KEY,
    MAX_VALID_H,
    VALID_H_KEY,
    contact_public_key,
    pass_issuer,
    set_contact_public_key,
    set_pass_issuer,
    set_valid_hours,
    valid_hours,
)

__all__ = [
    "CONTACT_KEY",
    "DEFAULT_ISSUER",
    "DEFAULT_VALID_H",
    "ISSUER_KEY",
    "MAX_TRAVEL",
    "MAX_VALID_H",
    "MESSAGES",
    "SEVERITY",
    "STATUS_RULES",
    "SYMPTOMS",
    "VALID_H_KEY",
    "DeclarationForm",
    "FormInvalid",
    "Issued",
    "Language",
    "Status",
    "Symptom",
    "contact_context",
    "contact_public_key",
    "identity_of",
    "listed_status",
    "open_contact",
    "pass_issuer",
    "purge",
    "qr_png",
    "qr_svg",
    "set_contact_public_key",
    "set_pass_issuer",
    "set_valid_hours",
    "status_for",
    "stored_answers",
    "submit",
    "valid_hours",
    "validate_form",
]
