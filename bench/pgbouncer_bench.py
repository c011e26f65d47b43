"""Where a pooler pays in front of the province centre's PostgreSQL: pgbouncer against direct connections.

One throwaway PostgreSQL 15 cluster (initdb in a temporary directory, loopback, scram-sha-256 over TCP,
`max_connections` 100 as PostgreSQL ships it, durability off as in scripts/with-postgres.sh, connections logged
so that they can be counted) and Debian's pgbouncer (1.18) in front of it: `pool_mode = transaction`,
`auth_type = scram-sha-256` with an auth_file holding the role's SCRAM secret, `default_pool_size` 20, run as the
postgres user with its config in the same directory. Both are stopped by PID and the directory removed whatever
happens. Measured in the same run, each direct (the baseline) and through pgbouncer:

1. Connection set-up: open (scram), `SELECT 1`, close, one after the other, wall and client CPU p50/p95; and the
   whole CLI (`kiosk-central --db URL unit list`) as a staff member runs it.
2. The centre's upload path: `kiosk-central serve --workers N` in a subprocess (request limits off: 200 kiosks
   share one loopback address), every kiosk a thread with its own Ed25519 key and token (tests/central_fixtures.py's
   DeviceClient), all at once: each sends --rounds batches of --batch events (gzip, bodies made before the clock
   starts), each followed by a heartbeat, with the kiosk's timeouts (5 s connect, 20 s read), and sends a batch
   not held again after its Retry-After (1 s without one), at most 10 times, until --case-limit seconds have
   passed. Events/s, a batch's time to held and a heartbeat's p50/p95, the answers by status, the centre's server
   connections at peak (pg_stat_activity every 50 ms) and the connections PostgreSQL authorised meanwhile.
   Cases: --workers workers (their pools, 5 + 10 connections each, fit in max_connections) direct as shipped,
   direct with psycopg's server-side prepared statements off, through pgbouncer with them on (what breaks) and
   off; --many-workers workers (their pools pass max_connections) direct and through pgbouncer; with
   --few-workers N, N workers for the 200 kiosks (more requests per worker than its 40 threads), direct and
   through pgbouncer with a pool of --wide-pool connections per worker.
3. The API's upload and heartbeat transactions on one connection, no HTTP: direct with and without prepared
   statements, and through pgbouncer (what its hop costs), blocks interleaved --repeats times.

psycopg 3 prepares a statement on the server after 5 executions on one connection; pgbouncer 1.18 in
transaction mode hands each transaction whichever server connection is free, where that statement is missing or
another one has its name. A province turns them off with `?prepare_threshold=none` in the centre's URL
(central/db.py); the bench, written before that setting, turns them off from outside for the cases that say so:
this file, run as the server (`--serve`), registers a `do_connect` listener that gives psycopg
`prepare_threshold=None` (and, for --wide-pool, sizes central.db's engine) in every uvicorn worker (spawned
workers import the main module again), which has the same effect.

    .venv/bin/python bench/pgbouncer_bench.py [--devices 200] [--rounds 5] [--batch 50] [--workers 6]
        [--many-workers 8] [--few-workers 2] [--max-connections 100] [--pool-size 20] [--json] [--logs DIR]

About 6 minutes on 2 cores with the defaults, 9 with --few-workers 2 (its cases wait out their time limit).
Needs PostgreSQL 15 and pgbouncer: `scripts/system-deps.sh postgresql pgbouncer`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import requests
from common import add_repo_to_path, emit, machine, pct

add_repo_to_path()

from ingest import _event, enrolment_codes  # noqa: E402
from sqlalchemy import Engine, create_engine, event  # noqa: E402

from central.devices import authenticate, record_heartbeat  # noqa: E402
from central.ingest import ingest  # noqa: E402
from central.models import UploadRequest  # noqa: E402
from central.rollup import mark_heard  # noqa: E402
from tests.pgclusters import PG_BINARIES, _as_owner, _free_port, missing_binaries  # noqa: E402

PGBOUNCER = Path("/usr/sbin/pgbouncer")
PASSWORD = "bench-kiosk"  # noqa: S105  # the centre's role, kiosk, in a throwaway cluster (scram-sha-256)
NO_PREPARES_ENV = "KIOSK_BENCH_NO_PREPARES"
SERVE = "--serve"  # run as `kiosk-central`: the server subprocess of a case
MAX_TRIES = 10  # a batch not held after this many answers is given up on (counted)
SAMPLE_EVERY_S = 0.05
TIMEOUT = (5.0, 20.0)  # connect, read: the kiosk's (kiosk/sync/client.py)
START_TIMEOUT_S = 120.0  # 8 workers starting on 2 busy cores take more than ingest.py's 30 s
POOL_ENV = "KIOSK_BENCH_POOL"

if TYPE_CHECKING:  # imported when used: the server subprocess (this file, --serve) has no need of pytest
    from tests.central_fixtures import DeviceClient


def _no_prepares(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
    """The change central/db.py needs behind pgbouncer in transaction mode: psycopg never prepares."""
    cparams["prepare_threshold"] = None


def _pool_sized(size: int, overflow: int) -> None:
    """central.db.connect's engines with another pool size (the centre has no setting for it)."""
    import central.db

    setattr(central.db, "create_engine", partial(create_engine, pool_size=size, max_overflow=overflow))  # noqa: B010


