"""`make bench`: awsme's routes beside nginx serving the same bytes, in one run.

It starts the program as a user would (-workers=2, the simulator for metadata,
MariaDB with 20 notes), starts nginx on loopback serving, as static files, the
exact bytes each measured route returns, and drives both with wrk. It prints,
per route, requests per second, p50 and p99 latency, errors and the ratio to
nginx; then each process's peak memory, the time from start to ready, and how
many requests the metadata service saw during the load. Results go to
build/bench/results.json and build/bench/results.png.

Ratios are what count: this shared machine's absolute speed drifts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
APP = str(Path(sys.executable).parent / "app")
OUT = ROOT / "build" / "bench"
CONNECTIONS = 32
THREADS = 2
NOTES = 20
DATABASE = "awsme_bench"
MARIADB_URL = f"mysql://root@127.0.0.1:3306/{DATABASE}"

# (name, which server, method, path, target ratio to nginx, p99 target in ms)
ROUTES = [
    ("backend /api/v1/instance", "backend", "GET", "/api/v1/instance", 0.25, 25),
    ("backend / (20 notes, MariaDB)", "backend", "GET", "/", 0.05, 25),
    ("frontend / (fresh connection)", "frontend", "GET", "/", 0.02, 50),
    ("frontend / (keep-alive pool)", "frontend_pooled", "GET", "/", 0.03, 50),
    ("backend POST /api/v1/notes", "backend", "POST", "/api/v1/notes", None, 25),
]
MEMORY_LIMIT_MB = 80
READY_LIMIT_S = 1.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    url: str
    ready_seconds: float = 0.0

    def pids(self) -> list[int]:
        """The process and its workers."""
        found = [self.popen.pid]
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                text = status.read_text()
            except OSError:
                continue
            parent = re.search(r"^PPid:\s+(\d+)", text, re.M)
            if parent and int(parent.group(1)) == self.popen.pid:
                found.append(int(status.parent.name))
        return found

    def peak_memory_mb(self) -> float:
        """The largest peak resident set of the process or any of its workers."""
        peaks = []
        for pid in self.pids():
            try:
                text = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
            if match:
                peaks.append(int(match.group(1)) / 1024)
        return max(peaks, default=0.0)


def start(name: str, args: list[str], ready_path: str, workdir: Path) -> Process:
    port = free_port()
    started = time.monotonic()
    popen = subprocess.Popen(
        [APP, *args, "-host=127.0.0.1", f"-port={port}"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / f"{name}.log", "wb"),  # noqa: SIM115 - lives as long as the process
    )
    url = f"http://127.0.0.1:{port}"
    deadline = started + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + ready_path, timeout=1).status_code == 200:
                return Process(name, popen, url, time.monotonic() - started)
        except httpx.TransportError:
            pass
        time.sleep(0.01)
    raise SystemExit(f"{name} did not become ready; see {workdir / (name + '.log')}")


def stop(process: Process) -> None:
    process.popen.send_signal(signal.SIGTERM)
    try:
        process.popen.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.popen.kill()


def nginx(root: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """nginx serving `root` as static files (a POST answers the same file as 201)."""
    port = free_port()
    config = workdir / "nginx.conf"
    config.write_text(
        f"""
