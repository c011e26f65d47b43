"""Throwaway PostgreSQL clusters for tests that need more than one server (tests/test_national.py, and a hot
standby for tests/test_standby_reads.py).

Like scripts/with-postgres.sh, but several at once: one `initdb` into a temporary directory (as the postgres user
when run as root: initdb and the server refuse root), copied for each further cluster, each started on its own
loopback port with its socket in that directory, `wal_level=logical`, durability off. `ClusterSet` stops every
server it started (pg_ctl stop -m fast, then immediate) and removes the directory, whatever happens.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

PG_BINARIES = Path("/usr/lib/postgresql/15/bin")
PASSWORD = "postgres-test"  # the postgres superuser's, over loopback TCP (scram-sha-256)
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "wal_level": "logical",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "40",
    "shared_buffers": "16MB",
    "max_replication_slots": "8",
    "max_wal_senders": "8",
    "max_worker_processes": "12",
    "max_logical_replication_workers": "8",
    "wal_retrieve_retry_interval": "300ms",  # a subscription retries its province this often (default 5 s)
}


def missing_binaries() -> str | None:
    """Why clusters cannot be made here, or None."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not os.access(PG_BINARIES / tool, os.X_OK):
            return f"PostgreSQL 15 server binaries not installed ({PG_BINARIES / tool} missing)"
    return None


def _as_owner(*command: str) -> subprocess.CompletedProcess[str]:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *command], cwd="/", capture_output=True, text=True, timeout=120, check=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    def __init__(self, name: str, data: Path, sockets: Path) -> None:
        self.name, self.data, self.sockets = name, data, sockets
        self.port = _free_port()
        self.running = False

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def conninfo(self, database: str, user: str = "postgres", password: str = PASSWORD) -> str:
        return f"host=127.0.0.1 port={self.port} dbname={database} user={user} password={password}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} " + " ".join(f"-c {k}={v}" for k, v in SETTINGS.items())
        log = self.data.parent / f"{self.name}.log"
        done = _as_owner(
            str(PG_BINARIES / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"
        )
        if done.returncode != 0:
            raise RuntimeError(f"cluster {self.name} did not start: {done.stderr}\n{_tail(log)}")
        self.running = True

    def stop(self) -> None:
        if not self.running:
            return
        done = _as_owner(str(PG_BINARIES / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")
        if done.returncode != 0:
            _as_owner(str(PG_BINARIES / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop")
        self.running = False


class ClusterSet:
    """`names` clusters made from one initdb; a context manager that stops and removes them all on leaving."""

    def __init__(self, *names: str) -> None:
        self.names = names
        self.clusters: dict[str, Cluster] = {}
        self.root = Path(tempfile.mkdtemp(prefix="kiosk-national."))

    def __enter__(self) -> ClusterSet:
        try:
            self._make()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __getitem__(self, name: str) -> Cluster:
        return self.clusters[name]

    def _make(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        password = self.root / "password"
        password.write_text(PASSWORD + "\n")
        password.chmod(0o644)
        template = self.root / "template"
        done = _as_owner(
            str(PG_BINARIES / "initdb"), "-D", str(template), "-U", "postgres", "--pwfile", str(password),
            "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr}")
        for name in self.names:
            data = self.root / name
            copied = _as_owner("cp", "-a", str(template), str(data))
            if copied.returncode != 0:
                raise RuntimeError(f"copying the cluster for {name} failed: {copied.stderr}")
            self.clusters[name] = Cluster(name, data, self.root)
        for cluster in self.clusters.values():
            cluster.start()

    def add_standby(self, name: str, of: str) -> Cluster:
        """A hot standby of the running cluster `of`, streaming from it: pg_basebackup -R (a replication slot of
        its own, so the primary keeps the WAL it has not received), then started."""
        primary = self.clusters[of]
        data = self.root / name
        conninfo = primary.conninfo("postgres")
        done = _as_owner(
            str(PG_BINARIES / "pg_basebackup"), "-d", conninfo, "-D", str(data), "-R", "-X", "stream",
            "-C", "-S", f"{name}_slot", "--no-sync", "--checkpoint=fast",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"pg_basebackup for {name} failed: {done.stderr}")
        standby = self.clusters[name] = Cluster(name, data, self.root)
        standby.start()
        return standby

    def close(self) -> None:
        errors = []
        for cluster in self.clusters.values():
            try:
                cluster.stop()
            except Exception as exc:  # stop the others all the same
                errors.append(f"{cluster.name}: {exc}")
        shutil.rmtree(self.root, ignore_errors=True)
        if errors:
            raise RuntimeError(f"clusters not stopped: {errors}")


def wait_for(what: str, check: Callable[[], object], timeout_s: float = 30.0, every_s: float = 0.2) -> None:
    """Call `check` until it returns true, for at most `timeout_s`; fails naming `what`."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last: {last!r})")


def _tail(log: Path) -> str:
    try:
        return log.read_text()[-2000:]
    except OSError:
        return "(no log)"
