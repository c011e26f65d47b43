"""A venue's gate rules set at the centre (central/gaterules.py): checked before anything is written, with the
kiosk's own bounds, set and unset key by key, audited with their before and after, and carried to the venue's
kiosks in the config document, whose version (the ETag) changes with them. And `kiosk-central venue rules`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from central_fixtures import CentralServer, FakeClock, add_unit, add_venue, enrolled_device
from pydantic import ValidationError
from sqlalchemy import Engine, select, update
from test_central_cli import Run, central, refused  # noqa: F401 (the fixture)

from central.db import connect
from central.errors import NotFound
from central.gaterules import RULES, RulesError, change_rules, replace_rules, rules_of
from central.schema import audit_log, venues
from kiosk.config import PolicyConfig
from kiosk.config.outputs import FeedbackConfig, GpioConfig

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
NUMBERS = ("anti_passback_s", "trust_list_max_h", "vaccination_wait_days", "test_max_age_h", "recovery_max_days")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = connect(db_url)
    add_unit(engine, "HN")
    add_venue(engine, "V1", "HN")
    add_venue(engine, "V2", "HN")
    yield engine
    engine.dispose()


def change(engine: Engine, code: str = "V1", **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """`change_rules` by "tester": the rules before and after."""
    with engine.begin() as conn:
        done = change_rules(conn, code, actor="tester", reason=kwargs.pop("reason", "test"), now=NOW, **kwargs)
    return done.before, done.after


def rules(engine: Engine, code: str = "V1") -> dict[str, Any]:
    with engine.connect() as conn:
        return rules_of(conn, code)


def audited(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(audit_log).order_by(audit_log.c.id)))


# What a venue can set: the kiosk's own choices and bounds


def kiosk_accepts(rule: str, value: object) -> bool:
    """Whether the kiosk's config takes `value` for `rule` (where it reads it: policy, gpio or feedback)."""
    try:
        if rule == "relay_hold_s":
            GpioConfig.model_validate({rule: value})
        elif rule == "language":
            FeedbackConfig.model_validate({rule: value})
        else:
            PolicyConfig.model_validate({rule: value})
    except ValidationError:
        return False
    return True


def centre_accepts(engine: Engine, rule: str, value: object) -> bool:
    try:
        change(engine, values={rule: value})
    except RulesError as refusal:
        assert rule in str(refusal) and set(refusal.problems) == {rule}, refusal  # it names the field, alone
        return False
    return True


CANDIDATES: dict[str, list[object]] = {
    "mode": ["log-only", "identity", "certificate", "pass", "access", "review", "LOG-ONLY", "", 3],
    "strangers": ["deny", "review", "visitor", "allow", "Deny", ""],
    "language": ["vi", "en", "fr", "VI", ""],
    **{
        rule: [-1, -0.5, 0, 0.5, 1, 5.5, 10, 10.5, 365, 365.5, 720, 720.5, 3650, 3651, 86400, 86401, 10**9, "x", ""]
        for rule in (*NUMBERS, "relay_hold_s")
    },
}


@pytest.mark.parametrize("rule", list(CANDIDATES))
def test_the_centre_takes_exactly_what_the_kiosk_takes(engine: Engine, rule: str):
    """The centre imports no kiosk config (the floor plan): its copy of the bounds is held to the kiosk's here."""
    verdicts = {repr(v): (centre_accepts(engine, rule, v), kiosk_accepts(rule, v)) for v in CANDIDATES[rule]}
    assert {v: c for v, (c, k) in verdicts.items() if c != k} == {}
    assert any(c for c, _ in verdicts.values()) and not all(c for c, _ in verdicts.values())


def test_the_rules_are_the_nine_of_the_brief():
    assert set(RULES) == {"mode", "strangers", *NUMBERS, "relay_hold_s", "language"}


@pytest.mark.parametrize("value", [True, False, float("inf"), float("nan"), "inf", "NaN", [1], {"s": 1}])
def test_a_number_is_a_finite_number_not_a_truth_value(engine: Engine, value: object):
    with pytest.raises(RulesError, match="anti_passback_s"):
        change(engine, values={"anti_passback_s": value})


def test_every_bad_field_is_named_and_nothing_is_written(engine: Engine):
    change(engine, values={"mode": "identity"})
    with pytest.raises(RulesError) as refused_change:
        change(engine, values={"mode": "access", "relay_hold_s": 20, "language": "fr", "review": "on"})
    problems = refused_change.value.problems
    assert set(problems) == {"relay_hold_s", "language", "review"}
    assert "1 to 10" in problems["relay_hold_s"] and "vi or en" in problems["language"]
    assert "no rule review" in problems["review"] and "strangers" in problems["review"]  # what there is instead
    assert str(refused_change.value).startswith("relay_hold_s")  # in the order of the rules, then the unknown
    assert rules(engine) == {"mode": "identity"} and len(audited(engine)) == 1


