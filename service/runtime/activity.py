"""How many requests are in flight in this process: the inline rule's input and the in-flight gauge.

Why inline at all: handing ``session.run`` to the model's thread and back costs about 100 µs on
this machine (two thread wake-ups; ``python -m benchmarks.bench_overhead`` measures it), more than
a whole sentiment inference. The hop exists so the event loop never stalls while other requests
wait. When a request is the only one in flight in the process and its model is idle, nobody is
waiting, so the hop buys nothing. Running inline is then allowed only for a one-row request whose
estimated run (the model's one-row run measured at warm-up, scaled by this request's time steps)
is within ``inline_max_us``: that bounds how long a request arriving meanwhile can be delayed,
whatever size the lone request is.

"Alone" is counted when requests enter the app, so a request the loop has already read but not
yet started is invisible; the runner therefore yields once (``asyncio.sleep(0)``) and checks
again. A request still in the socket buffer waits at most one inline run.
"""

from __future__ import annotations

from collections.abc import Callable


class Activity:
    """Requests in flight in this process (the request middleware counts them)."""

    def __init__(self) -> None:
        self.requests = 0
        #: told every new count when this process is one of several workers: the in-flight gauge
        #: must then be written as it changes, for the other workers' scrapes to read
        self.mirror: Callable[[int], None] | None = None

    def enter(self) -> None:
        self.requests += 1
        if self.mirror is not None:
            self.mirror(self.requests)

    def leave(self) -> None:
        self.requests -= 1
        if self.mirror is not None:
            self.mirror(self.requests)

    def alone(self) -> bool:
        """True when at most one request (the caller's own) is in flight."""
        return self.requests <= 1


#: One per process: the event loop is shared by every app and model in it.
ACTIVITY = Activity()
