"""A 60-second soak of a live source: memory and latency stay flat (10-minute version:
``python -m benchmarks.soak --minutes 10``)."""

from __future__ import annotations

import pytest
from conftest import FAST

from benchmarks.soak import soak


@pytest.mark.slow
def test_one_minute_live_soak(long_clip, tmp_path):
    result = soak(long_clip, 60, tmp_path, FAST, warmup_s=15)
    assert result.frames_out > 300  # ~12 fps for a minute, minus drops
    assert result.rss_growth < 0.05, result
    assert result.latency_p95_last_ms <= 2 * max(result.latency_p95_first_ms, 1.0), result
    assert result.passed
