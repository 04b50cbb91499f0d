"""`make bench`: awsme's routes beside nginx serving the same bytes, in one run.

It starts the program as a user would (-workers=2, the simulator for metadata,
MariaDB with 20 notes), starts nginx on loopback serving, as static files, the
exact bytes each measured route returns, and drives both with wrk at 256
connections. It prints issue 13's table, every row met or not: RSS per worker
after the load, start to ready (backend with 1 and 2 workers, the standalone
card as `make run` starts it), p99 per route, each worker's share of the
connections, the ratio to nginx per route; then how many requests the metadata
service saw during the load. Results go to build/bench/results.json and
build/bench/results.png.

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
APP = str(Path(sys.executable).parent / "app")
OUT = ROOT / "build" / "bench"
CONNECTIONS = 256
THREADS = 2
NOTES = 20
# A database of its own per run: two runs at once must not drop each other's.
DATABASE = f"awsme_bench_{os.getpid()}"
MARIADB_URL = f"mysql://root@127.0.0.1:3306/{DATABASE}"

# Issue 13's rows: (name, which server, method, path, target ratio to nginx, p99 target in ms)
ROUTES = [
    ("backend /api/v1/instance", "backend", "GET", "/api/v1/instance", 0.12, 50),
    ("backend / (20 notes, every read fresh from MariaDB)", "backend", "GET", "/", 0.03, 150),
    ("frontend / over that backend, fresh connection", "frontend", "GET", "/", 0.012, None),
]
BACKEND_RSS_MB = 64
FRONTEND_RSS_MB = 56
READY_1_S = 1.0
READY_2_S = 1.5


def runtime_app() -> str:
    """`app` as the image installs it, in a venv of its own: requirements.lock and
    awsme, without the dev tools (httpx imports rich and pygments, for its command
    line, wherever they are installed: 15 MB and 0.3 s more per worker)."""
    venv = OUT / "runtime"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = [
        str(Path(sys.executable).parent / "uv"),
        "pip",
        "install",
        "--quiet",
        "--python",
        str(python),
        "--system-certs",
    ]
    # sync, not install: a package dropped from the lock leaves this venv too.
    sync = [install[0], "pip", "sync", *install[3:]]
    subprocess.run([*sync, "--require-hashes", str(ROOT / "requirements.lock")], check=True)
    subprocess.run([*install, "--no-deps", "-e", str(ROOT)], check=True)
    return str(venv / "bin" / "app")


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
    wait_until_answering(url + "/", "nginx")
    return popen, url


def wait_until_answering(url: str, name: str, seconds: float = 30) -> None:
    """Until `url` answers anything at all; stops the benchmark if it never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.02)
    raise SystemExit(f"{name} did not start")


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
    total = re.search(r"(\d+) requests in", output)
    return {
        "requests": float(total.group(1)) if total else 0.0,
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


def worker_pids(process: Process) -> list[int]:
    """The processes that serve: the workers, or the process itself with none."""
    pids = process.pids()
    workers = [
        pid
        for pid in pids[1:]
        if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    return workers or pids


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) / 1024 if match else 0.0


def pss_mb(pids: list[int]) -> float:
    """What the processes cost together: their proportional set size, summed (pages
    the workers share with their parent and each other are counted once)."""
    total = 0
    for pid in pids:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        match = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
        total += int(match.group(1)) if match else 0
    return total / 1024


def connection_shares(process: Process, seconds: float) -> list[float]:
    """Each worker's share of the connections it holds open, sampled while wrk
    keeps CONNECTIONS open (between a quarter and three quarters of the run)."""
    port = int(process.url.rsplit(":", 1)[1])
    time.sleep(seconds / 4)
    counts: dict[int, int] = {pid: 0 for pid in worker_pids(process)}
    for _ in range(5):
        for pid in counts:
            for connection in psutil.Process(pid).net_connections(kind="tcp"):
                if connection.status == "ESTABLISHED" and connection.laddr.port == port:
                    counts[pid] += 1
        time.sleep(seconds / 10)
    total = sum(counts.values()) or 1
    return [count / total for count in counts.values()]


def start_to_ready(args: list[str], ready_path: str, workdir: Path, name: str) -> float:
    process = start(name, args, ready_path, workdir)
    stop(process)
    return process.ready_seconds


# What each role cannot do without: the libraries the project chose (FastAPI on
# uvicorn, prometheus-client, orjson, psutil; SQLAlchemy Core, a driver and httpx
# for the backend; aiohttp and Jinja2 for the frontend), imported alone.
FLOOR_IMPORTS = {
    "backend": [
        "fastapi",
        "uvicorn",
        "prometheus_client",
        "orjson",
        "psutil",
        "sqlalchemy",
        "aiomysql",
        "httpx",
    ],
    "frontend": [
        "fastapi",
        "uvicorn",
        "prometheus_client",
        "orjson",
        "psutil",
        "aiohttp",
        "jinja2",
    ],
}
IMPORT_AND_MEASURE = """
import re, sys, time
started = time.perf_counter()
for name in sys.argv[1:]:
    __import__(name)
seconds = time.perf_counter() - started
rss = re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1)
print(int(rss) / 1024, seconds)
"""
ONE_ROUTE_APP = """
from fastapi import FastAPI, Response
BODY = open("BODY_PATH", "rb").read()
app = FastAPI()

@app.get("/api/v1/instance")
async def instance() -> Response:
    return Response(BODY, media_type="application/json")
"""


def import_floor(python: str, modules: list[str]) -> tuple[float, float]:
    """RSS (MB) and seconds of importing `modules` in a fresh interpreter: median of 3."""
    runs = []
    for _ in range(3):
        output = subprocess.run(
            [python, "-c", IMPORT_AND_MEASURE, *modules], capture_output=True, text=True, check=True
        ).stdout.split()
        runs.append((float(output[0]), float(output[1])))
    rss = sorted(r[0] for r in runs)[1]
    seconds = sorted(r[1] for r in runs)[1]
    return rss, seconds


def one_route_app(python: str, body: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A FastAPI app with one route answering `body`, on uvicorn with 2 workers and
    the loop and parser awsme uses: what the framework alone costs per request."""
    (workdir / "one_route.py").write_text(ONE_ROUTE_APP.replace("BODY_PATH", str(body)))
    port = free_port()
    popen = subprocess.Popen(
        [
            python,
            "-m",
            "uvicorn",
            "one_route:app",
            "--workers",
            "2",
            "--loop",
            "asyncio",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=workdir,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_answering(url + "/api/v1/instance", "the one-route app")
    return popen, url


def main() -> int:
    parser = argparse.ArgumentParser(description="awsme beside nginx, in one run")
    parser.add_argument("--seconds", type=int, default=8, help="wrk duration per route")
    options = parser.parse_args()
    for tool in ("wrk", "nginx", "mariadb"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: apt-get install wrk nginx-light mariadb-client")
    global APP
    APP = runtime_app()
    workdir = Path(tempfile.mkdtemp(prefix="awsme-bench-"))
    # nginx's workers run as another user when started by root: they must be able
    # to read the files (a 0700 folder made them answer 403, and measure that).
    workdir.chmod(0o755)
    static = workdir / "static"
    prepare_database()
    processes: list[Process] = []
    nginx_process = None
    figures: dict[str, Any] = {}
    try:
        imds = start("imds", ["-mode=imds"], "/latest/meta-data/", workdir)
        processes.append(imds)
        backend_args = [
            "-mode=backend",
            f"-metadata-endpoint={imds.url}",
            f"-db-url={MARIADB_URL}",
            "-notes-cache=0",  # every read fresh from MariaDB
        ]
        figures["ready_1"] = start_to_ready(backend_args, "/readyz", workdir, "backend-1")
        figures["ready_standalone"] = start_to_ready(
            ["-mode=standalone", "-metadata=simulated", f"-backend-port={free_port()}"],
            "/",
            workdir,
            "standalone",
        )
        backend = start("backend", [*backend_args, "-workers=2"], "/readyz", workdir)
        figures["ready_2"] = backend.ready_seconds
        processes.append(backend)
        for number in range(NOTES):
            httpx.post(backend.url + "/api/v1/notes", json={"text": f"benchmark note {number}"})
        frontend = start(
            "frontend",
            ["-mode=frontend", "-workers=2", f"-backend-service={backend.url}"],
            "/readyz",
            workdir,
        )
        processes.append(frontend)
        servers = {p.name: p for p in processes}

        # nginx serves, for each route, the bytes that route answers.
        for index, (_, server, _, path, _, _) in enumerate(ROUTES):
            url = servers[server].url + path
            target = static / f"route{index}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(httpx.get(url).content)
        nginx_process, nginx_url = nginx(static, workdir)
        for target in static.iterdir():
            if httpx.get(f"{nginx_url}/{target.name}").content != target.read_bytes():
                raise SystemExit(f"nginx does not serve {target.name} as it is: no ceiling")

        requests_before = len(httpx.get(imds.url + "/_sim/requests").json())
        load_started = time.monotonic()
        results = []
        served = 0
        for index, (name, server, method, path, ratio_target, p99_target) in enumerate(ROUTES):
            sampler = None
            if index == 0:
                pool = ThreadPoolExecutor(1)
                sampler = pool.submit(connection_shares, backend, options.seconds)
            ours = wrk(servers[server].url + path, method, options.seconds, workdir)
            if sampler is not None:
                figures["shares"] = sampler.result()
                pool.shutdown()
            if server == "backend":
                served += int(ours["requests"])
            ceiling = wrk(f"{nginx_url}/route{index}.json", method, options.seconds, workdir)
            if ceiling["errors"]:
                raise SystemExit(f"nginx answered {ceiling['errors']:.0f} errors: no ceiling")
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
        # The floor: the same bytes from a one-route FastAPI app, beside nginx again.
        python = str(Path(APP).parent / "python")
        floor_process, floor_url = one_route_app(python, static / "route0.json", workdir)
        try:
            floor = wrk(floor_url + "/api/v1/instance", "GET", options.seconds, workdir)
            ceiling = wrk(f"{nginx_url}/route0.json", "GET", options.seconds, workdir)
            figures["one_route_ratio"] = floor["rps"] / ceiling["rps"]
            figures["one_route"] = floor
        finally:
            floor_process.send_signal(signal.SIGTERM)
            floor_process.wait(timeout=20)
        requests_during = len(httpx.get(imds.url + "/_sim/requests").json()) - requests_before
        figures["backend_rss"] = [rss_mb(pid) for pid in worker_pids(backend)]
        figures["frontend_rss"] = [rss_mb(pid) for pid in worker_pids(frontend)]
        figures["backend_pod_pss"] = pss_mb(backend.pids())
        figures["frontend_pod_pss"] = pss_mb(frontend.pids())
        figures["backend_requests"] = served
        for role, modules in FLOOR_IMPORTS.items():
            figures[f"{role}_floor"] = import_floor(python, modules)
    finally:
        if nginx_process:
            nginx_process.send_signal(signal.SIGQUIT)
            nginx_process.wait(timeout=10)
        for process in processes:
            stop(process)
        drop_database()

    # The background refresh: static metadata every 300 s, events every 5 s.
    allowed = 2 * (int(load_seconds / 5) + 2) * 2 + 2 * 20
    report(results, figures, requests_during, allowed, load_seconds)
    return 0


def report(
    results: list[dict[str, Any]],
    figures: dict[str, Any],
    metadata_requests: int,
    metadata_allowed: int,
    load_seconds: float,
) -> None:
    """Issue 13's table, every row, met or not."""
    rows: list[tuple[str, str, str, bool | None]] = []
    by_route = {row["route"]: row for row in results}

    def rss(key: str, limit: float) -> None:
        values = figures[key]
        rows.append(
            (
                f"{key.split('_')[0]} RSS per worker after load",
                " / ".join(f"{v:.0f}" for v in values) + " MB",
                f"≤ {limit:.0f} MB",
                max(values) <= limit,
            )
        )

    rss("backend_rss", BACKEND_RSS_MB)
    rows[-1] = (
        f"backend RSS per worker after {figures['backend_requests'] // 1000}k requests",
        *rows[-1][1:],
    )
    rss("frontend_rss", FRONTEND_RSS_MB)
    rows.append(
        (
            "backend start → ready, 1 worker / 2 workers",
            f"{figures['ready_1']:.2f} / {figures['ready_2']:.2f} s",
            f"≤ {READY_1_S} / ≤ {READY_2_S} s",
            figures["ready_1"] <= READY_1_S and figures["ready_2"] <= READY_2_S,
        )
    )
    for row in results:
        ours = row["awsme"]
        if row["p99_target_ms"] is not None:
            rows.append(
                (
                    f"p99 at {CONNECTIONS} connections, 2 workers: {row['route']}",
                    f"{ours['p99_ms']:.0f} ms (p50 {ours['p50_ms']:.1f}, "
                    f"errors {ours['errors']:.0f})",
                    f"≤ {row['p99_target_ms']} ms",
                    ours["p99_ms"] <= row["p99_target_ms"] and ours["errors"] == 0,
                )
            )
    shares = figures["shares"]
    rows.append(
        (
            f"share of connections per worker at {CONNECTIONS} connections",
            "/".join(f"{share * 100:.0f}" for share in shares) + " %",
            "each within 40-60 %",
            all(0.4 <= share <= 0.6 for share in shares),
        )
    )
    for name, row in by_route.items():
        rows.append(
            (
                f"{name}, ratio to nginx",
                f"{row['ratio']:.3f} ({row['awsme']['rps']:.0f} / {row['nginx']['rps']:.0f} req/s)",
                f"≥ {row['ratio_target']}",
                row["ratio"] >= row["ratio_target"],
            )
        )
    rows.append(
        (
            "make run: cold / warm (warm: standalone start → first card)",
            f"not measured here / {figures['ready_standalone']:.2f} s",
            "≤ 30 s / ≤ 2 s",
            None,
        )
    )
    rows.append(
        ("what the image adds on top of its Python base", "make bench-image", "≤ 60 MB", None)
    )
    width = max(len(r[0]) for r in rows) + 2
    print(f"\n{'what':<{width}}{'measured':<44}{'target':<22}")
    for what, measured, target, ok in rows:
        verdict = "-" if ok is None else ("met" if ok else "MISSED")
        print(f"{what:<{width}}{measured:<44}{target:<22}{verdict}")
    print(
        "\na whole pod, 2 workers and their parent (PSS: shared pages counted once): "
        f"backend {figures['backend_pod_pss']:.0f} MB, "
        f"frontend {figures['frontend_pod_pss']:.0f} MB"
    )
    print("\nthe floor under these targets: the chosen libraries alone, in this run")
    for role, modules in FLOOR_IMPORTS.items():
        rss, seconds = figures[f"{role}_floor"]
        print(f"  {role}: importing {', '.join(modules)}: {rss:.0f} MB RSS, {seconds:.2f} s")
    one_route = figures["one_route"]
    print(
        f"  a one-route FastAPI app answering /api/v1/instance's bytes (2 workers): "
        f"ratio {figures['one_route_ratio']:.3f}, p99 {one_route['p99_ms']:.0f} ms"
    )
    metadata_ok = metadata_requests <= metadata_allowed
    print(
        f"\nmetadata service: {metadata_requests} requests during {load_seconds:.0f} s of load "
        f"(background refresh allows {metadata_allowed}) {'ok' if metadata_ok else 'MISSED'}"
    )
    met = metadata_ok and all(ok for *_, ok in rows if ok is not None)
    print("every measured target met" if met else "some targets MISSED")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(
        json.dumps(
            {
                "routes": results,
                "figures": figures,
                "table": [
                    dict(zip(("what", "measured", "target", "met"), r, strict=True)) for r in rows
                ],
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