# In the server process (this file, --serve) and each uvicorn worker it spawns, which imports this file again.
if os.environ.get(NO_PREPARES_ENV):
    event.listen(Engine, "do_connect", _no_prepares)
if os.environ.get(POOL_ENV):
    _pool_sized(*(int(n) for n in os.environ[POOL_ENV].split(",")))


class Postgres:
    """One throwaway cluster on a free loopback port, its socket and data in the run's directory."""

    def __init__(self, root: Path) -> None:
        self.root, self.data, self.log = root, root / "data", root / "postgres.log"
        self.port = _free_port()
        self.running = False

    def init(self) -> None:
        password = self.root / "superuser-password"
        password.write_text(uuid.uuid4().hex + "\n")
        done = _as_owner(
            str(PG_BINARIES / "initdb"), "-D", str(self.data), "-U", "postgres", "--pwfile", str(password),
            "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr}")

    def start(self, max_connections: int) -> None:
        settings = {
            "listen_addresses": "127.0.0.1", "max_connections": max_connections, "fsync": "off",
            "synchronous_commit": "off", "full_page_writes": "off", "log_connections": "on",
        }  # fmt: skip
        options = f"-p {self.port} -k {self.root} " + " ".join(f"-c {k}={v}" for k, v in settings.items())
        command = ["-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start"]
        done = _as_owner(str(PG_BINARIES / "pg_ctl"), *command)
        if done.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {done.stderr}\n{self.log.read_text()[-2000:]}")
        self.running = True

    def stop(self) -> None:
        if self.running:
            for mode in ("fast", "immediate"):
                stopped = _as_owner(str(PG_BINARIES / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
                if stopped.returncode == 0:
                    break
            self.running = False

    def admin(self) -> psycopg.Connection[Any]:
        """The superuser over the private socket (trust): for setting up and watching, never the centre's way in."""
        return psycopg.connect(host=str(self.root), port=self.port, user="postgres", dbname="postgres", autocommit=True)

    def make_centre_database(self) -> str:
        """The role and database the centre uses; returns the role's SCRAM secret, for pgbouncer's auth_file."""
        with self.admin() as conn:
            conn.execute(f"CREATE ROLE kiosk LOGIN PASSWORD '{PASSWORD}'")
            conn.execute("CREATE DATABASE kiosk OWNER kiosk")
            row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'kiosk'").fetchone()
        assert row is not None and str(row[0]).startswith("SCRAM-SHA-256$")
        return str(row[0])

    def connections_opened(self) -> int:
        """Connections the server has authorised since it was made (its log, one line each), those it then refused
        for want of a slot ("remaining connection slots are reserved") included."""
        return self.log.read_text(errors="replace").count("connection authorized")


class PgBouncer:
    """pgbouncer on a free loopback port, in transaction mode, run as the postgres user (it refuses root)."""

    def __init__(self, root: Path, postgres_port: int, secret: str, pool_size: int) -> None:
        self.root, self.port = root, _free_port()
        self.postgres_port, self.secret, self.pool_size = postgres_port, secret, pool_size
        self.process: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        return f"""[databases]
kiosk = host=127.0.0.1 port={self.postgres_port} dbname=kiosk

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {self.root / "userlist.txt"}
pool_mode = transaction
default_pool_size = {self.pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 2000
server_idle_timeout = 600
query_wait_timeout = 30
logfile = {self.root / "pgbouncer.log"}
"""

    def start(self) -> None:
        """Started afresh (a new port, no server connections left over from an earlier case)."""
        self.stop()
        self.port = _free_port()
        (self.root / "userlist.txt").write_text(f'"kiosk" "{self.secret}"\n')
        (self.root / "pgbouncer.ini").write_text(self.config())
        if os.geteuid() == 0:
            for name in ("userlist.txt", "pgbouncer.ini"):
                shutil.chown(self.root / name, "postgres", "postgres")
        (self.root / "userlist.txt").chmod(0o600)
        as_postgres: dict[str, Any] = {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}
        log = (self.root / "pgbouncer.out").open("wb")
        self.process = subprocess.Popen(
            [str(PGBOUNCER), str(self.root / "pgbouncer.ini")], stdout=log, stderr=subprocess.STDOUT, **as_postgres
        )
        log.close()
        _wait_listening(self.port, self.process)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # immediate shutdown
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def cpu_s(self, running: bool = True) -> float:
        """pgbouncer's CPU seconds so far (user + system); 0 when it is not `running`."""
        if not running or self.process is None:
            return 0.0
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"pgbouncer did not listen on {port} within {timeout_s} s")


@dataclass
class Site:
    """What a run sets up: the cluster, pgbouncer in front of it, a working directory."""

    root: Path
    postgres: Postgres
    bouncer: PgBouncer

    def url(self, pooled: bool) -> str:
        port = self.bouncer.port if pooled else self.postgres.port
        return f"postgresql+psycopg://kiosk:{PASSWORD}@127.0.0.1:{port}/kiosk"


@contextmanager
def site(max_connections: int, pool_size: int, logs: Path | None) -> Iterator[Site]:
    """The cluster and pgbouncer, stopped and removed on leaving; their logs and the server's copied to `logs`."""
    root = Path(tempfile.mkdtemp(prefix="bench-pgbouncer-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    postgres = Postgres(root)
    bouncer: PgBouncer | None = None
    try:
        postgres.init()
        postgres.start(max_connections)
        bouncer = PgBouncer(root, postgres.port, postgres.make_centre_database(), pool_size)
        bouncer.start()
        yield Site(root, postgres, bouncer)
    finally:
        if bouncer:
            bouncer.stop()
        postgres.stop()
        if logs:
            logs.mkdir(parents=True, exist_ok=True)
            for log in (root / "postgres.log", root / "pgbouncer.log", root / "centre" / "serve.log"):
                if log.exists():
                    shutil.copy(log, logs / log.name)
        shutil.rmtree(root, ignore_errors=True)


# --- 1. connection set-up ---------------------------------------------------------------------------------------


def connect_cost(port: int, count: int) -> dict[str, Any]:
    """Open (scram-sha-256), SELECT 1, close, `count` times one after the other: wall and client CPU, ms."""
    wall, cpu = [], []
    for _ in range(count):
        began, began_cpu = time.perf_counter(), time.process_time()
        with psycopg.connect(host="127.0.0.1", port=port, user="kiosk", password=PASSWORD, dbname="kiosk") as conn:
            conn.execute("SELECT 1").fetchone()
        wall.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
    return {"wall_ms": pct(wall), "client_cpu_ms": pct(cpu)}


def cli_cost(url: str, work: Path, runs: int) -> dict[str, Any]:
    """`kiosk-central --db URL unit list`, the whole process, `runs` times: seconds, and whether it worked."""
    seconds, failures = [], []
    for _ in range(runs):
        began = time.perf_counter()
        command = [sys.executable, "-m", "central", "--db", url, "--secret-file", str(work / "central.secret")]
        done = subprocess.run(
            [*command, "unit", "list"], capture_output=True, text=True, cwd=work, timeout=120, check=False
        )
        seconds.append(time.perf_counter() - began)
        if done.returncode != 0:
            failures.append(done.stderr.strip().splitlines()[-1:])
    return {"seconds": pct(seconds), "failed": len(failures), "errors": failures[:2]}


# --- 2. the upload path -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    workers: int
    pooled: bool
    prepares: bool = True
    pool: tuple[int, int] | None = None  # the engine's pool_size and max_overflow; None: SQLAlchemy's 5 and 10
    rounds: int | None = None  # None: --rounds


def upload_document(boot: str, after: int, batch: int, now: float) -> dict[str, Any]:
    """An upload as the kiosk sends it: its clock and `batch` new events numbered from `after` + 1."""
    events = [_event(boot, after + n + 1, now) for n in range(batch)]
    return {"device_time": {"wall": now, "mono": 100_000.0, "boot_id": boot, "synced": False}, "events": events}


@dataclass
class Kiosk:
    """A DeviceClient (enrolment, token) with its batches and what it saw; it sends as the kiosk's uploader does:
    read timeout 20 s (kiosk/sync/client.py), then the same batch again."""

    device: DeviceClient
    bodies: list[bytes] = field(default_factory=list)
    upload_ms: list[float] = field(default_factory=list)
    heartbeat_ms: list[float] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)
    held: int = 0
    lost: int = 0  # given up on: not held after MAX_TRIES answers, or by the case's deadline
    unsent: int = 0  # not sent: the case's deadline came first

    def prepare(self, rounds: int, batch: int) -> None:
        boot, now = str(uuid.uuid4()), time.time()
        self.bodies, self.upload_ms, self.heartbeat_ms, self.answers = [], [], [], Counter()
        self.held = self.lost = self.unsent = 0
        for number in range(rounds):
            document = upload_document(boot, number * batch, batch, now)
            self.bodies.append(gzip.compress(json.dumps(document).encode(), 6))

    def login(self) -> None:
        """Challenge, sign, token, retried on a failed answer (counted): prepared statements break even this."""
        for _ in range(MAX_TRIES):
            try:
                challenged = self.device.challenge()
                if challenged.status_code == 200:
                    answer = self.device.request_token(challenged.json()["nonce"])
                    if answer.status_code == 200:
                        self.device.token = answer.json()["token"]
                        return
                    challenged = answer
                self.answers[f"login {challenged.status_code}"] += 1
            except requests.RequestException as exc:
                self.answers[f"login {type(exc).__name__}"] += 1
            time.sleep(0.2)
        raise SystemExit(f"{self.device.name} could not log in: {dict(self.answers)}")

    def run(self, start: threading.Barrier, batch: int, deadline: float) -> None:
        start.wait()
        for body in self.bodies:
            if time.monotonic() > deadline:
                self.unsent += batch
                continue
            began = time.perf_counter()
            if self.upload(body, deadline):
                self.held += batch
                self.upload_ms.append((time.perf_counter() - began) * 1000)
            else:
                self.lost += batch
            began = time.perf_counter()
            status = self.send("/api/v1/heartbeat", json.dumps({"backlog": 0, "clock_synced": False}).encode())
            self.heartbeat_ms.append((time.perf_counter() - began) * 1000)
            self.answers[f"heartbeat {status[0]}"] += 1

    def upload(self, body: bytes, deadline: float) -> bool:
        """Send until held, waiting each answer's Retry-After (1 s without one, or after a timeout)."""
        for _ in range(MAX_TRIES):
            status, retry_after = self.send("/api/v1/events", body, gzipped=True)
            self.answers[f"upload {status}"] += 1
            if status == "200":
                return True
            if time.monotonic() + retry_after > deadline:
                break
            time.sleep(retry_after)
        return False

    def send(self, path: str, body: bytes, gzipped: bool = False) -> tuple[str, float]:
        """POST a JSON body: the answer's status (or the exception's name) and its Retry-After."""
        headers = {"Content-Type": "application/json", **self.device.auth_header()}
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        try:
            answer = self.device.session.post(self.device.base_url + path, data=body, headers=headers, timeout=TIMEOUT)
        except requests.RequestException as exc:  # a timeout or a reset: the kiosk tries again
            return type(exc).__name__, 1.0
        return str(answer.status_code), float(answer.headers.get("Retry-After", "1"))


class PeakSampler(threading.Thread):
    """Server connections to the centre's database, all and active, every 50 ms: the highest seen."""

    def __init__(self, postgres: Postgres) -> None:
        super().__init__(daemon=True)
        self.postgres, self.stopping = postgres, threading.Event()
        self.peak = self.peak_active = 0

    def run(self) -> None:
        query = (
            "SELECT count(*), count(*) FILTER (WHERE state = 'active') FROM pg_stat_activity"
            " WHERE datname = 'kiosk' AND backend_type = 'client backend'"
        )
        with self.postgres.admin() as conn:
            while not self.stopping.wait(SAMPLE_EVERY_S):
                row = conn.execute(query).fetchone()
                assert row is not None
                self.peak, self.peak_active = max(self.peak, int(row[0])), max(self.peak_active, int(row[1]))


@contextmanager
def served(url: str, work: Path, case: Case) -> Iterator[str]:
    """This file as `kiosk-central serve` on a free loopback port (see SERVE), request limits off (200 kiosks share
    one address here), with the case's prepared statements and pool; its base URL once /healthz answers."""
    port = _free_port()
    command = [sys.executable, str(Path(__file__).resolve()), SERVE, "--db", url]
    command += ["--secret-file", str(work / "central.secret"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(case.workers), "--device-limit", "off", "--address-limit", "off"]
    env = {**os.environ, NO_PREPARES_ENV: "" if case.prepares else "1"}
    env[POOL_ENV] = ",".join(str(n) for n in case.pool) if case.pool else ""
    log = (work / "serve.log").open("ab")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=work, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, server)
        yield base
    finally:
        _stop(server)
        log.close()


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGINT (uvicorn stops its workers and waits for their requests), then, after 30 s, SIGKILL to the server
    and to each of its workers, by PID: a worker stuck on its requests would outlive its parent."""
    workers = _children(server.pid)
    server.send_signal(signal.SIGINT)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        pass
    finally:
        for pid in [*workers, server.pid]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        server.wait(5)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _wait_healthy(base: str, server: subprocess.Popen[bytes]) -> None:
    """Until every worker answers: /healthz asked until `workers` different server processes have said so is
    not possible from outside, so until it answers, then a second more for the others to finish starting."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"kiosk-central serve exited with {server.returncode}; see its log (--logs)")
        try:
            if requests.get(base + "/healthz", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"kiosk-central serve did not answer within {START_TIMEOUT_S} s")


def enrol(place: Site, work: Path, count: int) -> list[Kiosk]:
    """`count` kiosks enrolled at one venue, through a direct server."""
    from tests.central_fixtures import DeviceClient

    codes = enrolment_codes(place.url(pooled=False), count)
    with served(place.url(pooled=False), work, Case("enrolment", 1, pooled=False)) as base:
        kiosks = [Kiosk(DeviceClient(base, name=f"bench-{n}")) for n in range(count)]
        for kiosk, code in zip(kiosks, codes, strict=True):
            answer = kiosk.device.enroll(code)
            if answer.status_code != 201:
                raise SystemExit(f"enrolment failed: {answer.status_code} {answer.text[:200]}")
    return kiosks


def upload_case(case: Case, place: Site, work: Path, kiosks: list[Kiosk], args: argparse.Namespace) -> dict[str, Any]:
    """All kiosks at once against a server of `case.workers` workers, direct or through pgbouncer."""
    for kiosk in kiosks:
        kiosk.prepare(case.rounds or args.rounds, args.batch)
    log_mark = _log_size(work / "serve.log")
    stored_before = _stored(place.postgres)
    if case.pooled:
        place.bouncer.start()  # afresh: no server connections left from an earlier case
    else:
        place.bouncer.stop()  # its idle server connections would count as the centre's
    with served(place.url(case.pooled), work, case) as base:
        for kiosk in kiosks:
            kiosk.device.base_url = base
            kiosk.login()
        opened_before, cpu_before = place.postgres.connections_opened(), place.bouncer.cpu_s(case.pooled)
        elapsed, sampler = _drive(kiosks, place.postgres, args.batch, args.case_limit)
        opened = place.postgres.connections_opened() - opened_before
        bouncer_cpu = place.bouncer.cpu_s(case.pooled) - cpu_before
    held, lost, unsent = (sum(getattr(k, name) for k in kiosks) for name in ("held", "lost", "unsent"))
    stored = _stored(place.postgres) - stored_before
    if not held <= stored <= held + lost:  # a batch given up on may have been stored all the same
        raise SystemExit(f"{case.name}: {held} events answered held, {stored} stored")
    return {
        "case": case.name, "workers": case.workers, "through": "pgbouncer" if case.pooled else "direct",
        "prepared_statements": case.prepares, "pool": list(case.pool or (5, 10)),
        "events_held": held, "events_given_up": lost, "events_not_sent": unsent, "events_stored": stored,
        "seconds": round(elapsed, 2), "events_per_s": round(held / elapsed),
        "upload_ms": pct([ms for k in kiosks for ms in k.upload_ms] or [0.0]),
        "heartbeat_ms": pct([ms for k in kiosks for ms in k.heartbeat_ms]),
        "answers": dict(sorted(sum((k.answers for k in kiosks), Counter()).items())),
        "server_connections_peak": sampler.peak, "server_connections_peak_active": sampler.peak_active,
        "server_connections_opened": opened,
        "pgbouncer_cpu_s": round(bouncer_cpu, 2) if case.pooled else None,
        "server_errors": _errors(work / "serve.log", log_mark),
    }  # fmt: skip


def _drive(kiosks: list[Kiosk], postgres: Postgres, batch: int, limit_s: float) -> tuple[float, PeakSampler]:
    sampler = PeakSampler(postgres)
    start = threading.Barrier(len(kiosks) + 1)
    deadline = time.monotonic() + limit_s
    threads = [threading.Thread(target=k.run, args=(start, batch, deadline), daemon=True) for k in kiosks]
    for thread in threads:
        thread.start()
    sampler.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    sampler.stopping.set()
    sampler.join()
    return elapsed, sampler


def _stored(postgres: Postgres) -> int:
    with psycopg.connect(host=str(postgres.root), port=postgres.port, user="postgres", dbname="kiosk") as conn:
        result = conn.execute("SELECT count(*) FROM events").fetchone()
    assert result is not None
    return int(result[0])


def _log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


ERROR_LINE = re.compile(r"(psycopg\.errors\.\w+|psycopg\.\w+Error|sqlalchemy\.exc\.\w+): (.*)")


def _errors(log: Path, since: int) -> dict[str, int]:
    """The server's database errors in its log since `since` (bytes), by class and first words."""
    with log.open("rb") as text:
        text.seek(since)
        lines = text.read().decode(errors="replace").splitlines()
    found: Counter[str] = Counter()
    for line in lines:
        match = ERROR_LINE.search(line)
        if match and not match.group(1).startswith("sqlalchemy"):
            found[f"{match.group(1)}: {match.group(2)[:80]}"] += 1
        elif "database unavailable" in line:
            found[line.split("database unavailable", 1)[1][:100].strip()] += 1
    return dict(found.most_common(5))


# --- 3. the same transactions on one connection -----------------------------------------------------------------

ONE_CONNECTION_WAYS = {  # name: through pgbouncer, psycopg's prepare_threshold
    "direct, prepared statements on (as shipped)": (False, 5),
    "direct, prepared statements off": (False, None),
    "pgbouncer, prepared statements off": (True, None),
}


def one_connection(place: Site, token: str, batch: int, count: int, repeats: int) -> dict[str, Any]:
    """The API's two transactions, one after the other on one connection (no HTTP, no concurrency): an upload
    (authenticate the token, ingest `batch` events) and a heartbeat (authenticate, record_heartbeat, mark_heard),
    `count` of each per block, the ways' blocks interleaved `repeats` times so that drift on a shared machine falls
    on each alike: what the prepared statements save and what pgbouncer's hop costs, per transaction, in ms."""
    place.bouncer.start()
    engines = {
        name: create_engine(place.url(pooled), pool_pre_ping=True, connect_args={"prepare_threshold": threshold})
        for name, (pooled, threshold) in ONE_CONNECTION_WAYS.items()
    }
    samples: dict[str, dict[str, list[float]]] = {name: {"upload": [], "heartbeat": []} for name in engines}
    try:
        for _ in range(repeats):
            for name, engine in engines.items():
                _transactions(engine, token, [_upload(batch) for _ in range(count)], samples[name])
    finally:
        for engine in engines.values():
            engine.dispose()
    return {name: {kind: pct(ms) for kind, ms in kinds.items()} for name, kinds in samples.items()}


def _upload(batch: int) -> UploadRequest:
    return UploadRequest.model_validate(upload_document(str(uuid.uuid4()), 0, batch, time.time()))


def _transactions(engine: Engine, token: str, uploads: list[UploadRequest], samples: dict[str, list[float]]) -> None:
    for body in uploads:
        began = time.perf_counter()
        with engine.begin() as conn:  # as api.py's store_upload
            now = datetime.now(UTC)
            ingest(conn, authenticate(conn, token, now), body.device_time, body.events, now)
        samples["upload"].append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        with engine.begin() as conn:  # as api.py's heartbeat
            now = datetime.now(UTC)
            device = authenticate(conn, token, now)
            record_heartbeat(conn, device.id, {"backlog": 0, "clock_synced": False}, now)
            mark_heard(conn, device.venue_id, now)
        samples["heartbeat"].append((time.perf_counter() - began) * 1000)


# --- the run ----------------------------------------------------------------------------------------------------


def cases(args: argparse.Namespace) -> list[Case]:
    fit, many, few, wide = args.workers, args.many_workers, args.few_workers, (args.wide_pool, 0)
    return [
        Case(f"{fit} workers, direct (baseline: as shipped)", fit, pooled=False),
        Case(f"{fit} workers, direct, prepared statements off", fit, pooled=False, prepares=False),
        Case(f"{fit} workers, pgbouncer, prepared statements on", fit, pooled=True, rounds=2),
        Case(f"{fit} workers, pgbouncer, prepared statements off", fit, pooled=True, prepares=False),
        Case(f"{many} workers, direct", many, pooled=False),
        Case(f"{many} workers, pgbouncer, prepared statements off", many, pooled=True, prepares=False),
    ] + ([
        Case(f"{few} workers, direct", few, pooled=False),
        Case(f"{few} workers, pgbouncer, prepared statements off, pool {wide[0]}", few, True, False, pool=wide),
    ] if args.few_workers else [])  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    with site(args.max_connections, args.pool_size, args.logs) as place:
        work = place.root / "centre"
        work.mkdir()
        kiosks = enrol(place, work, args.devices)
        setup = {
            "direct": connect_cost(place.postgres.port, args.connects),
            "pgbouncer": connect_cost(place.bouncer.port, args.connects),
        }
        cli = {
            "direct": cli_cost(place.url(pooled=False), work, args.cli_runs),
            "pgbouncer": cli_cost(place.url(pooled=True), work, args.cli_runs),
        }
        uploads = [upload_case(case, place, work, kiosks, args) for case in cases(args)]
        token = kiosks[0].device.token  # the last case's, minutes old (tokens last 15 minutes)
        one = one_connection(place, token, args.batch, args.transactions, args.repeats)
        for kiosk in kiosks:
            kiosk.device.close()
    return {
        "machine": {**machine(), "postgresql": _version(PG_BINARIES / "postgres"), "pgbouncer": _version(PGBOUNCER)},
        "settings": {"max_connections": args.max_connections, "pgbouncer_default_pool_size": args.pool_size,
                     "devices": args.devices, "rounds": args.rounds, "batch": args.batch},
        "connection_setup_ms": setup, "cli_unit_list": cli, "uploads": uploads, "one_connection_ms": one,
    }  # fmt: skip


def _version(binary: Path) -> str:
    done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)
    return done.stdout.splitlines()[0] if done.stdout else "unknown"


def print_tables(result: dict[str, Any]) -> None:
    print(json.dumps(result["machine"]), "\n")
    print("| connection set-up, ms | wall p50 / p95 | client CPU p50 / p95 |\n| --- | ---: | ---: |")
    for way, cost in result["connection_setup_ms"].items():
        wall, cpu = cost["wall_ms"], cost["client_cpu_ms"]
        print(f"| {way} | {wall['p50']} / {wall['p95']} | {cpu['p50']} / {cpu['p95']} |")
    for way, cli in result["cli_unit_list"].items():
        seconds = cli["seconds"]
        print(f"\n`kiosk-central unit list`, {way}: {seconds['p50']} s p50, {cli['failed']} failed {cli['errors']}")
    head = "| case | events/s | held / given up / not sent | upload p50 / p95 ms | heartbeat p50 / p95 ms |"
    print("\n" + head + " peak conns (active) | opened | answers |\n| --- |" + " ---: |" * 7)
    for up in result["uploads"]:
        counts = f"{up['events_held']} / {up['events_given_up']} / {up['events_not_sent']}"
        print(
            f"| {up['case']} | {up['events_per_s']} | {counts} | {up['upload_ms']['p50']} / {up['upload_ms']['p95']} | "
            f"{up['heartbeat_ms']['p50']} / {up['heartbeat_ms']['p95']} | {up['server_connections_peak']} "
            f"({up['server_connections_peak_active']}) | {up['server_connections_opened']} | {up['answers']} |"
        )
        if up["server_errors"]:
            print(f"|  errors: {up['server_errors']} |" + " |" * 7)
    print("\n| one connection, ms | upload p50 / p95 | heartbeat p50 / p95 |\n| --- | ---: | ---: |")
    for way, kinds in result["one_connection_ms"].items():
        up, beat = kinds["upload"], kinds["heartbeat"]
        print(f"| {way} | {up['p50']} / {up['p95']} | {beat['p50']} / {beat['p95']} |")


def main() -> None:
    if sys.argv[1:2] == [SERVE]:  # the server subprocess of a case: kiosk-central itself
        from central.cli import main as kiosk_central

        sys.argv = ["kiosk-central", *sys.argv[2:]]
        kiosk_central()
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=200, help="simulated kiosks, each a thread")
    parser.add_argument("--rounds", type=int, default=5, help="batches (each with a heartbeat) each kiosk sends")
    parser.add_argument("--batch", type=int, default=50, help="events per batch")
    parser.add_argument("--workers", type=int, default=6, help="server processes whose pools fit max_connections")
    parser.add_argument("--many-workers", type=int, default=8, help="server processes whose pools pass it")
    parser.add_argument("--few-workers", type=int, default=0, help="also: this many workers, more kiosks than threads")
    parser.add_argument("--wide-pool", type=int, default=100, help="pool_size of each worker's engine behind pgbouncer")
    parser.add_argument("--transactions", type=int, default=100, help="per block, on one connection")
    parser.add_argument("--repeats", type=int, default=3, help="blocks of each way on one connection")
    parser.add_argument("--case-limit", type=float, default=60.0, help="seconds a case's kiosks may send for")
    parser.add_argument("--max-connections", type=int, default=100, help="PostgreSQL's (its default)")
    parser.add_argument("--pool-size", type=int, default=20, help="pgbouncer's default_pool_size")
    parser.add_argument("--connects", type=int, default=200, help="connections opened for the set-up cost")
    parser.add_argument("--cli-runs", type=int, default=3)
    parser.add_argument("--logs", type=Path, help="copy the servers' logs into this directory at the end")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for missing in (missing_binaries(), None if PGBOUNCER.exists() else "pgbouncer: scripts/system-deps.sh pgbouncer"):
        if missing:
            raise SystemExit(missing)
    result = run(args)
    if args.json:
        emit(result, True)
    else:
        print_tables(result)


if __name__ == "__main__":
    main()
