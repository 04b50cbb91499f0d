"""Notes on MariaDB at 1,000 and 1,000,000 rows: insert rate and list latency.

    make bench-notes            # or: .venv/bin/python bench/notes_bench.py [--url mysql://...]

It creates a throwaway database (awsme_bench_notes), fills it, measures through
the same NoteStore the routes use, prints a table and drops the database.
Ratios between the two sizes are what matter: this machine's speed drifts.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text

from awsme.notes.database import create_engine, database_url
from awsme.notes.migrate import migrate
from awsme.notes.store import NoteStore
from awsme.settings import Settings

DEFAULT_URL = "mysql://root@127.0.0.1:3306/awsme_bench_notes"
SIZES = (1_000, 1_000_000)
LIST_RUNS = 300
INSERTS = 1_000
CONCURRENCY = 16


async def timed(call: Callable[[], Awaitable[Any]], runs: int) -> tuple[float, float]:
    """p50 and p99 latency of `call`, in milliseconds."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    quantiles = statistics.quantiles(samples, n=100)
    return statistics.median(samples), quantiles[98]


async def insert_rate(store: NoteStore, count: int, concurrency: int) -> float:
    queue = iter(range(count))

    async def worker() -> None:
        for number in queue:
            await store.add(f"bench note {number}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def grow_to(store: NoteStore, rows: int) -> None:
    """Fill to `rows` notes with MariaDB's sequence engine (seconds, not minutes)."""
    async with store.engine.begin() as connection:
        have = int(await connection.scalar(text("SELECT COALESCE(MAX(id), 0) FROM notes")) or 0)
        if have < rows:
            await connection.execute(
                text(
                    "INSERT INTO notes (created_at, updated_at, note) "
                    f"SELECT NOW(), NOW(), CONCAT('bench note ', seq) FROM seq_1_to_{rows - have}"
                )
            )
        # Some soft-deleted rows, as a real table has.
        await connection.execute(text("UPDATE notes SET deleted_at = NOW() WHERE id % 50 = 0"))
        await connection.execute(text("ANALYZE TABLE notes"))


async def measure(store: NoteStore, size: int) -> dict[str, Any]:
    async with store.engine.connect() as connection:
        middle = await connection.scalar(text("SELECT MAX(id) DIV 2 FROM notes"))
    return {
        "rows": size,
        "first page (20)": await timed(lambda: store.page(20), LIST_RUNS),
        "deep page (20)": await timed(lambda: store.page(20, int(middle)), LIST_RUNS),
        "GET / notes (100)": await timed(lambda: store.recent(100), LIST_RUNS),
        "inserts/s (1 conn)": await insert_rate(store, INSERTS // 4, 1),
        f"inserts/s ({CONCURRENCY} tasks)": await insert_rate(store, INSERTS, CONCURRENCY),
    }


def print_table(results: list[dict[str, Any]]) -> None:
    keys = [key for key in results[0] if key != "rows"]
    header = f"{'measure':<22}" + "".join(f"{r['rows']:>24,} rows".rjust(30) for r in results)
    print(header)
    for key in keys:
        cells = []
        for result in results:
            value = result[key]
            if isinstance(value, tuple):
                cells.append(f"p50 {value[0]:6.2f} ms, p99 {value[1]:6.2f} ms")
            else:
                cells.append(f"{value:>20,.0f}/s")
        print(f"{key:<22}" + "".join(f"{cell:>30}" for cell in cells))
    first, last = results[0], results[-1]
    print()
    for key in keys:
        if isinstance(first[key], tuple):
            ratio = last[key][0] / first[key][0]
            print(
                f"{key}: p50 at {last['rows']:,} rows is {ratio:.2f}x the p50 at {first['rows']:,}"
            )


async def main(url_text: str) -> None:
    url = database_url(Settings(db_url=url_text))
    await migrate(url)
    engine = create_engine(url, pool_size=CONCURRENCY)
    store = NoteStore(engine, timeout=60)
    try:
        results = []
        for size in SIZES:
            await grow_to(store, size)
            results.append(await measure(store, size))
        print_table(results)
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS `{url.database}`"))
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="a MySQL/MariaDB URL (dropped after)")
    asyncio.run(main(parser.parse_args().url))