worker_processes 2;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    default_type application/json;
    client_body_temp_path {workdir}/nginx-body;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ error_page 405 =201 $uri; }}
    }}
}}
"""
    )
    popen = subprocess.Popen(["nginx", "-c", str(config)], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(url + "/", timeout=1)
            return popen, url
        except httpx.TransportError:
            time.sleep(0.02)
    raise SystemExit("nginx did not start")


def wrk(url: str, method: str, seconds: int, workdir: Path) -> dict[str, float]:
    args = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    if method == "POST":
        script = workdir / "post.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            'wrk.body = \'{"text": "a note from the benchmark"}\'\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
        args += ["-s", str(script)]
    output = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(output: str) -> dict[str, float]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", output, re.M))
    p50, p99 = (re.match(r"([\d.]+)(\w+)", latency[k]) for k in ("50", "99"))
    errors = 0
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        errors += int(match.group(1))
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        errors += sum(int(n) for n in match.groups())
    return {
        "rps": rps,
        "p50_ms": _ms(*p50.groups()),  # type: ignore[union-attr]
        "p99_ms": _ms(*p99.groups()),  # type: ignore[union-attr]
        "errors": errors,
    }


def prepare_database() -> None:
    drop_database()
    subprocess.run(
        [APP, "-run-migrations", f"-db-url={MARIADB_URL}"], check=True, capture_output=True
    )


def drop_database() -> None:
    subprocess.run(
        [
            "mariadb",
            "--protocol=tcp",
            "-h127.0.0.1",
            "-uroot",
            "-e",
            f"DROP DATABASE IF EXISTS {DATABASE}",
        ],
        check=False,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="awsme beside nginx, in one run")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per route")
    options = parser.parse_args()
    for tool in ("wrk", "nginx", "mariadb"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: apt-get install wrk nginx-light mariadb-client")
    workdir = Path(tempfile.mkdtemp(prefix="awsme-bench-"))
    static = workdir / "static"
    prepare_database()
    processes: list[Process] = []
    nginx_process = None
    try:
        imds = start("imds", ["-mode=imds"], "/latest/meta-data/", workdir)
        processes.append(imds)
        backend = start(
            "backend",
            [
                "-mode=backend",
                "-workers=2",
                f"-metadata-endpoint={imds.url}",
                f"-db-url={MARIADB_URL}",
            ],
            "/readyz",
            workdir,
        )
        processes.append(backend)
        for number in range(NOTES):
            httpx.post(backend.url + "/api/v1/notes", json={"text": f"benchmark note {number}"})
        frontend = start(
            "frontend",
            ["-mode=frontend", "-workers=2", f"-backend-service={backend.url}"],
            "/readyz",
            workdir,
        )
        pooled = start(
            "frontend_pooled",
            [
                "-mode=frontend",
                "-workers=2",
                f"-backend-service={backend.url}",
                "-backend-keepalive",
            ],
            "/readyz",
            workdir,
        )
        processes += [frontend, pooled]
        servers = {p.name: p for p in processes}

        # nginx serves, for each route, the bytes that route answers.
        for index, (_, server, method, path, _, _) in enumerate(ROUTES):
            url = servers[server].url + path
            response = (
                httpx.post(url, json={"text": "a note from the benchmark"})
                if method == "POST"
                else httpx.get(url)
            )
            target = static / f"route{index}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(response.content)
        nginx_process, nginx_url = nginx(static, workdir)

        requests_before = len(httpx.get(imds.url + "/_sim/requests").json())
        load_started = time.monotonic()
        results = []
        for index, (name, server, method, path, ratio_target, p99_target) in enumerate(ROUTES):
            ours = wrk(servers[server].url + path, method, options.seconds, workdir)
            ceiling = wrk(f"{nginx_url}/route{index}.json", method, options.seconds, workdir)
            results.append(
                {
                    "route": name,
                    "awsme": ours,
                    "nginx": ceiling,
                    "ratio": ours["rps"] / ceiling["rps"],
                    "ratio_target": ratio_target,
                    "p99_target_ms": p99_target,
                }
            )
        load_seconds = time.monotonic() - load_started
        requests_during = len(httpx.get(imds.url + "/_sim/requests").json()) - requests_before
        memory = {p.name: p.peak_memory_mb() for p in processes if p.name != "imds"}
        ready = {p.name: p.ready_seconds for p in processes if p.name != "imds"}
    finally:
        if nginx_process:
            nginx_process.send_signal(signal.SIGQUIT)
            nginx_process.wait(timeout=10)
        for process in processes:
            stop(process)
        drop_database()

    # The background refresh: static metadata every 300 s, events every 5 s.
    allowed = 2 * (int(load_seconds / 5) + 2) * 2 + 2 * 20
    report(results, memory, ready, requests_during, allowed, load_seconds)
    return 0


def report(
    results: list[dict[str, Any]],
    memory: dict[str, float],
    ready: dict[str, float],
    metadata_requests: int,
    metadata_allowed: int,
    load_seconds: float,
) -> None:
    met = True
    print(
        f"\n{'route':<32}{'req/s':>9}{'nginx':>9}{'ratio':>7}{'target':>8}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'p99 max':>8}{'errors':>7}"
    )
    for row in results:
        ours, ceiling = row["awsme"], row["nginx"]
        ratio_ok = row["ratio_target"] is None or row["ratio"] >= row["ratio_target"]
        p99_ok = ours["p99_ms"] <= row["p99_target_ms"]
        met &= ratio_ok and p99_ok and ours["errors"] == 0
        target = f"≥{row['ratio_target']:.2f}" if row["ratio_target"] is not None else "-"
        print(
            f"{row['route']:<32}{ours['rps']:>9.0f}{ceiling['rps']:>9.0f}{row['ratio']:>7.3f}"
            f"{target:>8}{ours['p50_ms']:>8.2f}{ours['p99_ms']:>8.2f}{row['p99_target_ms']:>8}"
            f"{int(ours['errors']):>7}  {'ok' if ratio_ok and p99_ok else 'MISSED'}"
        )
    print()
    for name in memory:
        memory_ok = memory[name] <= MEMORY_LIMIT_MB
        ready_ok = ready[name] <= READY_LIMIT_S
        met &= memory_ok and ready_ok
        print(
            f"{name:<16} peak memory {memory[name]:6.1f} MB (≤{MEMORY_LIMIT_MB}) "
            f"{'ok' if memory_ok else 'MISSED'}   start to ready {ready[name]:5.2f} s "
            f"(≤{READY_LIMIT_S}) {'ok' if ready_ok else 'MISSED'}"
        )
    metadata_ok = metadata_requests <= metadata_allowed
    met &= metadata_ok
    print(
        f"metadata service: {metadata_requests} requests during {load_seconds:.0f} s of load "
        f"(background refresh allows {metadata_allowed}) {'ok' if metadata_ok else 'MISSED'}"
    )
    print("\nevery target met" if met else "\nsome targets MISSED")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(
        json.dumps(
            {
                "routes": results,
                "peak_memory_mb": memory,
                "start_to_ready_s": ready,
                "metadata_requests_during_load": metadata_requests,
                "all_targets_met": met,
            },
            indent=2,
        )
    )
    chart(results)


def chart(results: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [row["route"] for row in results]
    figure, axis = plt.subplots(figsize=(9, 4))
    positions = range(len(names))
    axis.barh(
        [p + 0.2 for p in positions],
        [r["nginx"]["rps"] for r in results],
        0.4,
        label="nginx (same bytes)",
    )
    axis.barh(
        [p - 0.2 for p in positions], [r["awsme"]["rps"] for r in results], 0.4, label="awsme"
    )
    axis.set_yticks(list(positions), names)
    axis.set_xlabel(f"requests per second (wrk, {CONNECTIONS} connections)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(OUT / "results.png", dpi=110)


if __name__ == "__main__":
    os.environ.setdefault("AWSME_LOG_LEVEL", "warning")
    sys.exit(main())
