"""Load shapes: closed loop (sequential, fixed concurrency) and open loop (seeded arrivals).

- ``sequential``: one request at a time (the reference's single-request method).
- ``concurrency``: ``N`` workers; each sends its next request the moment its previous response
  has been read (closed loop). A request's scheduled time is when its worker became free.
  ``ramp_up_s`` staggers the workers' first sends evenly over that many seconds, so that
  equal-length requests do not move in synchronised waves (warm-up requests absorb the ramp).
- ``rate``: open loop at ``R`` requests/s. Arrival offsets come from a seeded schedule, either
  ``constant`` (every ``1/R`` s) or ``poisson`` (exponential gaps with mean ``1/R``); requests are
  sent at their offsets whatever the server does (optionally capped at ``concurrency`` in
  flight, ``0`` = no cap). The scheduled time is ``start + offset``; lateness is reported.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from modelatlas.errors import UserError

Mode = Literal["sequential", "concurrency", "rate"]
Arrival = Literal["constant", "poisson"]


@dataclass(frozen=True)
class Load:
    """One load shape; see the module docstring."""

    mode: Mode = "sequential"
    concurrency: int = 1
    rate: float | None = None
    arrival: Arrival = "poisson"
    seed: int = 0
    ramp_up_s: float = 0.0
    """Closed loop: worker ``k`` of ``N`` starts at ``k * ramp_up_s / N`` (staggers the waves)."""

    def __post_init__(self) -> None:
        if self.mode == "rate":
            if self.rate is None or self.rate <= 0:
                raise UserError("--mode rate needs --rate R with R > 0 (requests per second).")
            if self.concurrency < 0:
                raise UserError("--concurrency must be >= 0 in rate mode (0: no cap).")
        elif self.concurrency < 1:
            raise UserError(f"--concurrency must be at least 1 (got {self.concurrency}).")

    @property
    def workers(self) -> int:
        """Closed-loop workers (1 when sequential)."""
        return 1 if self.mode == "sequential" else self.concurrency

    @property
    def level(self) -> float:
        """The load level as one number: the rate in rate mode, else the concurrency."""
        return float(self.rate) if self.mode == "rate" and self.rate else float(self.workers)

    def describe(self) -> str:
        if self.mode == "rate":
            cap = f", at most {self.concurrency} in flight" if self.concurrency else ""
            return f"open loop, {self.arrival} arrivals at {self.rate:g} req/s{cap}"
        if self.mode == "concurrency":
            return f"closed loop, {self.concurrency} concurrent streams"
        return "sequential (one request at a time)"


def arrival_offsets(count: int, rate: float, arrival: Arrival, seed: int) -> list[float]:
    """Send offsets (seconds from the start) of ``count`` requests; the first is at 0."""
    if count <= 0:
        return []
    if arrival == "constant":
        return [i / rate for i in range(count)]
    rng = random.Random(f"modelatlas-perf-arrivals:{seed}")
    offsets = [0.0]
    for _ in range(count - 1):
        offsets.append(offsets[-1] + rng.expovariate(rate))
    return offsets
