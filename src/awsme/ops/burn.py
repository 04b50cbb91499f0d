"""One CPU burner: `python -m awsme.ops.burn <share of a core> <until (time.time())>`.

A process of its own, so that the burn never holds the server's GIL. It works
and sleeps in 100 ms slices, and ends at its deadline, on SIGTERM, or as soon
as the server that started it is gone (its parent changes)."""

from __future__ import annotations

import os
import sys
import time

SLICE = 0.1


def burn(share: float, until: float, parent: int) -> None:
    while time.time() < until and os.getppid() == parent:
        start = time.perf_counter()
        while time.perf_counter() - start < SLICE * share:
            pass
        time.sleep(SLICE * (1 - share))


def main(argv: list[str]) -> int:
    share, until, parent = float(argv[0]), float(argv[1]), int(argv[2])
    burn(min(max(share, 0.0), 1.0), until, parent)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
