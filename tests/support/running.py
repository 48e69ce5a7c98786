"""A capture (anything with `run(stop_event)`) running in a thread, for tests that change the source meanwhile."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class InThread:
    def __init__(
        self,
        run: Callable[[threading.Event], object],
        events: Callable[[], int],
        ready: Callable[[], bool] = lambda: True,
        on_close: Callable[[], None] = lambda: None,
    ) -> None:
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self._events, self._ready, self._on_close = events, ready, on_close
        self.thread = threading.Thread(target=self._run, args=(run,), daemon=True)
        self.thread.start()

    def _run(self, run: Callable[[threading.Event], object]) -> None:
        try:
            run(self.stop)
        except BaseException as exc:
            self.error = exc

    def wait_for(self, events: int, timeout: float = 90) -> None:
        """Until the capture is ready (e.g. streaming) and has published at least `events` events."""
        deadline = time.monotonic() + timeout
        while not (self._ready() and self._events() >= events):
            if self.error is not None:
                raise self.error
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self._events()} of {events} events")
            time.sleep(0.05)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(90)
        try:
            self._on_close()
        finally:
            if self.error is not None:
                raise self.error
