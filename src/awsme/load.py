"""`app -mode=load`: a load generator for the terminal, to watch a balancer spread load.

It sends GET requests to -url from -c connections, as fast as they go or at -rate
per second, for -duration seconds. Each answer names the replica that served it in
`X-Served-By` (and, through a frontend, its backend's in `X-Backend-Served-By`): a
table of which replicas answered is redrawn every second, then a summary with the
status counts and p50/p95/p99, as text or, with -json, as JSON.

`-fresh-connections` opens one connection per request, as a per-connection balancer
(a Kubernetes Service, an NLB) needs to see to spread anything at all.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import aiohttp

SERVED_BY = "X-Served-By"
BACKEND_SERVED_BY = "X-Backend-Served-By"
UNNAMED = "(no X-Served-By)"


class Latencies:
    """Latencies in log-scale buckets 1 % wide, from 10 µs to 10 min: a run of any
    length costs the same memory, and a percentile is one walk over the buckets
    (keeping every sample, a day at 5k/s would be GBs, and each redraw a sort)."""

    SMALLEST = 1e-5
    GROWTH = 1.01
    BUCKETS = math.ceil(math.log(600 / SMALLEST, GROWTH)) + 1

    def __init__(self) -> None:
        self.counts = [0] * self.BUCKETS
        self.count = 0

    def add(self, seconds: float) -> None:
        ratio = max(seconds, self.SMALLEST) / self.SMALLEST
        self.counts[min(self.BUCKETS - 1, int(math.log(ratio, self.GROWTH)))] += 1
        self.count += 1

    def percentile(self, p: float) -> float | None:
        """The nearest-rank percentile, in seconds: its bucket's upper edge (within 1 %)."""
        if not self.count:
            return None
        rank, seen = max(1, math.ceil(p / 100 * self.count)), 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return self.SMALLEST * self.GROWTH ** (index + 1)
        return None  # not reached: the counts add up to self.count


@dataclass
class Tally:
    """What came back so far."""

    started: float = field(default_factory=time.monotonic)
    replicas: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: Latencies = field(default_factory=Latencies)

    def record(self, replica: str, status: str, seconds: float) -> None:
        self.replicas[replica] += 1
        self.statuses[status] += 1
        self.latencies.add(seconds)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    def percentile(self, p: float) -> float | None:
        return self.latencies.percentile(p)

    def summary(self, elapsed: float) -> dict[str, Any]:
        def ms(p: float) -> float | None:
            value = self.percentile(p)
            return None if value is None else round(value * 1000, 2)

        return {
            "requests": self.total,
            "seconds": round(elapsed, 3),
            "requests_per_second": round(self.total / elapsed, 1) if elapsed else None,
            "replicas": dict(self.replicas.most_common()),
            "statuses": dict(sorted(self.statuses.items())),
            "latency_ms": {"p50": ms(50), "p95": ms(95), "p99": ms(99)},
        }


def replica_of(headers: Any) -> str:
    served_by = headers.get(SERVED_BY) or UNNAMED
    backend = headers.get(BACKEND_SERVED_BY)
    return f"{served_by} -> {backend}" if backend else served_by


@dataclass(frozen=True, slots=True)
class Plan:
    """What to send: the -url, -c, -rate, -duration, -fresh-connections and
    -load-timeout flags."""

    url: str
    connections: int
    rate: float  # requests per second in all; 0: as fast as the connections go
    duration: float
    fresh_connections: bool
    request_timeout: float


async def generate(plan: Plan, tally: Tally) -> None:
    """Send requests until the plan's duration has passed; every outcome goes to `tally`."""
    connector = aiohttp.TCPConnector(limit=plan.connections, force_close=plan.fresh_connections)
    timeout = plan.request_timeout
    client_timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 3.0))
    deadline = tally.started + plan.duration
    sent = 0

    def next_slot() -> float | None:
        """When the next request may leave (None: the time is up). A target slower than
        the rate lets slots pass unused: -duration holds either way."""
        nonlocal sent
        now = time.monotonic()
        slot = tally.started + sent / plan.rate if plan.rate > 0 else now
        sent += 1
        return slot if max(slot, now) < deadline else None

    async with aiohttp.ClientSession(
        connector=connector, timeout=client_timeout, headers={"User-Agent": "awsme-load"}
    ) as session:

        async def worker() -> None:
            while (slot := next_slot()) is not None:
                if (wait := slot - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                began = time.monotonic()
                try:
                    async with session.get(plan.url, allow_redirects=False) as response:
                        await response.read()
                        replica, status = replica_of(response.headers), str(response.status)
                except TimeoutError:
                    replica, status = "(no answer)", "timeout"
                except aiohttp.ClientError as error:
                    replica, status = "(no answer)", _error_name(error)
                tally.record(replica, status, time.monotonic() - began)

        await asyncio.gather(*(worker() for _ in range(plan.connections)))


def _error_name(error: aiohttp.ClientError) -> str:
    if isinstance(error, aiohttp.ClientConnectorError):
        return "connection refused"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "disconnected"
    return type(error).__name__


def table(tally: Tally, elapsed: float) -> str:
    """Which replicas answered, with their share, then statuses and latencies."""
    total = tally.total or 1
    width = max([len(r) for r in tally.replicas] + [len("replica")])
    lines = [f"{'replica':<{width}}  {'answers':>8}  {'share':>6}"]
    for replica, count in tally.replicas.most_common():
        lines.append(f"{replica:<{width}}  {count:>8}  {count / total:>6.1%}")
    statuses = "  ".join(f"{status}: {count}" for status, count in sorted(tally.statuses.items()))
    marks = [(name, tally.percentile(p)) for name, p in (("p50", 50), ("p95", 95), ("p99", 99))]
    latency = (
        "  ".join(f"{name} {value * 1000:.1f} ms" for name, value in marks if value is not None)
        or "no answers yet"
    )
    rps = tally.total / elapsed if elapsed else 0.0
    lines += ["", f"{tally.total} requests in {elapsed:.1f} s ({rps:.1f}/s)   {statuses}", latency]
    return "\n".join(lines)


async def run_load(
    plan: Plan, every: float = 1.0, on_tick: Callable[[Tally, float], None] | None = None
) -> Tally:
    tally = Tally()
    work = asyncio.create_task(generate(plan, tally))
    while not work.done():
        await asyncio.wait({work}, timeout=every)
        if on_tick is not None and not work.done():
            on_tick(tally, time.monotonic() - tally.started)
    work.result()
    return tally


def main(plan: Plan, *, as_json: bool, out: TextIO = sys.stdout, live: TextIO = sys.stderr) -> int:
    """Run, drawing the live table on `live`; the summary goes to `out`. Exit 0 when
    at least one request was answered with a status below 500."""
    redraw = live.isatty()
    drawn = 0

    def tick(tally: Tally, elapsed: float) -> None:
        nonlocal drawn
        text = table(tally, elapsed)
        if redraw and drawn:
            live.write(f"\x1b[{drawn}F\x1b[J")  # back to the table's first line, clear
        live.write(text + "\n" + ("" if redraw else "\n"))
        live.flush()
        drawn = text.count("\n") + 1

    tally = asyncio.run(run_load(plan, on_tick=tick))
    elapsed = time.monotonic() - tally.started
    if as_json:
        out.write(json.dumps(tally.summary(elapsed), indent=2) + "\n")
    else:
        out.write(table(tally, elapsed) + "\n")
    answered = sum(
        n for status, n in tally.statuses.items() if status.isdigit() and int(status) < 500
    )
    return 0 if answered else 1
