"""Asking the venue's other gates: pushing passages to them and claiming a single-use pass from them, at the
addresses mDNS found and those the config lists, every answer's signature checked (`kiosk.venue.protocol`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk.store.venuebook import Passage
from kiosk.venue.peerserver import CLAIM, PASSAGES
from kiosk.venue.protocol import DEVICE_HEADER, SIGNATURE_HEADER, Peer, PeerError, body_of, read_signed, sign

log = logging.getLogger(__name__)


class Unreachable(Exception):
    """The gate at an address did not answer, or not in a way that can be believed."""


@dataclass
class PeerClient:
    device_id: str
    key: Ed25519PrivateKey
    venue: str
    peers: Callable[[], dict[str, Peer]]
    wall: Callable[[], float]

    def post(self, address: str, path: str, document: dict[str, Any], timeout: float) -> tuple[str, dict[str, Any]]:
        """The answering gate's device id and its verified answer; Unreachable otherwise."""
        body = body_of({**document, "venue": self.venue, "sent_at": self.wall()})
        headers = {
            "Content-Type": "application/json",
            DEVICE_HEADER: self.device_id,
            SIGNATURE_HEADER: sign(self.key, path, body),
        }
        try:
            answer = requests.post(f"http://{address}{path}", data=body, headers=headers, timeout=timeout)
        except requests.RequestException as exc:
            raise Unreachable(f"{address}: {type(exc).__name__}") from None
        device, signature = answer.headers.get(DEVICE_HEADER, ""), answer.headers.get(SIGNATURE_HEADER, "")
        try:
            sender, said = read_signed(self.peers(), device, signature, path, answer.content, self.venue, self.wall())
        except PeerError as exc:
            raise Unreachable(f"{address}: {exc}") from None
        if answer.status_code != 200:
            raise Unreachable(f"{address} ({sender}): HTTP {answer.status_code}: {str(said.get('error'))[:200]}")
        return sender, said

    def push(self, address: str, passages: list[Passage], timeout: float = 2.0) -> int:
        """Send this gate's passages; how many the other gate did not hold yet."""
        _, said = self.post(address, PASSAGES, {"passages": [p.as_json() for p in passages]}, timeout)
        held = said.get("held")
        return held if isinstance(held, int) else 0

    def claim(self, addresses: list[str], subject_key: str, timeout: float) -> str:
        """Ask every gate at once: "used" if one says so, "first" if every gate of the venue said not, else
        "unknown" (some did not answer within `timeout`)."""
        expected = set(self.peers())
        if not expected:
            return "first"  # the only gate of its venue
        answers: dict[str, bool] = {}
        pool = ThreadPoolExecutor(max_workers=max(1, len(addresses)), thread_name_prefix="claim")
        try:
            futures = [pool.submit(self.post, a, CLAIM, {"subject_key": subject_key}, timeout) for a in addresses]
            done, _ = wait(futures, timeout=timeout)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # a gate that hangs is not waited for past the bound
        for future in done:
            try:
                sender, said = future.result()
            except Unreachable as exc:
                log.info("single-use claim: %s", exc)
                continue
            answers[sender] = bool(said.get("used"))
        if any(answers.values()):
            return "used"
        return "first" if expected <= set(answers) else "unknown"
