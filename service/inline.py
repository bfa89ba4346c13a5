"""When a request may run its model on the event loop instead of hopping to the model's thread.

Why: handing ``session.run`` to the model's thread and back costs about 100 µs on this machine
(two thread wake-ups; ``python -m service.bench_overhead``: 56.7 µs inline vs 157.7 µs via the
executor), more than a whole sentiment inference.
The hop exists so the event loop never stalls while other requests wait. When this request is
the only one in flight in the process and its model is idle, nobody is waiting, so the hop buys
nothing. Running inline is then allowed only for one-row requests of models whose measured
one-row run is short (``inline_max_us``), which bounds how long a request that arrives meanwhile
can be delayed, and never when the batcher is told to wait for company (``max_queue_delay_us``).
Under any concurrency every request takes the hop (and the batcher) as before.

"Alone" is counted when handlers start, so a request the loop has already read but not yet
started is invisible; the runner therefore yields once (``asyncio.sleep(0)``) and checks again.
A request still in the socket buffer waits at most one inline run, which ``inline_max_us`` bounds.
"""

from __future__ import annotations


class Activity:
    """HTTP requests in flight in this process (the request middleware counts them)."""

    def __init__(self) -> None:
        self.requests = 0

    def alone(self) -> bool:
        """True when at most one request (the caller's own) is in flight."""
        return self.requests <= 1


#: One per process: the event loop is shared by every app and model in it.
ACTIVITY = Activity()
