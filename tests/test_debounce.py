from __future__ import annotations

from kiosk.decode.debounce import MAX_TRACKED, Debouncer, payload_digest

A = payload_digest(b"person A")
B = payload_digest(b"person B")


def run(debouncer: Debouncer, frames: list[tuple[float, list[bytes]]]) -> list[tuple[float, bytes]]:
    acted = []
    for now, codes in frames:
        acted.extend((now, d) for d in debouncer.feed(now, codes))
    return acted


def test_same_code_is_acted_on_once_per_cooldown():
    frames = [(t / 10, [A]) for t in range(0, 70)]  # held up for 7 s, read every frame
    assert [t for t, _ in run(Debouncer(cooldown_s=3.0), frames)] == [0.0, 3.0, 6.0]


def test_two_people_in_one_frame_are_two_passages():
    assert run(Debouncer(), [(0.0, [A, B, A])]) == [(0.0, A), (0.0, B)]


def test_until_absent_waits_for_the_code_to_leave_the_view():
    debouncer = Debouncer(cooldown_s=1.0, until_absent=True, absent_s=0.5)
    held = [(t / 10, [A]) for t in range(0, 50)]  # 5 s in view: only once
    gone = [(5.0 + t / 10, []) for t in range(1, 7)]  # 0.6 s out of view
    back = [(5.7, [A])]
    assert [t for t, _ in run(debouncer, held + gone + back)] == [0.0, 5.7]


def test_confirm_frames_needs_consecutive_reads():
    debouncer = Debouncer(confirm_frames=3)
    frames = [(0.0, [A]), (0.1, [A]), (0.2, []), (0.3, [A]), (0.4, [A]), (0.5, [A])]
    assert run(debouncer, frames) == [(0.5, A)]


def test_cooldown_zero_acts_on_every_frame():
    assert len(run(Debouncer(cooldown_s=0), [(t / 10, [A]) for t in range(5)])) == 5


def test_memory_is_bounded_under_a_flood_of_distinct_codes():
    debouncer = Debouncer(cooldown_s=3600)
    for i in range(MAX_TRACKED + 500):
        debouncer.feed(i * 0.001, [payload_digest(str(i).encode())])
    assert len(debouncer._tracks) <= MAX_TRACKED


def test_forgotten_codes_are_dropped_after_the_cooldown():
    debouncer = Debouncer(cooldown_s=1.0)
    debouncer.feed(0.0, [A])
    debouncer.feed(2.5, [])
    assert not debouncer.tracking
