"""One how-to-ask hint per person and channel an hour, on every platform, with bounded memory."""

from __future__ import annotations

from bot.hint_limit import HintLimiter


def test_once_an_hour_per_person_and_channel() -> None:
    now = [0.0]
    hints = HintLimiter(clock=lambda: now[0])
    assert hints.allow("C1", "U1") and not hints.allow("C1", "U1")
    assert hints.allow("C1", "U2") and hints.allow("C2", "U1")
    now[0] = 3599.0
    assert not hints.allow("C1", "U1")
    now[0] = 3600.0
    assert hints.allow("C1", "U1")


def test_memory_is_bounded_forgetting_the_oldest() -> None:
    hints = HintLimiter(remembered=3, clock=lambda: 0.0)
    for person in ("a", "b", "c", "d"):
        assert hints.allow("C", person)
    assert hints.allow("C", "a")  # forgotten: the oldest went first
    assert not hints.allow("C", "d")
