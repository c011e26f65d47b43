"""Debounce: one person holding a code up for two seconds is one passage, not thirty.

Codes are tracked by a digest of their payload, never the payload itself. A code is acted on when it has been
seen in `confirm_frames` consecutive frames, not within `cooldown_s` of the last time it was acted on, and (if
`until_absent`) only after it has been out of view for `absent_s` since then.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

MAX_TRACKED = 4096  # a flood of distinct codes cannot grow memory without bound


def payload_digest(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=16).digest()


@dataclass
class _Track:
    last_seen: float
    streak: int = 0
    acted_at: float | None = None
    left_view: bool = False


class Debouncer:
    """Decides which of the codes in a frame are new passages."""

    def __init__(
        self,
        cooldown_s: float = 3.0,
        *,
        until_absent: bool = False,
        absent_s: float = 1.0,
        confirm_frames: int = 1,
    ) -> None:
        self.cooldown_s = cooldown_s
        self.until_absent = until_absent
        self.absent_s = absent_s
        self.confirm_frames = confirm_frames
        self._tracks: dict[bytes, _Track] = {}

    @property
    def tracking(self) -> bool:
        """Some code is remembered (so frames without codes still matter to it)."""
        return bool(self._tracks)

    def feed(self, now: float, digests: Iterable[bytes]) -> list[bytes]:
        """The digests among this frame's codes to act on now, in the order given."""
        present = list(dict.fromkeys(digests))
        self._age(now, set(present))
        return [d for d in present if self._ready(self._see(now, d), now)]

    def retract(self, digest: bytes) -> None:
        """Undo acting on `digest` (its passage could not be recorded), so the next sighting acts again."""
        track = self._tracks.get(digest)
        if track is not None:
            track.acted_at = None

    def _see(self, now: float, digest: bytes) -> _Track:
        track = self._tracks.get(digest)
        if track is None:
            if len(self._tracks) >= MAX_TRACKED:
                self._forget_oldest()
            track = self._tracks[digest] = _Track(last_seen=now)
        elif now - track.last_seen >= self.absent_s:
            track.left_view = True
        track.last_seen = now
        track.streak += 1
        return track

    def _ready(self, track: _Track, now: float) -> bool:
        if track.streak < self.confirm_frames:
            return False
        if track.acted_at is not None:
            if now - track.acted_at < self.cooldown_s:
                return False
            if self.until_absent and not track.left_view:
                return False
        track.acted_at = now
        track.left_view = False
        return True

    def _age(self, now: float, present: set[bytes]) -> None:
        horizon = max(self.cooldown_s, self.absent_s)
        for digest, track in list(self._tracks.items()):
            if digest in present:
                continue
            track.streak = 0
            if now - track.last_seen >= self.absent_s:
                track.left_view = True
            if now - track.last_seen > horizon and (track.acted_at is None or now - track.acted_at > horizon):
                del self._tracks[digest]

    def _forget_oldest(self) -> None:
        oldest = min(self._tracks, key=lambda d: self._tracks[d].last_seen)
        del self._tracks[oldest]
