"""A value one thread replaces whole and other threads read as it stands: the lists a decision uses (written by
sync, read by the frame loop), and the status records the loop and sync publish for the status page.

Replacing is one reference assignment, atomic under the interpreter's lock: a reader sees the old value or the
new one, never a mixture. The values published are immutable, so a reader may keep what it took for as long as
it works on it (the loop takes the lists once per decision).
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Published(Generic[T]):
    """The current value, replaced only by `publish`."""

    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value = value

    @property
    def current(self) -> T:
        return self._value

    def publish(self, value: T) -> None:
        self._value = value
