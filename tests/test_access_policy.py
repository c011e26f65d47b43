"""Access mode at the gate: the access list as the kiosk reads it, and the decisions it gives (docs/access-list.md)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kiosk.builders import load_access
from kiosk.credentials import Credential, Kind
from kiosk.policy import Outcome, VenuePolicy
from kiosk.policy.access import AccessList, AccessListError
from kiosk.policy.messages import MESSAGES
from kiosk.policy.statuslist import StatusEntry, StatusList
from kiosk.sync.configsync import ACCESS_ETAG_FILE, ACCESS_FILE, apply_access, load_etag

ANNA = "a" * 32  # staff, weekdays 06:30-18:30, every gate
BINH = "b" * 32  # night shift at the east gate only, and a contractor whose contract has ended
CHI = "c" * 32  # contractor only, ended
STRANGER = "d" * 32
ICT = timedelta(hours=7)  # Vietnam's offset: the list's times are local, the kiosk's clock is UTC


def document(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "version": "7",
        "venue": "FACTORY-1",
        "issued_at": "2026-12-06T08:00:00+00:00",
        "timezone": "Asia/Ho_Chi_Minh",
        "groups": [
            {
                "id": 1,
                "name": "staff",
                "valid_from": "2026-01-01",
                "valid_until": "2026-12-31",
                "windows": [{"days": [1, 2, 3, 4, 5], "start": "06:30", "end": "18:30"}],
                "gates": None,
            },
            {
                "id": 2,
                "name": "night-shift",
                "windows": [
                    {"days": [1, 2, 3, 4, 5], "start": "22:00", "end": "24:00"},
                    {"days": [2, 3, 4, 5, 6], "start": "00:00", "end": "06:00"},
                ],
                "gates": ["gate-east"],
            },
            {
                "id": 3,
                "name": "contractors",
                "valid_until": "2026-11-30",
                "windows": [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "24:00"}],
            },
        ],
        "people": {ANNA: [1], BINH: [2, 3], CHI: [3]},
    }
    return {**base, **changes}


def local(text: str) -> datetime:
    """A wall-clock time at the venue (ICT), as the UTC instant the kiosk's clock gives."""
    return (datetime.fromisoformat(text) - ICT).replace(tzinfo=UTC)


ACCESS = AccessList.from_json(document())


@pytest.mark.parametrize(
    ("key", "when", "gate", "verdict"),
    [
        (ANNA, "2026-12-07 06:30", "gate-west", "access-ok"),  # Monday, first minute of the window
        (ANNA, "2026-12-07 18:29", "gate-west", "access-ok"),
        (ANNA, "2026-12-07 18:30", "gate-west", "outside-hours"),  # the end is not in the window
        (ANNA, "2026-12-07 06:29", "gate-west", "outside-hours"),
        (ANNA, "2026-12-06 10:00", "gate-west", "outside-hours"),  # Sunday
        (ANNA, "2027-01-04 10:00", "gate-west", "access-expired"),  # a Monday after valid_until
        (ANNA, "2026-12-31 10:00", "gate-west", "access-ok"),  # valid_until is inclusive
        (BINH, "2026-12-07 23:59", "gate-east", "access-ok"),  # the night shift across midnight
        (BINH, "2026-12-08 05:59", "gate-east", "access-ok"),
        (BINH, "2026-12-07 23:59", "gate-west", "wrong-gate"),  # the contract that would allow it has ended
        (BINH, "2026-12-07 12:00", "gate-east", "outside-hours"),  # closest: right gate, wrong hour
        (CHI, "2026-12-07 12:00", "gate-east", "access-expired"),
        (STRANGER, "2026-12-07 12:00", "gate-east", None),
        ("not a key", "2026-12-07 12:00", "gate-east", None),
    ],
)
def test_a_person_is_admitted_in_a_window_of_one_of_their_groups_at_a_gate_it_may_use(
    key: str, when: str, gate: str, verdict: str | None
) -> None:
    assert ACCESS.check(key, local(when), gate) == verdict


def test_windows_are_the_venues_local_time_whatever_zone_the_kiosks_clock_gives() -> None:
    monday_0630_ict = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)  # still Sunday in UTC
    assert ACCESS.check(ANNA, monday_0630_ict, "g") == "access-ok"
    assert ACCESS.check(ANNA, monday_0630_ict.astimezone(ACCESS.zone), "g") == "access-ok"
    berlin = AccessList.from_json(document(timezone="Europe/Berlin"))
    assert berlin.check(ANNA, monday_0630_ict, "g") == "outside-hours"  # 00:30 on Monday in Berlin


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"people": {"A" * 31: [1]}}, "people: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' is not a subject key"),
        ({"people": {ANNA: [9]}}, f"people[{ANNA}]: needs a list of the ids of groups"),
        ({"people": {ANNA: []}}, "needs a list of the ids"),
        ({"people": []}, "'people' an object"),
        ({"timezone": "Mars/Olympus"}, "timezone: 'Mars/Olympus' is not a time zone name"),
        ({"groups": [{"id": 1, "name": "x", "windows": [{"days": [1], "start": "18:00", "end": "06:00"}]}]}, "ends"),
        ({"groups": [{"id": 1, "name": "x", "windows": [{"days": [8], "start": "06:00", "end": "07:00"}]}]}, "days"),
        ({"groups": [{"id": 1, "name": "x", "windows": [{"days": [1], "start": "6:00", "end": "07:00"}]}]}, "HH:MM"),
        ({"groups": [{"id": 1, "name": "x", "windows": [{"days": [1], "start": "00:00", "end": "24:01"}]}]}, "HH:MM"),
        ({"groups": [{"id": 1, "name": "x", "valid_from": "01/01/2026"}]}, "groups[0].valid_from: must be a date"),
        ({"groups": [{"id": "1", "name": "x"}]}, "groups[0]: needs an integer 'id'"),
        ({"groups": [{"id": 1, "name": "x", "gates": "gate-east"}]}, "groups[0].gates"),
        ({"issued_at": "yesterday"}, "issued_at"),
        ({"badges": {STRANGER: "12"}}, "badges: 'dddddddddddddddddddddddddddddddd' is not a subject key in 'people'"),
        ({"badges": {ANNA: 12}}, f"badges[{ANNA}]: must be a badge number of 1 to 20 digits, as text"),
        ({"badges": {ANNA: "１２"}}, "must be a badge number"),
        ({"badges": []}, "'badges' must be an object"),
    ],
)
def test_a_list_that_does_not_read_whole_is_refused_with_where_and_why(changes: dict[str, Any], error: str) -> None:
    with pytest.raises(AccessListError) as refused:
        AccessList.from_json(document(**changes))
    assert error in str(refused.value)


