"""workers/decoders.py: how long media is cut into windows, one decode task each."""

from __future__ import annotations

from workers.decoders import WHOLE, Window, plan


def test_short_or_unknown_media_is_one_window() -> None:
    assert plan(None, 300.0) == [WHOLE]
    assert plan(300.0, 300.0) == [WHOLE]
    assert plan(310.0, 300.0) == [WHOLE]  # a remainder under 5 % of a window goes with the last one


def test_long_media_is_cut_into_windows_that_cover_it_once() -> None:
    windows = plan(12.0, 5.0)
    assert windows == [Window(0, 3, 0.0, 5.0), Window(1, 3, 5.0, 10.0), Window(2, 3, 10.0, None)]
    assert plan(600.02, 300.0) == [Window(0, 2, 0.0, 300.0), Window(1, 2, 300.0, None)]


def test_a_window_travels_in_a_message_unchanged() -> None:
    for window in plan(1000.0, 300.0):
        assert Window.from_message(window.to_message()) == window
