"""How a worker process shares the interpreter lock with Faust's consumer thread."""

from __future__ import annotations

import sys

import faust
import pytest

from agents.consumer import SWITCH_INTERVAL, adjust_consumer


def test_a_worker_app_hands_the_interpreter_lock_over_sooner() -> None:
    """Adjusting a worker app sets the switch interval below CPython's 5 ms default, so Faust's
    consumer thread is not held up for 5 ms behind a batch of decisions."""
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        adjust_consumer(faust.App("switch-test", broker="kafka://127.0.0.1:9"), embedded=False)
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
        assert SWITCH_INTERVAL < 0.005
    finally:
        sys.setswitchinterval(before)