def test_a_person_s_badge_number_is_what_an_access_panel_knows_them_by() -> None:
    access = AccessList.from_json(document(badges={ANNA: "0004521987", BINH: "18446744073709551615"}))
    assert (access.badge(ANNA), access.badge(BINH), access.badge(CHI), access.badge("zz")) == (
        4521987, 2**64 - 1, None, None
    )  # fmt: skip
    assert AccessList.from_json(document()).badge(ANNA) is None  # a list from a centre without badges


def test_keys_are_kept_as_bytes_and_people_share_their_group_tuples() -> None:
    keys = {f"{i:032x}": [1] for i in range(1000)}
    access = AccessList.from_json(document(people=keys))
    assert len(access) == 1000 and all(isinstance(k, bytes) and len(k) == 16 for k in access.people)
    assert len({id(groups) for groups in access.people.values()}) == 1
    assert access.enrolled(f"{999:032x}") and not access.enrolled(f"{1000:032x}")


def identity(subject: str | None = ANNA) -> tuple[Credential, str | None]:
    return Credential(Kind.CCCD), subject


def policy(**changes: Any) -> VenuePolicy:
    return VenuePolicy(mode="access", access=ACCESS, gate="gate-west", **changes)


MONDAY_NOON = local("2026-12-07 12:00")


@pytest.mark.parametrize(
    ("strangers", "outcome", "reason"),
    [
        ("deny", Outcome.DENY, "not-enrolled"),
        ("review", Outcome.REVIEW, "not-enrolled"),
        ("visitor", Outcome.REVIEW, "visitor"),
    ],
)
def test_a_stranger_is_refused_sent_to_the_guard_or_to_the_visitor_desk_as_the_venue_chooses(
    strangers: str, outcome: Outcome, reason: str
) -> None:
    decision = policy(strangers=strangers).decide(*identity(STRANGER), MONDAY_NOON)
    assert (decision.outcome, decision.reason) == (outcome, reason)


def test_access_mode_decides_enrolled_people_and_keeps_every_other_check() -> None:
    assert policy().decide(*identity(), MONDAY_NOON).reason == "access-ok"
    assert policy().decide(*identity(), MONDAY_NOON).outcome is Outcome.ACCEPT
    assert policy().decide(*identity(), local("2026-12-07 20:00")).reason == "outside-hours"
    assert policy().decide(*identity(None), MONDAY_NOON).reason == "no-identity"
    revoked = StatusList({ANNA: StatusEntry("red")})  # a badge revoked through the status list
    assert policy(status=revoked).decide(*identity(), MONDAY_NOON).reason == "status-red"
    assert policy(denylist=frozenset({ANNA})).decide(*identity(), MONDAY_NOON).reason == "denylisted"
    assert policy().decide(Credential(Kind.CCCD, problem="bad date"), ANNA, MONDAY_NOON).reason == "malformed"


def test_every_access_reason_speaks_both_languages() -> None:
    for reason in ("access-ok", "outside-hours", "wrong-gate", "access-expired", "not-enrolled", "visitor"):
        vi, en = MESSAGES[reason]
        assert vi and en and vi != en


def test_no_file_is_an_empty_list_and_a_broken_one_is_logged_and_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert len(AccessList.load(tmp_path / "none.json")) == 0
    broken = tmp_path / "access-list.json"
    broken.write_text('{"people": {"x": [1]}}')
    with caplog.at_level(logging.ERROR):
        assert len(load_access(broken, "access")) == 0
    assert "access-list.json" in caplog.text and "not a subject key" in caplog.text


def test_a_pulled_list_is_written_with_its_etag_and_a_bad_one_keeps_the_last_good_copy(tmp_path: Path) -> None:
    good = apply_access(tmp_path, document(), '"7"')
    assert good is not None and len(good) == 3
    assert load_etag(tmp_path, ACCESS_ETAG_FILE) == '"7"'
    assert len(AccessList.load(tmp_path / ACCESS_FILE)) == 3
    assert apply_access(tmp_path, document(people={"zz": [1]}, version="8"), '"8"') is None
    assert json.loads((tmp_path / ACCESS_FILE).read_text())["version"] == "7"
    assert load_etag(tmp_path, ACCESS_ETAG_FILE) == '"7"'  # asked for again at the next pull
