"""`kiosk verify` (issue 12): whose a code is, in the gate's own subject key; a refusal with a reason, never a
traceback, whatever the code holds; text output in sentences.

The hostile certificates run in-process through click's runner (one per payload, in both outputs, fast); one of
them, the issue's own, also through a real `kiosk verify` process, whose stdout encodes as a terminal's does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import CCCD_AN, PCCOVID_AN
from dccmaker import hostile_payloads, make_hc1, make_signer, trust_json

from kiosk.cli import cli
from kiosk.credentials import Identity, SubjectKeyer

SECRET = bytes(range(32))
CCCD_NUMBER = CCCD_AN.split("|")[0]
AT = "2021-07-01T00:00:00Z"


def strict_json(text: str) -> dict[str, Any]:
    """JSON as a strict reader takes it: NaN and Infinity are not JSON."""

    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    value = json.loads(text, parse_constant=refuse)
    assert isinstance(value, dict)
    return value


def verify(*args: str) -> Result:
    """`kiosk verify` in-process, with no config or state directory from the environment."""
    env = {"KIOSK_CONFIG": None, "KIOSK_STATE_DIR": None}
    return CliRunner().invoke(cli, ["verify", *args], env=env, catch_exceptions=True)


def kiosk_config(tmp_path: Path, *, secret: bytes | None = SECRET) -> Path:
    """A config whose state directory holds `secret` as the kiosk keeps it (None: no secret yet)."""
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    if secret is not None:
        (state / "subject-key.secret").write_text(secret.hex() + "\n")
        (state / "subject-key.secret").chmod(0o600)
    config = tmp_path / "kiosk.toml"
    config.write_text(f'state_dir = "{state}"\n')
    return config


def report_of(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0 and result.exception is None, (result.output, result.exception)
    return strict_json(result.stdout)


# ---------------------------------------------------------------- whose code it is: the gate's subject key


def test_json_carries_the_subject_key_the_gate_would_record(tmp_path: Path):
    report = report_of(verify("--text", CCCD_AN, "--config", str(kiosk_config(tmp_path)), "--json"))
    subject = report["subject"]
    assert subject["subject_key"] == SubjectKeyer(SECRET).key(Identity("VN-ID", CCCD_NUMBER))
    assert subject["subject_key_source"] == "kiosk-secret" and report["notes"] == []
    assert report["decision"] == {"mode": "identity", "outcome": "ACCEPT", "reason": "identity-ok"}


def test_the_state_dir_option_finds_the_secret_as_the_other_commands_do(tmp_path: Path):
    kiosk_config(tmp_path)
    report = report_of(verify("--text", CCCD_AN, "--state-dir", str(tmp_path / "state"), "--json"))
    assert report["subject"]["subject_key"] == SubjectKeyer(SECRET).key(Identity("VN-ID", CCCD_NUMBER))


def test_the_same_person_has_the_same_key_from_a_cccd_and_a_pccovid_code(tmp_path: Path):
    config = str(kiosk_config(tmp_path))
    cccd = report_of(verify("--text", CCCD_AN, "--config", config, "--json"))
    pccovid = report_of(verify("--text", PCCOVID_AN, "--config", config, "--mode", "identity", "--json"))
    assert (cccd["kind"], pccovid["kind"]) == ("cccd", "pc-covid")
    assert cccd["subject"]["subject_key"] == pccovid["subject"]["subject_key"]
    assert pccovid["decision"] == {"mode": "identity", "outcome": "ACCEPT", "reason": "identity-ok"}


def test_without_the_kiosks_secret_a_throwaway_one_is_used_and_said(tmp_path: Path):
    config = kiosk_config(tmp_path, secret=None)
    report = report_of(verify("--text", CCCD_AN, "--config", str(config), "--mode", "identity", "--json"))
    assert report["subject"]["subject_key_source"] == "throwaway-secret"
    assert len(report["subject"]["subject_key"]) == 32
    (note,) = report["notes"]
    assert "throwaway secret" in note and str(tmp_path / "state" / "subject-key.secret") in note
    assert report["decision"]["outcome"] == "ACCEPT"
    assert not (tmp_path / "state" / "subject-key.secret").exists()  # verify never makes the kiosk's secret
    again = report_of(verify("--text", CCCD_AN, "--config", str(config), "--json"))
    assert again["subject"]["subject_key"] != report["subject"]["subject_key"]  # thrown away: matches nothing


def test_an_unreadable_secret_gives_a_throwaway_key_and_says_why(tmp_path: Path):
    config = kiosk_config(tmp_path, secret=None)
    (tmp_path / "state" / "subject-key.secret").write_text("not hex\n")
    report = report_of(verify("--text", CCCD_AN, "--config", str(config), "--json"))
    assert report["subject"]["subject_key_source"] == "throwaway-secret"
    assert "not hex" in report["notes"][0]


def test_an_unsigned_identity_code_is_said_to_prove_nothing_by_itself(tmp_path: Path):
    config = str(kiosk_config(tmp_path))
    for text in (CCCD_AN, PCCOVID_AN):
        (warning,) = report_of(verify("--text", text, "--config", config, "--json"))["warnings"]
        assert "carries no signature" in warning and "access mode" in warning
    assert report_of(verify("--text", make_hc1(make_signer("ES256")), "--config", config, "--json"))["warnings"] == []


def test_a_code_that_names_no_one_has_no_key_and_no_note(tmp_path: Path):
    report = report_of(verify("--text", "https://example.vn/menu", "--config", str(kiosk_config(tmp_path)), "--json"))
    assert "subject_key" not in report["subject"] and report["notes"] == []


# ---------------------------------------------------------------- the text output: sentences


def test_text_output_reads_as_sentences(tmp_path: Path):
    result = verify("--text", CCCD_AN, "--config", str(kiosk_config(tmp_path)), "--mode", "identity")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "CCCD code: valid (unsigned, so it can be forged)."
    assert lines[3].startswith("Warning: this kind of code carries no signature: anyone can make one")
    assert "Holder: Nguyễn Văn An, born 1990-02-01, ID number ********2345." in lines
    key = SubjectKeyer(SECRET).key(Identity("VN-ID", CCCD_NUMBER))
    assert f"Subject key: {key} (made with this kiosk's secret)." in lines
    assert lines[-1] == "A gate in identity mode would accept it (identity-ok)."
    assert "{" not in result.stdout and "a identity" not in result.stdout


def test_text_output_of_a_refused_certificate_gives_the_reasons_in_words(tmp_path: Path):
    signer = make_signer("ES256")
    text = make_hc1(signer)
    result = verify("--text", text, "--config", str(kiosk_config(tmp_path)), "--at", "2023-01-01T00:00:00Z")
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "EU Digital COVID Certificate: not valid: signed with a key that is not in the trust list; expired."
    )
    assert lines[-1] == "A gate in certificate mode would refuse it (unknown-signer)."
    assert "{" not in result.stdout


def test_text_output_of_a_throwaway_key_says_so(tmp_path: Path):
    result = verify("--text", PCCOVID_AN, "--config", str(kiosk_config(tmp_path, secret=None)))
    assert "(made with a throwaway secret: it matches no gate's keys)" in result.stdout
    assert "Note: no subject-key secret at" in result.stdout


def test_text_output_escapes_control_characters_from_the_code(tmp_path: Path):
    signer = make_signer("ES256")
    dcc = {"ver": "1.3.0", "nam": {"fn": "\x1b]0;owned\x07", "fnt": "X"}, "dob": "1990", "v": []}
    result = verify("--text", make_hc1(signer, dcc), "--config", str(kiosk_config(tmp_path)))
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout and "\\x1b]0;owned\\x07" in result.stdout


# ---------------------------------------------------------------- hostile certificates: a refusal, never a crash


@pytest.mark.parametrize("name", sorted(hostile_payloads()))
def test_a_hostile_certificate_gives_a_json_refusal_with_a_reason(tmp_path: Path, name: str):
    signer = make_signer("ES256")
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(trust_json(signer)))
    text = make_hc1(signer, payload=hostile_payloads()[name])
    config = str(kiosk_config(tmp_path))
    report = report_of(verify("--text", text, "--trust-list", str(trust), "--at", AT, "--config", config, "--json"))
    assert (report["kind"], report["valid"], report["reasons"]) == ("eu-dcc", False, ["malformed"])
    assert report["checks"]["decode"] == "failed" and report["problem"].startswith("the CWT claims hold ")
    assert report["decision"] == {"mode": "certificate", "outcome": "DENY", "reason": "malformed"}
    text_result = verify("--text", text, "--trust-list", str(trust), "--at", AT, "--config", config)
    assert text_result.exit_code == 0 and text_result.exception is None, text_result.exception
    assert text_result.stdout.startswith("EU Digital COVID Certificate: not valid: malformed (the CWT claims hold ")


def test_a_lone_surrogate_in_a_smart_health_card_is_refused_not_printed(tmp_path: Path):
    from test_shc import card_claims, make_card

    claims = card_claims()
    claims["iss"] = "https://issuer.test/\ud800"  # valid JSON (an escape), not Unicode: stdout cannot write it
    result = verify("--text", make_card(claims), "--config", str(kiosk_config(tmp_path)), "--json")
    report = report_of(result)
    assert (report["kind"], report["valid"], report["reasons"]) == ("shc", False, ["bad-payload"])
    assert "not Unicode" in report["problem"]


def test_the_issues_certificate_through_a_real_kiosk_verify(tmp_path: Path):
    """The report of issue 12: byte-string map keys ended in a TypeError from the JSON output, and no JSON."""
    text = make_hc1(make_signer("PS256"), payload=hostile_payloads()["bytes-key-in-entry"])
    env = {k: v for k, v in os.environ.items() if k not in ("KIOSK_CONFIG", "KIOSK_STATE_DIR")}
    config = str(kiosk_config(tmp_path))
    for output in (["--json"], []):
        command = [sys.executable, "-m", "kiosk", "verify", "--text", text, "--config", config, *output]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        if output:
            assert strict_json(done.stdout)["reasons"] == ["malformed"]
        else:
            assert "not valid: malformed" in done.stdout
