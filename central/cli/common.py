"""What every `kiosk-central` command shares: the database, one transaction per command, and how it refuses.

The commands' modules (accounts, declare, places, trace) and the package import this, never each other or the
package itself.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click
from sqlalchemy import Connection, Engine

from central.db import connect
from central.errors import CentralError


def engine_of(ctx: click.Context) -> Engine:
    if "engine" not in ctx.obj:
        try:
            ctx.obj["engine"] = connect(ctx.obj["url"])
        except Exception as exc:  # a wrong URL, a server down, a bad password: say which
            fail(f"cannot open the database {_redacted(ctx.obj['url'])}: {type(exc).__name__}: {exc}")
    engine: Engine = ctx.obj["engine"]
    return engine


@contextmanager
def transaction(ctx: click.Context) -> Iterator[Connection]:
    try:
        with engine_of(ctx).begin() as conn:
            yield conn
    except CentralError as exc:
        fail(str(exc))


def fail(message: str) -> NoReturn:
    click.echo(f"kiosk-central: {message}", err=True)
    sys.exit(1)


def _redacted(url: str) -> str:
    from kiosk.redact import redact_url

    return redact_url(url)
