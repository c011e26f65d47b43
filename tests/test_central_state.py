"""Where the centre keeps its secrets (issue 12, item 3): one state directory, never the current directory."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from central_fixtures import kiosk_central_serve

from central.errors import CentralError
from central.passkeys import pass_key_path
from central.secret import existing_secret, secret_path
from central.statedir import SYSTEM_STATE_DIR, ensure_state_dir, state_dir

PG = "postgresql+psycopg://u:p@127.0.0.1:5432/central"


def test_the_state_directory_is_beside_a_sqlite_database(tmp_path: Path) -> None:
    assert state_dir(f"sqlite:///{tmp_path}/db/central.db", {}) == tmp_path / "db"


def test_a_relative_sqlite_file_gives_an_absolute_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert state_dir("sqlite:///central.db", {}) == tmp_path


def test_KIOSK_CENTRAL_STATE_DIR_comes_first_then_systemd(tmp_path: Path) -> None:
    chosen = {"KIOSK_CENTRAL_STATE_DIR": str(tmp_path / "a"), "STATE_DIRECTORY": str(tmp_path / "b")}
    assert state_dir(f"sqlite:///{tmp_path}/c.db", chosen) == tmp_path / "a"
    assert state_dir(PG, {"STATE_DIRECTORY": f"{tmp_path}/b:{tmp_path}/x"}) == tmp_path / "b"


def test_postgresql_without_a_state_directory_uses_the_units_place() -> None:
    assert state_dir(PG, {}) == SYSTEM_STATE_DIR == Path("/var/lib/kiosk-central")
    assert state_dir("sqlite://", {}) == SYSTEM_STATE_DIR  # in memory: no file to sit beside


def test_a_secret_flag_or_variable_still_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIOSK_CENTRAL_SECRET_FILE", raising=False)
    assert secret_path(str(tmp_path / "s"), PG) == tmp_path / "s"
    monkeypatch.setenv("KIOSK_CENTRAL_SECRET_FILE", str(tmp_path / "t"))
    assert secret_path(None, PG) == tmp_path / "t"


def test_a_state_directory_that_cannot_be_made_says_what_to_set(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(CentralError, match="KIOSK_CENTRAL_STATE_DIR"):
        ensure_state_dir(tmp_path / "file" / "state")


def test_an_existing_secret_is_required_where_a_new_one_would_match_no_one(tmp_path: Path) -> None:
    with pytest.raises(CentralError, match="no subject-key secret there"):
        existing_secret(tmp_path / "missing.secret")
    assert not (tmp_path / "missing.secret").exists()


def test_serve_with_only_KIOSK_CENTRAL_DB_writes_nothing_in_the_current_directory(tmp_path: Path) -> None:
    """The report: `kiosk-central serve` left both secrets in the directory it was started from."""
    cwd, home = tmp_path / "cwd", tmp_path / "state"
    cwd.mkdir()
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIOSK_CENTRAL_", "STATE_DIRECTORY"))}
    env["KIOSK_CENTRAL_DB"] = f"sqlite:///{home / 'central.db'}"
    with kiosk_central_serve(cwd=cwd, env=env):
        pass
    assert sorted(p.name for p in cwd.iterdir()) == []
    secret = secret_path(None, env["KIOSK_CENTRAL_DB"])
    assert secret.parent == home
    for path in (secret, pass_key_path(None, secret)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_state_directory_the_centre_makes_is_its_own(tmp_path: Path) -> None:
    made = ensure_state_dir(tmp_path / "new" / "state")
    assert stat.S_IMODE(made.stat().st_mode) == 0o700


def test_status_set_by_identity_refuses_to_make_a_new_secret(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'central.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_CENTRAL_")}
    args = ["status", "set", "--identity", "001090012345", "--status", "red"]
    done = subprocess.run(
        [sys.executable, "-m", "central", "--db", url, *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 1 and "no subject-key secret there" in done.stderr, done.stderr
    assert not (tmp_path / "kiosk-central.secret").exists()