def test_unset_takes_only_rule_names_and_not_one_being_set(engine: Engine):
    with pytest.raises(RulesError, match="no rule modes"):
        change(engine, unset=["modes"])
    with pytest.raises(RulesError, match="mode: both set and unset"):
        change(engine, values={"mode": "access"}, unset=["mode"])
    assert audited(engine) == []


def test_an_unknown_venue_is_not_found(engine: Engine):
    with pytest.raises(NotFound, match="no venue NOPE"):
        change(engine, "NOPE", values={"mode": "access"})
    with pytest.raises(NotFound), engine.connect() as conn:
        rules_of(conn, "NOPE")


# Setting, unsetting, replacing


def test_set_replaces_only_the_keys_given_and_unset_returns_a_key_to_the_kiosks_own(engine: Engine):
    assert rules(engine) == {}
    change(engine, values={"mode": "access", "strangers": "review", "relay_hold_s": "5", "test_max_age_h": "2.5"})
    assert rules(engine) == {"mode": "access", "strangers": "review", "relay_hold_s": 5, "test_max_age_h": 2.5}
    change(engine, values={"strangers": "visitor"}, unset=["relay_hold_s", "language"])  # language was not set
    assert rules(engine) == {"mode": "access", "strangers": "visitor", "test_max_age_h": 2.5}
    assert rules(engine, "V2") == {}
    with engine.connect() as conn:
        stored = conn.execute(select(venues.c.policy).where(venues.c.code == "V1")).scalar_one()
    assert stored == {"mode": "access", "strangers": "visitor", "test_max_age_h": 2.5}  # flat keys, as named
    assert isinstance(stored["test_max_age_h"], float) and json.dumps(stored)  # plain JSON
    change(engine, unset=list(RULES))
    assert rules(engine) == {}


def test_whole_numbers_are_stored_as_integers(engine: Engine):
    change(engine, values={"anti_passback_s": 30.0, "relay_hold_s": "3", "recovery_max_days": "180.0"})
    assert [type(v) for v in rules(engine).values()] == [int, int, int]


def test_replace_makes_the_rules_exactly_those_given(engine: Engine):
    change(engine, values={"mode": "access", "strangers": "review", "language": "en"})
    with engine.begin() as conn:
        done = replace_rules(conn, "V1", {"mode": "pass", "language": "en"}, actor="tester", reason="", now=NOW)
    assert done.after == {"mode": "pass", "language": "en"} == rules(engine)
    assert done.changes == {"mode": ("access", "pass"), "strangers": ("review", None)}


def test_keys_set_by_hand_outside_the_rules_are_left_alone(engine: Engine):
    """venues.policy is the kiosk's policy overrides; a key put there by hand (denylist) is not a gate rule."""
    with engine.begin() as conn:
        conn.execute(update(venues).where(venues.c.code == "V1").values(policy={"denylist": ["0" * 32]}))
    change(engine, values={"mode": "identity"})
    change(engine, unset=["mode"])
    with engine.connect() as conn:
        assert conn.execute(select(venues.c.policy).where(venues.c.code == "V1")).scalar_one() == {
            "denylist": ["0" * 32]
        }
    assert rules(engine) == {}


# The audit log


def test_every_change_is_audited_with_who_the_venue_and_the_values_before_and_after(engine: Engine):
    change(engine, values={"mode": "access", "relay_hold_s": 5}, reason="factory opens")
    change(engine, values={"mode": "access", "relay_hold_s": 4}, unset=["strangers"], reason="")
    first, second = audited(engine)
    assert (first.actor, first.action, first.subject, first.reason) == (
        "tester",
        "venue-rules-set",
        "V1",
        "factory opens",
    )
    assert first.detail == {
        "before": {"mode": None, "relay_hold_s": None},
        "after": {"mode": "access", "relay_hold_s": 5},
    }
    assert second.detail == {"before": {"relay_hold_s": 5}, "after": {"relay_hold_s": 4}}  # what changed only
    assert second.reason == "(no reason given)" and first.at is not None


def test_a_change_that_changes_nothing_is_neither_written_nor_audited(engine: Engine):
    change(engine, values={"mode": "access"})
    before, after = change(engine, values={"mode": "access"}, unset=["strangers"])
    assert before == after == {"mode": "access"} and len(audited(engine)) == 1


