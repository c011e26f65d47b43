"""A pg_auto_failover formation on loopback for the failover test and bench: a monitor, a primary and a standby.

Each node is `pg_autoctl create ... --run` in a session of its own, as the postgres user when run as root
(pg_autoctl, like initdb, refuses root), on a free loopback port, its data, configuration and state in one
temporary directory (HOME and the XDG directories point there, so nothing is written to the postgres user's
home). No systemd: `--run` keeps each keeper in the foreground of its own process, which this module owns.

`stop()` always leaves nothing behind: each process group it started is sent SIGTERM, then SIGKILL; any
postmaster still named in a data directory's postmaster.pid is killed by that PID; the directory is removed.

The monitor is told to give up on a silent node within seconds, not its defaults' half minute, so that a test
sees a failover in about five seconds (`MONITOR_SETTINGS`).

    with Formation() as formation:
        formation.url              # the multi-host URL the centre connects with
        old = formation.primary()
        formation.kill(old)        # its machine dies
        formation.wait_states({standby.port: ("wait_primary", "primary")}, 30)
        formation.restart(old)     # it rejoins as the standby
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any


def _pg_ctl() -> Path:
    """pg_ctl of the newest PostgreSQL that has the pgautofailover extension (Debian: postgresql-NN-auto-failover)."""
    controls = Path("/usr/share/postgresql").glob("*/extension/pgautofailover.control")
    versions = sorted(int(c.parts[-3]) for c in controls if c.parts[-3].isdigit())
    return Path(f"/usr/lib/postgresql/{versions[-1] if versions else 15}/bin/pg_ctl")


PGCTL = _pg_ctl()
DATABASE = "kiosk"
# Milliseconds (the monitor's GUCs). The defaults (5 s checks, 20 s unhealthy, 30 s demote timeout) are for
# real networks; on loopback a dead node is known within a couple of seconds.
MONITOR_SETTINGS = {
    "pgautofailover.health_check_period": 1000,
    "pgautofailover.health_check_timeout": 1000,
    "pgautofailover.health_check_max_retries": 1,
    "pgautofailover.health_check_retry_delay": 500,
    "pgautofailover.node_considered_unhealthy_timeout": 2000,
    "pgautofailover.startup_grace_period": 1000,
    "pgautofailover.primary_demote_timeout": 2000,
}
WRITABLE = ("single", "primary", "wait_primary")  # the states in which a node takes writes


class FormationError(RuntimeError):
    """The formation could not be started or did not reach the state asked for; says what its logs say."""


def available() -> str | None:
    """None when a formation can be made here, else why not (for a test's skip)."""
    if shutil.which("pg_autoctl") is None:
        return "pg_autoctl is not installed (Debian: apt-get install postgresql-15-auto-failover pg-auto-failover-cli)"
    if not PGCTL.exists():
        return f"{PGCTL} is missing: no PostgreSQL server with the pgautofailover extension"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run pg_autoctl as"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Node:
    name: str
    port: int
    pgdata: Path
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)


