"""What became of each presentation in the demo's film: the decision it got, or why it got none.

The film's manifest lists every presentation of a code (its frames and its payload); the kiosk's store holds the
decisions in the order they were made. The film shows one code at a time, so walking both in order pairs them:
a decision belongs to the next presentation of the same person (subject key) and kind of code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kiosk.credentials import SubjectKeyer, read_credential


@dataclass(frozen=True)
class Presentation:
    number: int  # 1-based, in film order
    first_frame: int
    last_frame: int
    medium: str  # "paper" or "phone"
    payload: str

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> list[Presentation]:
        return [
            cls(n, p["start_frame"], p["end_frame"], p["medium"], p["payload"])
            for n, p in enumerate(manifest["presentations"], start=1)
        ]


@dataclass(frozen=True)
class Outcome:
    presentation: Presentation
    decision: str | None  # "ACCEPT reason", or None when not decided
    why_not: str | None = None  # when not decided


def account(
    presentations: Sequence[Presentation], decisions: Iterable[tuple[str, str | None, str]], keyer: SubjectKeyer
) -> list[Outcome]:
    """Each presentation's outcome; `decisions` are (kind, subject key, "DECISION reason") in commit order."""
    keys = [_identity(p.payload, keyer) for p in presentations]
    decided: dict[int, str] = {}
    start = 0
    for kind, subject_key, decision in decisions:
        match = next((i for i in range(start, len(keys)) if keys[i] == (kind, subject_key)), None)
        if match is not None:
            decided[match] = decision
            start = match + 1
    return [_outcome(i, presentations, decided) for i in range(len(presentations))]


def _outcome(i: int, presentations: Sequence[Presentation], decided: dict[int, str]) -> Outcome:
    presentation = presentations[i]
    if i in decided:
        return Outcome(presentation, decided[i])
    before = presentations[i - 1] if i else None
    if before is not None and before.payload == presentation.payload and i - 1 in decided:
        gap = presentation.first_frame - before.last_frame
        why = f"the code of #{before.number} again {gap} frames on: one passage, as at a real gate (debounce)"
    else:
        why = "no frame of it was read"
    return Outcome(presentation, None, why)


def _identity(payload: str, keyer: SubjectKeyer) -> tuple[str, str | None]:
    credential = read_credential(payload)
    return credential.kind.value, keyer.key_of(credential)
