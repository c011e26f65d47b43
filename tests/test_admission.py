"""A burst of requests cannot stall the centre (central/admission.py).

Before admission, a route's connection was held across thread-pool calls: with more requests in flight than a
worker has threads (anyio's 40), every thread could wait for a connection that a thread-less request held, until
the pool's timeout failed them all (bench/pgbouncer_bench.py saw every heartbeat of 200 kiosks time out). Here a
pool of two connections, a pool timeout of 5 s, and 120 heartbeats and config reads at once: each must be answered,
none with a 500, well within the pool's timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from central_fixtures import CentralServer, DeviceClient, enrolled_device

BURST = 120  # three times anyio's 40 threads


@pytest.fixture
def server(db_url: str) -> Iterator[CentralServer]:
    with CentralServer(db_url, pool={"pool_size": 2, "max_overflow": 0, "pool_timeout": 5}) as central:
        yield central


def test_a_burst_of_kiosks_is_answered_with_a_small_pool(server: CentralServer) -> None:
    device: DeviceClient = enrolled_device(server)
    headers = {**device.auth_header(), "Content-Type": "application/json"}
    beat = b'{"version": "0.1.0", "backlog": 0}'

    def one(n: int) -> int:
        with requests.Session() as session:
            if n % 2:
                return session.get(server.url + "/api/v1/config", headers=headers, timeout=60).status_code
            return session.post(server.url + "/api/v1/heartbeat", data=beat, headers=headers, timeout=60).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(BURST) as pool:
        statuses = list(pool.map(one, range(BURST)))
    took = time.monotonic() - started
    device.close()
    assert sorted(set(statuses)) == [200, 204], statuses
    assert took < 20, f"{BURST} requests took {took:.1f} s"
