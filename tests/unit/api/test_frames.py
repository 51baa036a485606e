"""Events share WebSocket frames, newline-separated, without a frame outgrowing its limit."""

from __future__ import annotations

from services.api.live import frames


def test_events_that_fit_share_one_frame_in_order() -> None:
    assert list(frames([b'{"a":1}', b'{"b":2}', b'{"c":3}'])) == [b'{"a":1}\n{"b":2}\n{"c":3}']


def test_a_frame_is_closed_before_it_would_pass_the_limit() -> None:
    events = [b"x" * 40, b"y" * 40, b"z" * 40]

    sent = list(frames(events, limit=100))

    assert sent == [b"x" * 40 + b"\n" + b"y" * 40, b"z" * 40]
    assert all(len(frame) <= 100 for frame in sent)


def test_an_event_larger_than_the_limit_goes_alone() -> None:
    events = [b"small", b"L" * 500, b"tail"]

    assert list(frames(events, limit=100)) == [b"small", b"L" * 500, b"tail"]


def test_no_events_make_no_frame() -> None:
    assert list(frames([])) == []
