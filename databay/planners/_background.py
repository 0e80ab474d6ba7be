"""``with planner:``: run ``start()`` in a background thread for the block's duration."""

from __future__ import annotations

import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def start_in_background(planner: Any) -> Any:
    """Start ``planner`` in a daemon thread; return it once running (or raise why it failed)."""
    failure: list = []
    planner._background_failure = failure
    planner._started.clear()

    def run() -> None:
        try:
            planner.start()
        except BaseException as error:  # reported by __enter__ or __exit__
            failure.append(error)
        finally:
            planner._started.set()  # also when start() failed before running

    thread = threading.Thread(target=run, name="databay-planner", daemon=True)
    planner._background = thread
    thread.start()
    planner._started.wait()
    if failure:
        thread.join()
        raise failure[0]
    return planner


def stop_background(planner: Any, raise_failure: bool) -> None:
    """Shut down, join the thread, re-raise an error the planner stopped on."""
    planner.shutdown(wait=True)
    thread, planner._background = getattr(planner, "_background", None), None
    if thread is not None:
        thread.join()
    failure = getattr(planner, "_background_failure", ())
    if failure and raise_failure:
        raise failure[0]
