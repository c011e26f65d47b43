"""schemathesis against the centre's OpenAPI document (central/openapi.json): the real server on loopback, on
SQLite and on PostgreSQL.

Every operation gets requests made from its schema, valid ones and malformed ones (wrong types, missing and
extra fields, strings out of bounds, bodies that are not JSON), with and without a device's bearer token. No
request may cause a server error, and every malformed request must be refused with a 4xx.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from central_fixtures import CentralServer, DeviceClient, database_urls, enrolled_device, fresh_database
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, not_a_server_error
from schemathesis.generation import GenerationMode

DOCUMENT = Path(__file__).resolve().parent.parent / "central" / "openapi.json"
SCHEMA = schemathesis.openapi.from_dict(json.loads(DOCUMENT.read_text()))
SCHEMA.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], deterministic=True)
# Per operation and test: 8 operations, about 15 s on a loaded 2-core machine. The run for the record in
# BENCHMARKS.md sets KIOSK_SCHEMATHESIS_EXAMPLES=500.
EXAMPLES = int(os.environ.get("KIOSK_SCHEMATHESIS_EXAMPLES", "40"))
CHECKS = [not_a_server_error, negative_data_rejection]
CALLS: Counter[str] = Counter()


@pytest.fixture(scope="module", params=database_urls())
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[CentralServer, DeviceClient]]:
    url = fresh_database(request.param, tmp_path_factory.mktemp("central"))
    with CentralServer(url) as server, enrolled_device(server) as device:
        yield server, device
    print(f"\nschemathesis on {request.param}: {sum(CALLS.values())} requests ({dict(CALLS)}), none a server error")
    CALLS.clear()


@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_a_stranger_gets_no_server_error_and_a_4xx_for_malformed_requests(case, api):
    server, _ = api
    CALLS["anonymous"] += 1
    case.call_and_validate(base_url=server.url, checks=CHECKS, timeout=10)


@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_an_enrolled_device_gets_no_server_error_and_a_4xx_for_malformed_requests(case, api):
    server, device = api
    headers = {"Authorization": f"Bearer {device.token}"}
    CALLS["with a device token"] += 1
    case.call_and_validate(base_url=server.url, headers=headers, checks=CHECKS, timeout=10)


# Regressions: what schemathesis found, fixed at the source.


def test_a_status_list_version_beyond_a_database_integer_is_refused_not_a_server_error(api):
    _, device = api
    answer = device.session.get(f"{device.base_url}/api/v1/status-list", params={"since": 2**64}, headers=auth(device))
    assert answer.status_code == 422 and "since" in answer.text


@pytest.mark.parametrize("value", [0, 1, "true", "yes"])
def test_a_heartbeat_saying_true_or_false_otherwise_is_refused(api, value: object):
    _, device = api
    body = {"backlog": 0, "clock_synced": value}
    answer = device.session.post(f"{device.base_url}/api/v1/heartbeat", json=body, headers=auth(device))
    assert answer.status_code == 422 and "clock_synced" in answer.text
    ok = device.session.post(
        f"{device.base_url}/api/v1/heartbeat", json=body | {"clock_synced": True}, headers=auth(device)
    )
    assert ok.status_code == 204


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/auth/challenge", {"device_id": "gate\u0000"}),
        ("/api/v1/auth/token", {"device_id": "gate\u0000", "nonce": "n" * 16, "signature": "s" * 16}),
        ("/api/v1/heartbeat", {"backlog": 0, "note": "a\u0000b"}),  # a field of its own, stored as JSON
        ("/api/v1/heartbeat", {"backlog": 0, "extra": {"x\u0000": 1}}),
    ],
)
def test_a_nul_character_anywhere_is_refused_not_a_server_error(api, path: str, body: dict[str, object]):
    """PostgreSQL stores no NUL in text or jsonb: a request with one was a 500 there (schemathesis, PostgreSQL)."""
    _, device = api
    answer = device.session.post(f"{device.base_url}{path}", json=body, headers=auth(device))
    assert answer.status_code == 422 and "NUL" in answer.text, answer.text


def auth(device: DeviceClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {device.token}"}
