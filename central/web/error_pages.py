"""What a person sees when a page cannot answer: sign in first, not allowed, no such page, a form that cannot be
read, a server error. Each is a page in the visitor's language, with the catalogue's title and what to do.

The API (/api/, /healthz) keeps FastAPI's JSON answers: kiosks read them, not people.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from central.web.core import LoginRequired, NotAllowed, Web, is_page, login_url
from central.web.messages import Message

EXPLAINED = {403, 404, 405, 413, 422, 500}  # statuses with a message of their own; "page.other" for the rest


def add_handlers(app: FastAPI, web: Web) -> None:
    def error_page(request: Request, status: int) -> Response:
        name = f"page.{status}" if status in EXPLAINED else "page.other"
        return web.render(request, "error.html", status=status, title=Message(name), help=Message(f"{name}.help"))

    @app.exception_handler(LoginRequired)
    async def to_login(_: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(login_url(exc.target), status_code=303)

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, _: NotAllowed) -> Response:
        return error_page(request, 403)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if not is_page(request.url.path):
            return await http_exception_handler(request, exc)
        page = error_page(request, exc.status_code)
        page.headers.update(exc.headers or {})  # Allow, for a 405
        return page

    @app.exception_handler(RequestValidationError)
    async def unreadable_form(request: Request, exc: RequestValidationError) -> Response:
        if not is_page(request.url.path):
            return await request_validation_exception_handler(request, exc)
        return error_page(request, 422)

    @app.exception_handler(Exception)
    async def server_error(request: Request, _: Exception) -> Response:
        # Starlette logs the exception with its traceback after this answer; the person gets no detail.
        if not is_page(request.url.path):
            return PlainTextResponse("Internal Server Error", status_code=500)
        return error_page(request, 500)