class Formation:
    """Monitor, node a (first primary) and node b (its standby), all on 127.0.0.1."""

    def __init__(self, *, start_timeout_s: float = 60.0, tls: bool = True) -> None:
        self.start_timeout_s = start_timeout_s
        # TLS between the nodes, to the monitor and from the centre (pg_autoctl --ssl-self-signed: encrypted, the
        # certificates not checked; a province uses its CA's, --ssl-ca-file, and sslmode=verify-full)
        self.tls = tls
        self.dir = Path()
        self.monitor: Node | None = None
        self.nodes: list[Node] = []
        self._env: dict[str, str] = {}
        self._user: str | None = None

    def __enter__(self) -> Formation:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # --- the multi-host URL and the monitor's view ---

    @property
    def url(self) -> str:
        """libpq's multi-host form, as `pg_autoctl show uri` gives it: the first host that takes writes."""
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)
        ssl = "&sslmode=require" if self.tls else ""
        return f"postgresql://postgres@{hosts}/{DATABASE}?target_session_attrs=read-write&connect_timeout=2{ssl}"

    def states(self) -> dict[int, tuple[str, str]]:
        """Each node's port: (reported state, goal state), as the monitor knows them."""
        out = self._sql(self._monitor_port, "SELECT nodeport, reportedstate, goalstate FROM pgautofailover.node")
        states = {}
        for line in out.splitlines():
            port, reported, goal = line.split("|")
            states[int(port)] = (reported, goal)
        return states

    def sql_on_monitor(self, statement: str) -> str:
        """`statement` on the monitor's database, as its keepers' user; psql's unaligned output."""
        return self._sql(self._monitor_port, statement)

    def primary(self) -> Node:
        """The node that takes writes: by its own report and the monitor's goal (a dead primary's last report
        stays "primary" while its goal is "demoted")."""
        states = self.states()
        for node in self.nodes:
            reported, goal = states.get(node.port, ("", ""))
            if reported in WRITABLE and goal in WRITABLE:
                return node
        raise FormationError(f"no node takes writes: {states}")

    def wait_states(
        self, wanted: Mapping[int, tuple[str, ...]], timeout_s: float, *, nudge: Node | None = None
    ) -> None:
        """Until each port's reported and goal state are both among its wanted states. With `nudge`, a CHECKPOINT
        there every second: the standby's pg_basebackup asks for a spread checkpoint, which can take minutes."""
        deadline = time.monotonic() + timeout_s
        seen: dict[int, tuple[str, str]] = {}
        nudged = 0.0
        while time.monotonic() < deadline:
            try:
                seen = self.states()
            except FormationError:
                seen = {}
            if all(p in seen and seen[p][0] in w and seen[p][1] in w for p, w in wanted.items()):
                return
            if nudge is not None and time.monotonic() > nudged + 1:
                nudged = time.monotonic()
                with contextlib.suppress(FormationError):
                    self._sql(nudge.port, "CHECKPOINT", user="postgres", database="postgres")
            time.sleep(0.2)
        raise FormationError(f"the formation did not reach {wanted} within {timeout_s} s: {seen}\n{self.logs()}")

    # --- life cycle ---

    def start(self) -> None:
        why = available()
        if why:
            raise FormationError(why)
        self.dir = Path(tempfile.mkdtemp(prefix="kiosk-pgha-"))
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user:
            os.chown(self.dir, pwd.getpwnam(self._user).pw_uid, pwd.getpwnam(self._user).pw_gid)
        home = str(self.dir)
        self._env = {
            "PATH": f"{PGCTL.parent}:/usr/bin:/bin",
            "HOME": home,
            "XDG_CONFIG_HOME": f"{home}/config",
            "XDG_DATA_HOME": f"{home}/data",
            "XDG_RUNTIME_DIR": f"{home}/run",
            "PGHOST": "127.0.0.1",
            "LANG": "C.UTF-8",
        }
        self.monitor = self._node("monitor")
        self._launch(self.monitor, ["create", "monitor", "--auth", "trust"])
        self._wait_accepting(self.monitor)
        self._tune_monitor()
        for name in ("a", "b"):
            node = self._node(name)
            self.nodes.append(node)
            self._launch(node, self._create_postgres(node))
            # one at a time: b is made from a base backup of a once a is the primary
            wanted = {n.port: ("single", "primary", "secondary", "wait_primary") for n in self.nodes}
            self.wait_states(wanted, self.start_timeout_s, nudge=self.nodes[0])
        a, b = self.nodes
        self.wait_states({a.port: ("primary",), b.port: ("secondary",)}, self.start_timeout_s, nudge=a)

    def settle(self, timeout_s: float) -> tuple[Node, Node]:
        """Until one node is the primary and the other its secondary, by report and goal: (primary, standby)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                states = self.states()
            except FormationError:
                states = {}
            roles = {n.name: states.get(n.port) for n in self.nodes}
            primary = [n for n in self.nodes if states.get(n.port) == ("primary", "primary")]
            standby = [n for n in self.nodes if states.get(n.port) == ("secondary", "secondary")]
            if primary and standby:
                return primary[0], standby[0]
            if time.monotonic() > deadline:
                raise FormationError(f"no primary with its standby within {timeout_s} s: {roles}\n{self.logs()}")
            if primary:  # a standby being made again from a base backup: see wait_states
                with contextlib.suppress(FormationError):
                    self._sql(primary[0].port, "CHECKPOINT", user="postgres", database="postgres")
            time.sleep(0.3)

    def kill_postmaster(self, node: Node) -> None:
        """SIGKILL to the node's postmaster alone: its keeper lives on, restarts it, and the node comes back as
        the primary or (if the monitor failed over first) as the new primary's standby."""
        self._kill_postmaster(node)

    def kill(self, node: Node) -> None:
        """The node's machine dies: SIGKILL to its keeper's session (the keeper and the postmaster it runs) and to
        the postmaster by its PID. The backends, each in a session of its own, exit on their postmaster's death."""
        if node.process is not None and node.process.poll() is None:
            os.killpg(node.process.pid, signal.SIGKILL)
            node.process.wait(10)
        self._kill_postmaster(node)

    def restart(self, node: Node) -> None:
        """Run a killed node's keeper again: it rejoins as a standby (pg_rewind if need be)."""
        self._launch(node, ["run"], append=True)

    def revive(self) -> None:
        """Run again the keeper of every node whose keeper is dead (a test killed its machine): each rejoins."""
        for node in self.nodes:
            if node.process is None or node.process.poll() is not None:
                self.restart(node)

    def stop(self) -> None:
        for node in [*self.nodes, *([self.monitor] if self.monitor else [])]:
            process = node.process
            if process is not None and process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)
                except ProcessLookupError:
                    pass
            self._kill_postmaster(node)
        self.nodes, self.monitor = [], None
        if self.dir != Path() and self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)

    def logs(self, tail: int = 15) -> str:
        nodes = [*([self.monitor] if self.monitor else []), *self.nodes]
        parts = []
        for node in nodes:
            lines = node.log.read_text(errors="replace").splitlines() if node.log.exists() else []
            parts.append(f"--- {node.name} (port {node.port}) ---\n" + "\n".join(lines[-tail:]))
        return "\n".join(parts)

    # --- helpers ---

    @property
    def _monitor_port(self) -> int:
        assert self.monitor is not None, "the formation is not started"
        return self.monitor.port

    def _node(self, name: str) -> Node:
        return Node(name, free_port(), self.dir / name, self.dir / f"{name}.log")

    def _create_postgres(self, node: Node) -> list[str]:
        ssl = "require" if self.tls else "disable"
        monitor = f"postgres://autoctl_node@127.0.0.1:{self._monitor_port}/pg_auto_failover?sslmode={ssl}"
        names = ["--name", node.name, "--dbname", DATABASE]
        return ["create", "postgres", *names, "--monitor", monitor, "--auth", "trust"]

    def _launch(self, node: Node, command: list[str], *, append: bool = False) -> None:
        args = ["pg_autoctl", *command, "--pgdata", str(node.pgdata)]
        if command[0] == "create":
            args += ["--pgport", str(node.port), "--hostname", "127.0.0.1", "--listen", "127.0.0.1"]
            args += ["--pgctl", str(PGCTL), "--ssl-self-signed" if self.tls else "--no-ssl", "--run"]
        with open(node.log, "ab" if append else "wb") as log:
            # a session of its own: kill() reaches the keeper, its postmaster and the backends as one group
            node.process = subprocess.Popen(
                args, cwd=self.dir, env=self._env, user=self._user, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        if self._user:
            os.chown(node.log, pwd.getpwnam(self._user).pw_uid, -1)

    def _wait_accepting(self, node: Node) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if node.process is not None and node.process.poll() is not None:
                raise FormationError(f"pg_autoctl for {node.name} exited\n{self.logs()}")
            try:
                self._sql(node.port, "SELECT 1 FROM pgautofailover.formation LIMIT 1")
                return
            except FormationError:
                time.sleep(0.2)
        raise FormationError(f"{node.name} did not accept connections within {self.start_timeout_s} s\n{self.logs()}")

    def _tune_monitor(self) -> None:
        sets = ";".join(f"ALTER SYSTEM SET {k} = {v}" for k, v in MONITOR_SETTINGS.items())
        for statement in [*sets.split(";"), "SELECT pg_reload_conf()"]:
            self._sql(self._monitor_port, statement, user="postgres")

    def _sql(self, port: int, statement: str, *, user: str = "autoctl_node", database: str = "pg_auto_failover") -> str:
        args = ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-d", database, "-qAtX", "-c", statement]
        try:
            done = subprocess.run(
                args, env=self._env, user=self._user, cwd=self.dir, capture_output=True, timeout=10, check=False
            )
        except subprocess.TimeoutExpired:
            raise FormationError(f"psql on port {port} hung") from None
        if done.returncode != 0:
            raise FormationError(f"psql on port {port}: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout.decode().strip()

    def _kill_postmaster(self, node: Node) -> None:
        """The postmaster named in postmaster.pid, if it outlived its keeper's group (it should not)."""
        pidfile = node.pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return
        try:  # the PID is this node's postmaster still, not a reused one: its command line names the directory
            if str(node.pgdata) not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                return
            os.kill(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


class Uploader(threading.Thread):
    """One kiosk's uploads through a failover, as its sync thread makes them: a batch is sent until the centre
    says it holds it, retried after a network error, a 429 or a 5xx (Retry-After honoured, capped at
    `max_wait_s`), and only then is the next one made. Every answer's status is kept, with the times of the
    batches held (monotonic), so a test can say what the kiosk saw while the primary was gone."""

    def __init__(
        self, device: Any, *, boot: str = "boot-1", batch: int = 20, pause_s: float = 0.02, max_wait_s: float = 1.0
    ) -> None:
        super().__init__(name=f"uploader-{device.name}", daemon=True)
        self.boot = boot
        self.device = device  # tests/central_fixtures.py's DeviceClient, enrolled and holding a token
        self.batch = batch
        self.pause_s = pause_s
        self.max_wait_s = max_wait_s
        self.stopping = threading.Event()
        self.sent: set[str] = set()  # every event id offered; all of them held when the thread ends
        self.held_at: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.bad: list[str] = []  # answers a kiosk must never get: a 500, a 503 without Retry-After, a wrong held
        self.error: BaseException | None = None
        self._seq = 0

    def run(self) -> None:
        from central_fixtures import make_event

        try:
            while not self.stopping.is_set():
                batch = []
                for _ in range(self.batch):
                    self._seq += 1
                    batch.append(make_event(boot_id=self.boot, seq=self._seq, mono_time=self._seq))
                self.sent.update(e["event_id"] for e in batch)
                self._until_held(batch)
                time.sleep(self.pause_s)
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.error = exc

    def _until_held(self, batch: list[dict[str, Any]]) -> None:
        import requests

        ids = {e["event_id"] for e in batch}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                answer = self.device.upload(batch)
            except requests.RequestException as exc:
                self.statuses[type(exc).__name__] += 1
                time.sleep(0.2)
                continue
            self.statuses[str(answer.status_code)] += 1
            if answer.status_code == 200:
                if set(answer.json().get("held", [])) != ids:
                    self.bad.append(f"200 holding other ids than sent: {answer.text[:200]}")
                self.held_at.append(time.monotonic())
                return
            retry_after = answer.headers.get("Retry-After")
            if answer.status_code == 500 or (answer.status_code == 503 and retry_after is None):
                self.bad.append(f"{answer.status_code} {answer.headers.get('Retry-After')}: {answer.text[:300]}")
            if answer.status_code < 500 and answer.status_code != 429:
                raise AssertionError(f"upload refused: {answer.status_code} {answer.text[:300]}")
            time.sleep(min(float(retry_after or 0.2), self.max_wait_s))
        raise AssertionError(f"a batch was not held within 60 s: {self.statuses}")

    def first_held_after(self, moment: float) -> float | None:
        """Seconds from `moment` to the first batch held after it."""
        later = [t for t in self.held_at if t > moment]
        return later[0] - moment if later else None

    def finish(self, timeout_s: float = 70.0) -> None:
        self.stopping.set()
        self.join(timeout_s)
        if self.is_alive():
            raise AssertionError(f"{self.name} did not finish its last batch within {timeout_s} s")
        if self.error is not None:
            raise self.error


def held_once(engine: Any, sent: set[str]) -> tuple[int, int]:
    """(lost, duplicated): events sent the centre does not hold, and extra rows for one event id, counted on the
    primary the engine reaches now."""
    from sqlalchemy import func, select

    from central.schema import events

    with engine.connect() as conn:
        rows = conn.execute(select(events.c.event_id, func.count()).group_by(events.c.event_id)).all()
    held = {row[0] for row in rows}
    return len(sent - held), sum(row[1] - 1 for row in rows)
