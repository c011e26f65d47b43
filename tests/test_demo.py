from __future__ import annotations

import io
import json
import re
from pathlib import Path

from kiosk.credentials import SubjectKeyer, read_credential
from kiosk.demo.accounting import Presentation, account
from kiosk.demo.runner import MEDIA, run_demo
from kiosk.store import EventStore


def test_demo_runs_the_whole_loop_on_the_bundled_film(tmp_path: Path):
    out = io.StringIO()
    state = tmp_path / "new" / "state"  # --state-dir of a directory not made yet: made, not a traceback
    assert run_demo(state, speed=4, out=out) == 0
    text = out.getvalue()
    manifest = json.loads((MEDIA / "manifest.json").read_text(encoding="utf-8"))
    decided = re.search(r"decisions   (\d+) for (\d+) presentations", text)
    assert decided is not None and int(decided.group(2)) == len(manifest["presentations"]) == 14
    # 13 distinct presentations (one person shows the same code twice within the cooldown); allow one miss
    # when a loaded machine drops frames of a deliberately hard presentation, but never an unexplained one.
    assert 12 <= int(decided.group(1)) <= 13
    not_decided = re.findall(r"#(\d+) \(frames \d+-\d+, \w+\): not decided, (.+)", text)
    assert int(decided.group(1)) + len(not_decided) == 14, text  # every presentation accounted for
    assert ("5", "the code of #4 again 5 frames on: one passage, as at a real gate (debounce)") in not_decided
    assert "14 presentations of a QR code by 10 people" in text and "people at a gate, film" in text
    assert "DENY   denylisted" in text and "integrity ok" in text
    assert re.search(r"latency     frame to feedback p50 [\d.]+ ms, p95 [\d.]+ ms", text)
    store = EventStore(state / "events.db", read_only=True)
    status = store.status()
    store.close()
    assert status.events == int(decided.group(1))
    for presentation in manifest["presentations"]:  # no QR text in the database, the WAL or the output
        secrets = [field for field in presentation["payload"].split("|")[:3] if len(field) >= 6]  # ID, name, URL
        for secret in secrets:
            assert secret not in text
            for path in state.iterdir():
                assert secret.encode() not in path.read_bytes(), (secret, path.name)


def test_the_demo_leaves_the_centre_up_with_its_passages_on_the_dashboard_and_traceable(tmp_path: Path):
    from types import SimpleNamespace

    from web_helpers import Staff

    out = io.StringIO()
    seen: dict[str, object] = {}

    def browse() -> None:  # what a newcomer does in the browser while the demo waits
        tour = re.search(r"stays up at (\S+)/ until Ctrl-C; sign in as demo / (\S+)", out.getvalue())
        assert tour is not None
        person = re.search(r"e\.g\. ID number (\d{12})", out.getvalue())
        assert person is not None
        staff = Staff(SimpleNamespace(url=tour.group(1)))  # type: ignore[arg-type]
        staff.session.cookies.clear()
        page = staff.get("/login")
        from web_helpers import csrf_of

        form = {"username": "demo", "password": tour.group(2), "csrf": csrf_of(page.text)}
        assert staff.post("/login", form).status_code == 303
        seen["dashboard"] = staff.get("/dashboard?unit=660").text
        traced = staff.form_post("/trace", "/trace", {"identity_number": person.group(1), "reason": "demo"})
        seen["trace"] = traced.text

    assert run_demo(tmp_path, speed=4, out=out, wait=browse) == 0
    scans = re.search(r'data-figure="scans_today">(\d+)<', str(seen["dashboard"]))
    assert scans is not None and int(scans.group(1)) >= 12  # the gate's passages, counted by the centre
    assert 'data-figure="coverage">33,3 %' in str(seen["dashboard"])  # 1 of the city's 3 venues has a kiosk
    assert "DEMO-GATE-01" in str(seen["trace"]) and "Cổng nhà máy (demo)" in str(seen["trace"])


CCCD_A = "001088012367||Trần Văn Nam|04021988|Nam|Hà Nội|01012021"
CCCD_B = "079196004821|025917345|Nguyễn Thị Thu Hà|12031996|Nữ|TP HCM|01012021"


def test_every_presentation_gets_its_decision_or_the_reason_it_has_none():
    """Issue 12 item 11: `kiosk demo --speed 4` decided 13 of 14 presentations and said nothing of the 14th."""
    shows = [
        Presentation(1, 10, 30, "paper", CCCD_A),
        Presentation(2, 35, 60, "paper", CCCD_A),  # the same code again at once
        Presentation(3, 80, 100, "phone", "https://example.vn/menu"),
        Presentation(4, 120, 140, "paper", CCCD_B),  # never read
        Presentation(5, 160, 180, "paper", CCCD_A),  # the same person later: decided again
    ]
    keyer = SubjectKeyer(b"k" * 32)
    key_a = keyer.key(read_credential(CCCD_A).identity)  # type: ignore[arg-type]
    decisions = [("cccd", key_a, "ACCEPT logged"), ("unknown", None, "ACCEPT logged"), ("cccd", key_a, "DENY x")]
    outcomes = account(shows, decisions, keyer)
    assert [o.decision for o in outcomes] == ["ACCEPT logged", None, "ACCEPT logged", None, "DENY x"]
    assert outcomes[1].why_not == "the code of #1 again 5 frames on: one passage, as at a real gate (debounce)"
    assert outcomes[3].why_not == "no frame of it was read"