def test_an_address_is_kept_when_given(engine: Engine):
    with engine.begin() as conn:
        change_rules(conn, "V1", values={"mode": "pass"}, actor="web", reason="", now=NOW, address="192.0.2.7")
    (row,) = audited(engine)
    assert row.address == "192.0.2.7"


# What the kiosk pulls


@pytest.fixture
def server(db_url: str) -> Iterator[CentralServer]:
    with CentralServer(db_url, clock=FakeClock(NOW)) as central_server:
        yield central_server


def test_the_config_a_kiosk_pulls_carries_the_rules_and_its_etag_changes(server: CentralServer):
    device = enrolled_device(server, "V1")
    first = device.config()
    assert first.status_code == 200 and first.json()["policy"] == {}
    etag = first.headers["ETag"]
    assert device.config(etag).status_code == 304
    change(server.engine, values={"mode": "access", "strangers": "review", "relay_hold_s": 5, "language": "en"})
    pulled = device.config(etag)
    assert pulled.status_code == 200 and pulled.headers["ETag"] != etag
    assert pulled.json()["policy"] == {"mode": "access", "strangers": "review", "relay_hold_s": 5, "language": "en"}
    assert pulled.json()["version"] == pulled.headers["ETag"].strip('"')
    change(server.engine, unset=list(RULES))
    assert device.config().headers["ETag"] == etag  # the same rules (none) are the same version again


def test_the_kiosk_lays_every_rule_the_centre_takes_over_its_own_config(engine: Engine):
    """Not just each bound: the stored policy as a whole is one the kiosk uses (an unusable one it ignores whole)."""
    from kiosk.sync.effective import feedback_with, policy_with

    every = {"mode": "access", "strangers": "visitor", "anti_passback_s": 60, "trust_list_max_h": 0,
             "vaccination_wait_days": 7, "test_max_age_h": 24, "recovery_max_days": 90, "relay_hold_s": 5.5,
             "language": "en"}  # fmt: skip
    _, stored = change(engine, values=every)
    base = PolicyConfig()
    policy = policy_with(base, stored)
    assert policy is not base and (policy.mode, policy.strangers, policy.anti_passback_s) == ("access", "visitor", 60)
    feedback = feedback_with(FeedbackConfig(), stored)
    assert (feedback.language, feedback.gpio.relay_hold_s) == ("en", 5.5)


# kiosk-central venue rules


def test_the_command_line_shows_sets_and_unsets(central: Run, engine: Engine):  # noqa: F811
    shown = central("venue", "rules", "V1")
    assert shown.returncode == 0, shown.stderr
    assert "mode" in shown.stdout and "(kiosk's own)" in shown.stdout and "next config pull" in shown.stdout
    done = central("venue", "rules", "V1", "--set", "mode=access", "--set", "relay_hold_s=5", "--reason", "opening")
    assert done.returncode == 0, done.stderr
    assert "mode: (kiosk's own) -> access" in done.stdout and "relay_hold_s: (kiosk's own) -> 5" in done.stdout
    assert rules(engine) == {"mode": "access", "relay_hold_s": 5}
    done = central("venue", "rules", "V1", "--set", "strangers=review", "--unset", "relay_hold_s")
    assert done.returncode == 0 and "relay_hold_s: 5 -> (kiosk's own)" in done.stdout
    assert rules(engine) == {"mode": "access", "strangers": "review"}
    as_json = central("venue", "rules", "V1", "--json")
    assert json.loads(as_json.stdout) == {"venue": "V1", "rules": {"mode": "access", "strangers": "review"}}
    assert "unchanged" in central("venue", "rules", "V1", "--set", "mode=access").stdout
    first, second = audited(engine)
    assert first.actor.startswith("cli:") and (first.subject, first.reason) == ("V1", "opening")
    assert second.detail == {
        "before": {"strangers": None, "relay_hold_s": 5},
        "after": {"strangers": "review", "relay_hold_s": None},
    }


def test_the_command_line_refuses_with_1_naming_the_field_and_2_for_usage(central: Run, engine: Engine):  # noqa: F811
    assert "relay_hold_s" in refused(central("venue", "rules", "V1", "--set", "relay_hold_s=20"))
    assert "mode" in refused(central("venue", "rules", "V1", "--set", "mode=open"))
    assert "no rule review" in refused(central("venue", "rules", "V1", "--set", "review=yes"))
    assert "no venue NOPE" in refused(central("venue", "rules", "NOPE"))
    assert "RULE=VALUE" in refused(central("venue", "rules", "V1", "--set", "mode"), code=2)
    assert rules(engine) == {} and audited(engine) == []


# The visitor desk's lists: whom a visitor comes to see, and why


