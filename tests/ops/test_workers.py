"""-workers=N: one process group, one state. Readiness turns off in every worker at
the first SIGTERM, and the chaos switches hold whichever worker is asked."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.processes import APP, free_port, wait_until_ready


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    process = subprocess.Popen(
        [APP, "-mode=backend", "-workers=2", "-chaos", "-shutdown-delay=5", f"-port={port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group: the teardown ends the workers too
        env={
            **os.environ,
            "AWSME_HOST": "127.0.0.1",
            "AWSME_METADATA": "simulated",
            "AWSME_DB_URL": f"sqlite:///{tmp_path}/notes.db",
        },
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_ready(url + "/healthz", process)
    both_serving(url)
    yield process, url
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def fresh_get(url: str, timeout: float = 10) -> httpx.Response:
    """On a new connection, so that the kernel hands it to either worker."""
    with httpx.Client(timeout=timeout) as client:
        return client.get(url)


def served_by(url: str) -> int:
    pid: int = fresh_get(url + "/api/v1/instance").json()["served_by"]["pid"]
    return pid


def both_serving(url: str) -> None:
    pids: set[int] = set()
    deadline = time.monotonic() + 20
    while len(pids) < 2 and time.monotonic() < deadline:
        pids.add(served_by(url))
    assert len(pids) == 2, "both workers answer"


def test_readiness_turns_off_in_every_worker_at_the_first_sigterm(
    workers: tuple[subprocess.Popen[str], str],
) -> None:
    process, url = workers
    process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    # uvicorn's parent relays the signal to its workers within 0.5 s; these asks
    # all come before that, on 30 fresh connections spread over both workers.
    answers = [fresh_get(url + "/readyz").status_code for _ in range(30)]
    asked_within = time.monotonic() - signalled
    assert answers == [503] * 30, (answers, asked_within)
    both_serving(url)  # both workers were still serving (-shutdown-delay), not ready
    assert fresh_get(url + "/readyz").text == "shutting down\n"
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err


def test_chaos_switches_hold_in_every_worker(
    workers: tuple[subprocess.Popen[str], str],
) -> None:
    _, url = workers
    assert httpx.post(url + "/chaos/latency?ms=300").status_code == 200
    assert httpx.post(url + "/chaos/probes/readyz?count=4").status_code == 200
    states = {switches(fresh_get(url + "/chaos").json()) for _ in range(10)}
    assert len(states) == 1  # the same from every worker
    pids: set[int] = set()
    for _ in range(40):  # until both workers have answered
        started = time.monotonic()
        pids.add(served_by(url))
        assert time.monotonic() - started >= 0.3  # slowed, whichever worker answered
        if len(pids) == 2:
            break
    assert len(pids) == 2
    # Four failures in all, counted down across the workers.
    answers = [fresh_get(url + "/readyz").status_code for _ in range(10)]
    assert answers == [503] * 4 + [200] * 6
    httpx.delete(url + "/chaos")
    assert {fresh_get(url + "/chaos").json()["latency_ms"] for _ in range(6)} == {0}


def switches(state: dict[str, Any]) -> tuple[object, ...]:
    """The switches of GET /chaos, without the cgroup's live numbers."""
    return (
        str(state["failing_probes"]),
        state["latency_ms"],
        state["error_percent"],
        state["cpu"]["percent"],
        state["memory"]["mb"],
    )


def test_memory_held_through_one_worker_is_let_go_through_any(
    workers: tuple[subprocess.Popen[str], str],
) -> None:
    _, url = workers
    assert httpx.post(url + "/chaos/memory?mb=16").status_code == 200
    held = {fresh_get(url + "/chaos").json()["memory"]["mb"] for _ in range(10)}
    assert held == {16}  # every worker sees it
    for _ in range(10):  # from fresh connections: whichever worker answers
        fresh_get(url + "/chaos")
    assert httpx.delete(url + "/chaos/memory").status_code == 200
    deadline = time.monotonic() + 5
    while {fresh_get(url + "/chaos").json()["memory"]["mb"] for _ in range(6)} != {0}:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_a_worker_stopped_alone_leaves_the_group_ready(
    workers: tuple[subprocess.Popen[str], str],
) -> None:
    _, url = workers
    os.kill(served_by(url), signal.SIGTERM)  # one worker, not the group's parent
    deadline = time.monotonic() + 30
    answers: list[int] = []
    # The other worker stays ready; the parent replaces the stopped one, which is
    # ready too: the stop was not the group's.
    while answers[-10:] != [200] * 10 and time.monotonic() < deadline:
        answers.append(fresh_get(url + "/readyz").status_code)
        time.sleep(0.05)
    assert answers[-10:] == [200] * 10, answers
    both_serving(url)


def test_a_second_signal_ends_the_group_at_once(
    workers: tuple[subprocess.Popen[str], str],
) -> None:
    """-shutdown-delay=5 would keep the group serving 5 s; a second SIGTERM ends the
    parent and its workers now, as it does a single process."""
    process, url = workers
    worker_pids = {served_by(url) for _ in range(20)}
    process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=4) == 1
    assert time.monotonic() - started < 3
    for pid in worker_pids:  # killed: gone, or a zombie waiting for init (a moment to die)
        deadline = time.monotonic() + 3
        with contextlib.suppress(psutil.NoSuchProcess):
            while psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                assert time.monotonic() < deadline, f"worker {pid} still runs"
                time.sleep(0.05)


def test_new_connections_spread_evenly_over_the_workers(
    workers: tuple[subprocess.Popen[str], str],
) -> None:
    _, url = workers
    port = int(url.rsplit(":", 1)[1])
    counts: Counter[int] = Counter()
    for _ in range(4):
        # 100 connections opened at once, as a burst of load opens them: workers
        # sharing one socket take them in uneven batches.
        connections = [
            http.client.HTTPConnection("127.0.0.1", port, timeout=20) for _ in range(100)
        ]
        for connection in connections:
            connection.connect()
        for connection in connections:
            connection.request("GET", "/api/v1/instance")
        for connection in connections:
            counts[json.loads(connection.getresponse().read())["served_by"]["pid"]] += 1
            connection.close()
    assert len(counts) == 2, counts
    assert all(0.4 <= count / 400 <= 0.6 for count in counts.values()), counts


def test_workers_are_forked_after_the_imports_and_each_becomes_ready(
    workers: tuple[subprocess.Popen[str], str],
) -> None:
    process, url = workers
    parent = psutil.Process(process.pid)
    children = [c for c in parent.children() if "resource_tracker" not in " ".join(c.cmdline())]
    assert len(children) == 2
    # Forked: a spawned worker runs `python -c "from multiprocessing.spawn ..."`
    # and imports every module again before it can serve.
    assert all(child.cmdline() == parent.cmdline() for child in children)
    answers = {fresh_get(url + "/readyz").status_code for _ in range(20)}
    assert answers == {200}  # ready in each worker, whichever the kernel picks
