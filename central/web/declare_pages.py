"""The public health declaration: a form anyone can fill in on a phone, and the signed pass it gives.

No account: the form is protected by a double-submit token (a cookie and a hidden field that must match), and
only the answers needed for the status are kept (central/declarations/). The pass is shown as a large QR
code for a phone screen, printable, with a PNG to download.

No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
"""

import base64
import logging
from typing import Annotated

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from central.declarations.form import SYMPTOMS, FormInvalid, validate_form
from central.declarations.issuing import submit
from central.declarations.render import qr_png, qr_svg
from central.declarations.settings import contact_public_key, pass_issuer, valid_hours
from central.errors import CentralError
from central.web.core import FORM_COOKIE, Web, form_token, language
from central.web.messages import CATALOGUE, Message

log = logging.getLogger(__name__)
SYMPTOM_NAMES = {
    "fever": ("Sốt", "Fever"),
    "cough": ("Ho", "Cough"),
    "shortness_of_breath": ("Khó thở", "Shortness of breath"),
    "sore_throat": ("Đau họng", "Sore throat"),
    "loss_of_taste_smell": ("Mất vị giác hoặc khứu giác", "Loss of taste or smell"),
    "fatigue": ("Mệt mỏi", "Fatigue"),
    "none": ("Không có triệu chứng nào", "No symptoms"),
}
FIELDS = ("identity_type", "identity_number", "phone", "contact_confirmed", "lockdown_area", "travel")
PHONE_NOTICE = {True: Message("declare.phone_sealed"), False: Message("declare.phone_discarded")}


def add_routes(app: FastAPI, web: Web) -> None:
    def form_page(
        request: Request, token: str, values: dict[str, object], errors: dict[str, Message], status: int = 200
    ) -> Response:
        return web.render(
            request,
            "declare.html",
            status=status,
            form_token=token,
            values=values,
            errors=errors,
            labels=_labels(errors),
            symptoms=SYMPTOMS,
            symptom_names=SYMPTOM_NAMES,
            offered=web.pass_key is not None,
            phone_notice=PHONE_NOTICE[_phone_kept(web.engine)],
        )

    @app.get("/declare", response_class=HTMLResponse, include_in_schema=False)
    def declare_form(request: Request) -> Response:
        return form_page(request, form_token(request), {"symptoms": []}, {})

    @app.post("/declare", response_class=HTMLResponse, include_in_schema=False)
    def declare(
        request: Request,
        csrf: Annotated[str, Form()] = "",
        identity_type: Annotated[str, Form()] = "",
        identity_number: Annotated[str, Form()] = "",
        phone: Annotated[str, Form()] = "",
        symptoms: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies defaults per request)
        contact_confirmed: Annotated[str, Form()] = "",
        lockdown_area: Annotated[str, Form()] = "",
        travel: Annotated[str, Form()] = "",
    ) -> Response:
        web.check_csrf(request.cookies.get(FORM_COOKIE), csrf)
        values: dict[str, object] = {
            "identity_type": identity_type[:20],
            "identity_number": identity_number[:40],
            "phone": phone[:40],
            "symptoms": symptoms[: len(SYMPTOMS)],
            "contact_confirmed": contact_confirmed[:3],
            "lockdown_area": lockdown_area[:3],
            "travel": travel[:400],  # the form says 200; more is refused by validation, with the text kept
        }
        if web.pass_key is None:
            return form_page(request, csrf, values, {}, status=503)
        lang = language(request)
        answers = {k: v for k, v in values.items() if v != ""} | {"language": lang}
        for name in ("contact_confirmed", "lockdown_area"):  # radio buttons: "yes", "no", or not answered
            if name in answers:
                answers[name] = {"yes": True, "no": False}.get(str(answers[name]), answers[name])
        try:
            declaration = validate_form(answers)
        except FormInvalid as invalid:
            errors = {name: Message(f"declare.{code}") for name, code in invalid.codes.items()}
            return form_page(request, csrf, values, errors, status=422)
        key = web.pass_key
        with web.engine.begin() as conn:
            try:
                issued = submit(
                    conn,
                    declaration,
                    secret=web.secret,
                    pass_key=key.private,
                    kid=key.kid,
                    now=web.clock(),
                    valid_h=valid_hours(conn),
                    issuer=pass_issuer(conn),
                )
            except CentralError as exc:  # the pass key not in the trust list yet, or a damaged contact key setting
                log.error("a declaration could not be issued: %s", exc)  # what the operator is to do; not the person
                return form_page(request, csrf, values, {"form": Message("declare.unavailable")}, status=503)
        png = base64.b64encode(qr_png(issued.pass_text)).decode("ascii")
        return web.render(
            request,
            "pass.html",
            issued=issued,
            qr=qr_svg(issued.pass_text),
            png=png,
            phone_notice=PHONE_NOTICE[issued.contact_stored],
        )


def _labels(errors: dict[str, Message]) -> dict[str, Message]:
    """The names of the fields in error, for the summary above the form ("form": an error of none of them)."""
    return {name: Message(f"declare.field.{name}") for name in errors if f"declare.field.{name}" in CATALOGUE}


def _phone_kept(engine: Engine) -> bool:
    """Whether a phone given now would be kept (sealed to the health service's key) or dropped."""
    try:
        with engine.connect() as conn:
            return contact_public_key(conn) is not None
    except CentralError:  # a damaged key setting: no declaration can be made until it is replaced
        return False
