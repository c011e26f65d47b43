"""Serving the API with uvicorn, one or several worker processes (each builds its app from the environment)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from central.api import create_app
from central.db import connect, resolve_url
from central.maintenance import Maintenance
from central.passkeys import ENV as PASS_KEY_ENV
from central.passkeys import load_pass_key, pass_key_path, publish
from central.ratelimit import ADDRESS_ENV, DEVICE_ENV, limiter_from_env
from central.readside import READ_DB_ENV, read_engine
from central.secret import load_secret, secret_path
from central.timeutil import utcnow
from central.webhooks.delivery import Delivery, DeliveryWorker


def app_from_env() -> FastAPI:
    """The app of one worker: database and secret from $KIOSK_CENTRAL_DB and $KIOSK_CENTRAL_SECRET_FILE, request
    limits from $KIOSK_CENTRAL_DEVICE_LIMIT and $KIOSK_CENTRAL_ADDRESS_LIMIT (central/ratelimit.py)."""
    engine = connect(resolve_url(None))
    retention, audit = (os.environ.get(f"KIOSK_CENTRAL_{name}_DAYS") for name in ("RETENTION", "AUDIT_RETENTION"))
    Maintenance(engine, int(retention) if retention else None, audit_days=int(audit) if audit else None).start()
    DeliveryWorker(Delivery(engine)).start()  # webhooks: each worker process sends, leases keep them apart
    # Session cookies are sent over HTTPS only when the server or its proxy speaks TLS.
    secure = bool(os.environ.get("KIOSK_CENTRAL_SECURE_COOKIES"))
    secret = secret_path(None, resolve_url(None))
    pass_key = load_pass_key(pass_key_path(None, secret))
    limits = limiter_from_env(os.environ)
    reads = read_engine(None)  # $KIOSK_CENTRAL_READ_DB: the dashboard and tracing read on the standby
    return create_app(
        engine, load_secret(secret), pass_key=pass_key, secure_cookies=secure, rate_limits=limits, read_engine=reads
    )


@dataclass(frozen=True)
class Listen:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    tls_cert: str | None = None  # PEM certificate (chain) and key: serve HTTPS directly, without a proxy
    tls_key: str | None = None
    device_limit: str | None = None  # "10/s,600", "off"; None: $KIOSK_CENTRAL_DEVICE_LIMIT, else the default
    address_limit: str | None = None
    read_db: str | None = None  # where the dashboard and tracing read (a standby); None: $KIOSK_CENTRAL_READ_DB


def run(
    url: str, secret: Path, listen: Listen, retention_days: int | None = None, audit_days: int | None = None
) -> None:
    load_secret(secret)  # made now, once, not by racing workers
    pass_key_file = pass_key_path(None, secret)
    key = load_pass_key(pass_key_file)  # likewise; and kiosks learn its public half from the trust list
    engine = connect(url)
    with engine.begin() as conn:
        publish(conn, key, utcnow())
    engine.dispose()
    os.environ[PASS_KEY_ENV] = str(pass_key_file)
    os.environ["KIOSK_CENTRAL_DB"] = url
    os.environ["KIOSK_CENTRAL_SECRET_FILE"] = str(secret)
    if retention_days:
        os.environ["KIOSK_CENTRAL_RETENTION_DAYS"] = str(retention_days)
    if audit_days:
        os.environ["KIOSK_CENTRAL_AUDIT_RETENTION_DAYS"] = str(audit_days)
    if listen.read_db:
        os.environ[READ_DB_ENV] = listen.read_db
    if listen.tls_cert:
        os.environ["KIOSK_CENTRAL_SECURE_COOKIES"] = "1"
    for variable, limit in ((DEVICE_ENV, listen.device_limit), (ADDRESS_ENV, listen.address_limit)):
        if limit is not None:
            os.environ[variable] = limit
    uvicorn.run(
        "central.server:app_from_env",
        factory=True,
        host=listen.host,
        port=listen.port,
        workers=listen.workers,
        ssl_certfile=listen.tls_cert,
        ssl_keyfile=listen.tls_key,
        log_level="info",
    )