def test_the_visit_lists_are_rules_beside_the_nine_settings():
    from central.gaterules import NAMES, VISIT_LISTS

    assert VISIT_LISTS == ("visit_hosts", "visit_purposes") and NAMES == RULES + VISIT_LISTS


LIST_CANDIDATES: dict[str, tuple[object, bool]] = {
    "two": (["Phòng Nhân sự", "Kho"], True),
    "fifty": ([f"Phòng {n}" for n in range(50)], True),
    "80 letters": (["ệ" * 80], True),
    "none": ([], False),
    "fifty-one": ([f"Phòng {n}" for n in range(51)], False),
    "81 letters": (["ệ" * 81], False),
    "an empty entry": (["Kho", ""], False),
    "twice": (["Kho", "Kho"], False),
    "a tab": (["Kho\t2"], False),
    "a new line": (["Kho\n2"], False),
    "a C1 control": (["Kho\x85"], False),
    "a NUL": (["Kho\x00"], False),
    "text, not a list": ("Kho", False),
    "a number": ([5], False),
    "true": (True, False),
}


@pytest.mark.parametrize("rule", ["visit_hosts", "visit_purposes"])
def test_a_visit_list_takes_1_to_50_different_entries_of_1_to_80_characters(engine: Engine, rule: str):
    verdicts = {name: centre_accepts(engine, rule, value) for name, (value, _) in LIST_CANDIDATES.items()}
    assert verdicts == {name: wanted for name, (_, wanted) in LIST_CANDIDATES.items()}
    assert rules(engine)[rule] == ["ệ" * 80]  # the last accepted, stored as given


@pytest.mark.parametrize("rule", ["visit_hosts", "visit_purposes"])
def test_every_visit_list_the_centre_takes_the_kiosk_takes(rule: str):
    """The centre is stricter (no list of none, no entry twice, no control character), never looser: a list the
    kiosk refused would cost the venue all its rules (a kiosk ignores a policy it cannot use as a whole)."""
    taken = [value for value, wanted in LIST_CANDIDATES.values() if wanted]
    assert taken and all(kiosk_accepts(rule, value) for value in taken)


def test_the_config_a_kiosk_pulls_carries_the_visit_lists_as_json_lists(server: CentralServer):
    device = enrolled_device(server, "V1")
    etag = device.config().headers["ETag"]
    change(server.engine, values={"mode": "access", "strangers": "visitor", "visit_hosts": ["Phòng Nhân sự", "Kho"]})
    change(server.engine, values={"visit_purposes": ["Phỏng vấn", "Giao hàng"]})
    pulled = device.config(etag)
    assert pulled.status_code == 200 and pulled.headers["ETag"] != etag
    assert pulled.json()["policy"] == {
        "mode": "access",
        "strangers": "visitor",
        "visit_hosts": ["Phòng Nhân sự", "Kho"],
        "visit_purposes": ["Phỏng vấn", "Giao hàng"],
    }


def test_the_command_line_sets_a_visit_list_separated_by_semicolons(central: Run, engine: Engine):  # noqa: F811
    done = central("venue", "rules", "V1", "--set", "visit_hosts=Phòng Nhân sự; Kho;;  Bảo\tvệ ", "--reason", "desk")
    assert done.returncode == 0, done.stderr
    assert "visit_hosts: (kiosk's own) -> Phòng Nhân sự; Kho; Bảo vệ" in done.stdout
    assert rules(engine) == {"visit_hosts": ["Phòng Nhân sự", "Kho", "Bảo vệ"]}
    shown = central("venue", "rules", "V1")
    assert "visit_hosts            Phòng Nhân sự; Kho; Bảo vệ" in shown.stdout
    assert "visit_purposes         (kiosk's own)" in shown.stdout
    as_json = json.loads(central("venue", "rules", "V1", "--json").stdout)
    assert as_json["rules"] == {"visit_hosts": ["Phòng Nhân sự", "Kho", "Bảo vệ"]}
    assert "visit_hosts: 1 to 50 different entries" in refused(
        central("venue", "rules", "V1", "--set", "visit_hosts=;")
    )
    assert "separated by ;" in refused(central("venue", "rules", "V1", "--set", "visit_purposes=A;A"))
    assert central("venue", "rules", "V1", "--unset", "visit_hosts").returncode == 0
    assert rules(engine) == {}
    (first, second) = audited(engine)
    assert first.detail == {
        "before": {"visit_hosts": None},
        "after": {"visit_hosts": ["Phòng Nhân sự", "Kho", "Bảo vệ"]},
    }
    assert second.detail["after"] == {"visit_hosts": None}
