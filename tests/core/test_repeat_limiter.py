"""RepeatLimiter: repeated messages are logged once in full, then summarised once per period."""

import logging
import threading

from databay._log import RepeatLimiter


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class ListLogger:
    def __init__(self):
        self.lines = []

    def log(self, level, message, *args, exc_info=None):
        self.lines.append((level, message % args, exc_info))


def _limiter(period=60.0, **kwargs):
    clock, logger = FakeClock(), ListLogger()
    return RepeatLimiter(logger, period=period, clock=clock, **kwargs), clock, logger


def test_first_occurrence_is_logged_in_full_with_its_traceback():
    limiter, clock, logger = _limiter()
    error = ValueError("boom")
    assert limiter.log("k", logging.ERROR, "Outlet %s of %s failed", ("X", "L"), "during update %d: %s",
                       (0, "boom"), exc_info=error)
    assert logger.lines == [(logging.ERROR, "Outlet X of L failed during update 0: boom", error)]


def test_repeats_within_the_period_are_counted_then_summarised_on_the_next_occurrence():
    limiter, clock, logger = _limiter()
    limiter.log("k", logging.ERROR, "Outlet X of L failed", (), "update 0", ())
    for number in range(1, 58):
        clock.now += 1.0
        assert not limiter.log("k", logging.ERROR, "Outlet X of L failed", (), "update %d", (number,))
    assert len(logger.lines) == 1
    clock.now += 3.0  # 60 s after the first
    assert limiter.log("k", logging.ERROR, "Outlet X of L failed", (), "update %d", (58,), exc_info=ValueError())
    assert len(logger.lines) == 2
    level, line, exc_info = logger.lines[1]
    assert line == "Outlet X of L failed 58 more times in the last 60 s (latest: update 58)"
    assert exc_info is None  # a summary carries no traceback


def test_flush_summarises_pending_repeats_at_shutdown_and_only_once():
    limiter, clock, logger = _limiter()
    for _ in range(5):
        limiter.log("k", logging.WARNING, "Skipped a transfer of L", (), "still running", ())
        clock.now += 2
    limiter.log("other", logging.WARNING, "Once", (), "", ())
    limiter.flush()
    assert [line for _, line, _ in logger.lines] == [
        "Skipped a transfer of L still running", "Once",
        "Skipped a transfer of L 4 more times in the last 8 s (latest: still running)"]
    limiter.flush()
    assert len(logger.lines) == 3


def test_one_call_can_stand_for_many_occurrences_and_they_all_count():
    """``times=n`` (a planner logging a whole batch of late links at once) counts n occurrences:
    the first of a new key in full, the rest as repeats; a repeat call adds all n."""
    limiter, clock, logger = _limiter()
    assert limiter.log("k", logging.INFO, "Late:", (), "%s", ("a",), times=3)
    clock.now += 1
    assert not limiter.log("k", logging.INFO, "Late:", (), "%s", ("b",), times=5)
    limiter.flush()
    assert [line for _, line, _ in logger.lines] == [
        "Late: a", "Late: 7 more times in the last 1 s (latest: b)"]


def test_a_key_quiet_for_a_whole_period_is_logged_in_full_again():
    limiter, clock, logger = _limiter(period=10)
    limiter.log("k", logging.ERROR, "A failed", (), "1", (), exc_info=KeyError())
    clock.now += 1
    limiter.log("k", logging.ERROR, "A failed", (), "2", ())
    clock.now += 30
    error = KeyError("again")
    limiter.log("k", logging.ERROR, "A failed", (), "3", (), exc_info=error)
    assert [line for _, line, _ in logger.lines] == [
        "A failed 1", "A failed 1 more time in the last 1 s (latest: 2)", "A failed 3"]
    assert logger.lines[-1][2] is error


def test_distinct_keys_are_independent():
    limiter, clock, logger = _limiter()
    for key in ("a", "b", "a", "b"):
        limiter.log(key, logging.ERROR, key, (), "", ())
    assert [line for _, line, _ in logger.lines] == ["a", "b"]


def test_memory_is_bounded_by_max_keys_and_evicted_repeats_are_summarised():
    limiter, clock, logger = _limiter(max_keys=10)
    limiter.log("first", logging.ERROR, "first", (), "", ())
    limiter.log("first", logging.ERROR, "first", (), "", ())
    for number in range(100):
        clock.now += 0.01
        limiter.log(number, logging.ERROR, "n", (), str(number), ())
    assert len(limiter._seen) <= 10
    assert any(line.startswith("first 1 more time") for _, line, _ in logger.lines)


def test_thread_safe_counts_add_up():
    limiter, clock, logger = _limiter()
    barrier = threading.Barrier(4)

    def hammer():
        barrier.wait()
        for _ in range(2000):
            limiter.log("k", logging.ERROR, "S", (), "d", ())

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    limiter.flush()
    assert [line for _, line, _ in logger.lines] == [
        "S d", "S 7999 more times in the last 1 s (latest: d)"]


def test_real_logger_and_default_clock(caplog):
    limiter = RepeatLimiter(logging.getLogger("databay.Test"))
    with caplog.at_level(logging.ERROR, logger="databay.Test"):
        for _ in range(3):
            limiter.log(("L", "X", "ValueError", "boom"), logging.ERROR, "%s failed", ("X",), "%s", ("boom",))
    assert [r.getMessage() for r in caplog.records] == ["X failed boom"]
