"""The servers the benchmarks measure, and the stores under them.

`start_footlight` runs `footlight serve` as a separate process, the way it runs in
production, and waits until it answers the SDK's first call; the `Node` it returns reads the
process's memory and CPU from /proc and runs the `footlight` command line against the same
store. `start_nginx` runs the machine's HTTP ceiling for bench/ingest.py. `fresh_database`
gives each run its own PostgreSQL database, dropped when the program exits.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from payloads import init_body

POSTGRES = "postgresql://127.0.0.1:5432"

ONE_CLIENT_FOR_MANY_BROWSERS = {
    # The load generator is one address standing for 2,000 browsers: the per-client limits
    # are raised out of its way (not turned off, so that their cost is still measured).
    "FOOTLIGHT_CLIENT_REQUESTS_PER_SECOND": "1000000",
    "FOOTLIGHT_CLIENT_REQUEST_BURST": "1000000",
    "FOOTLIGHT_CLIENT_BYTES_PER_SECOND": str(2**40),
    "FOOTLIGHT_CLIENT_BYTE_BURST": str(2**40),
    "FOOTLIGHT_CLIENT_NEW_SESSIONS_PER_SECOND": "1000000",
    "FOOTLIGHT_CLIENT_NEW_SESSION_BURST": "1000000",
    # read_throughput builds its 50 MB session with ~1,400 pushes as fast as it can; a
    # browser pushes every 2 s.
    "FOOTLIGHT_SESSION_REQUESTS_PER_SECOND": "1000000",
    "FOOTLIGHT_SESSION_REQUEST_BURST": "1000000",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- stores ------------------------------------------------------------------------------------


def fresh_database() -> str:
    """A new PostgreSQL database on the local server (127.0.0.1:5432, trust auth), dropped
    when the benchmark exits."""
    import psycopg

    name = f"footlight_bench_{os.urandom(6).hex()}"
    with psycopg.connect(f"{POSTGRES}/test", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    atexit.register(_drop_database, name)
    return f"{POSTGRES}/{name}"


def _drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/test", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def store_options(data_dir: Path, store: str | None) -> list[str]:
    """The command line's way to name a store: a postgresql:// URL, else the SQLite file in
    `data_dir`."""
    return ["--store", store] if store else ["--data-dir", str(data_dir)]


def query_store(data_dir: Path, store: str | None, query: str) -> list[tuple[Any, ...]]:
    """The rows of a constant `query` (no parameters: the two drivers mark them differently),
    read straight from the store, beside the server."""
    if store is not None:
        import psycopg

        with psycopg.connect(store) as pg:
            return pg.execute(query).fetchall()
    with sqlite3.connect(data_dir / "footlight.db") as db:
        return db.execute(query).fetchall()


def run_footlight(*args: str) -> str:
    """Run the `footlight` command line; its output, or exit with its error."""
    done = subprocess.run(
        [sys.executable, "-m", "footlight", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"footlight {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout.strip()


# -- footlight ---------------------------------------------------------------------------------


@dataclass
class Node:
    """One running `footlight serve`."""

    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    store: str | None
    log: Path
    cold_start_ms: float
    """From process start to the first initializeSession answered 200."""

    def cli(self, *args: str) -> str:
        """Run the `footlight` command line on this node's store."""
        return run_footlight(*args, *store_options(self.data_dir, self.store))

    def peak_rss_mb(self) -> float:
        """The largest peak resident memory of one footlight process (with FOOTLIGHT_WORKERS
        above 1, of its server processes, not their sum)."""
        peaks = [_status_mb(pid, "VmHWM") for pid in tree_pids(self.process.pid)]
        return max((peak for peak in peaks if peak is not None), default=float("nan"))

    def rss_mb(self) -> float:
        """Resident memory now; 0 once the process is gone."""
        return _status_mb(self.process.pid, "VmRSS") or 0.0

    def cpu_seconds(self) -> float:
        """User and system CPU time every process of this footlight has used so far: the
        server and, with FOOTLIGHT_WORKERS above 1, its worker processes."""
        return tree_cpu_seconds(self.process.pid)

    def ui_cookie(self, token: str) -> str:
        """Sign in through the UI's login form, as a browser does; the session cookie."""
        with httpx.Client(base_url=self.url, timeout=30) as client:
            answer = client.post(
                "/ui/login",
                data={"token": token, "next": "/ui/sessions"},
                headers={"origin": self.url},
            )
        if answer.status_code != 303:
            raise SystemExit(f"signing in failed: {answer.status_code} {answer.text[:300]}")
        return answer.cookies["footlight_ui"]

    def stop(self, timeout: float = 20) -> None:
        stop(self.process, timeout)


def _stat(pid: int, task: int | None = None) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (which may hold spaces), or those of
    one of its threads (/proc/PID/task/TASK/stat); None once it has ended."""
    path = f"/proc/{pid}/stat" if task is None else f"/proc/{pid}/task/{task}/stat"
    try:
        return Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def tree_pids(pid: int) -> list[int]:
    """A process and all its descendants alive now."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and all its descendants alive now (nginx's
    workers, footlight's), from /proc; with what its reaped children used."""
    ticks = 0
    for current in tree_pids(pid):
        fields = _stat(current)
        if fields is not None:
            # utime, stime, and cutime, cstime of the children it waited for
            ticks += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


def compile_footlight(src: Path | None = None) -> Path:
    """Write the compiled modules (.pyc) of the footlight that servers started here import:
    the one under `src`, else the one this interpreter finds (a `PYTHONPATH` tree first).

    An installed footlight has them (pip compiles at install), and an editable one writes
    them at its first start, unless PYTHONDONTWRITEBYTECODE is set, as it is on the machines
    the benchmarks run on: every server would then compile its ~100 modules again, ~0.1 s of
    its cold start, and more of it for the larger tree. Returns the package's directory,
    which says what is measured (a `PYTHONPATH` without footlight falls through to this
    checkout's)."""
    if src is None:
        spec = importlib.util.find_spec("footlight")
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit("footlight is not importable here (bench/prepare installs it)")
        package = Path(next(iter(spec.submodule_search_locations)))
    else:
        package = src / "footlight"
        if not package.is_dir():
            raise SystemExit(f"{src} holds no footlight package (give a checkout's src)")
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", str(package)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return package


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """User and system CPU time of each thread of a process alive now, by thread id."""
    seconds: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    try:
        tids = [int(entry.name) for entry in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return seconds
    for tid in tids:
        if (fields := _stat(pid, tid)) is not None:  # else it ended meanwhile
            seconds[tid] = (int(fields[11]) + int(fields[12])) / tick
    return seconds


def thread_names(pid: int) -> dict[int, str]:
    """The Python names of a process's threads, by thread id, as py-spy (the bench extra)
    reads them: Python 3.11 does not give its threads' names to the OS. Empty if py-spy
    cannot read the process."""
    spy = Path(sys.executable).with_name("py-spy")
    try:
        dump = subprocess.run(
            [str(spy), "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return {int(tid): name for tid, name in re.findall(r'Thread (\d+) \(\w+\): "([^"]+)"', dump)}


def _status_mb(pid: int, field: str) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(rf"{field}:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else None


def start_footlight(
    data_dir: Path,
    store: str | None = None,
    *,
    settings: Mapping[str, str] | None = None,
    inherit_settings: bool = True,
    log_level: str = "warning",
    open_files: int | None = None,
) -> Node:
    """Start `footlight serve` and wait until it answers an initializeSession.

    `store` is a postgresql:// URL, or None for the embedded SQLite store in `data_dir`.
    `settings` (FOOTLIGHT_* variables) come on top of this environment's, or of none of them
    without `inherit_settings`; `open_files` lowers the server's open-file limit. The log is
    `footlight-PORT.log` beside `data_dir`.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = data_dir.parent / f"footlight-{port}.log"
    environment = {
        **{
            k: v
            for k, v in os.environ.items()
            if inherit_settings or not k.startswith("FOOTLIGHT_")
        },
        "FOOTLIGHT_STORE": store or "",
        **(settings or {}),
    }

    def lower_open_files() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "footlight",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                "--log-level",
                log_level,
                # The gRPC receiver is on, as by default, on a free port (beside other runs).
                "--otlp-grpc-port",
                "0",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
            preexec_fn=lower_open_files if open_files is not None else None,
        )
    body = init_body(f"cold-start-{os.urandom(8).hex()}")
    with httpx.Client(timeout=5) as client:
        while True:
            try:
                if client.post(url, json=body).status_code == 200:
                    cold_start_ms = (time.perf_counter() - started) * 1000
                    return Node(process, url, data_dir, store, log, cold_start_ms)
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.perf_counter() - started > 30:
                process.kill()
                raise SystemExit(f"footlight did not start: see {log}")
            time.sleep(0.002)


# -- nginx -------------------------------------------------------------------------------------


def start_nginx(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    """nginx with bench/nginx.conf (read each body, answer a small JSON 200); its URL."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / sub).mkdir(exist_ok=True)
    config = (Path(__file__).parent / "nginx.conf").read_text()
    config = config.replace("__DIR__", str(directory)).replace("__PORT__", str(port))
    (directory / "nginx.conf").write_text(config)
    process = subprocess.Popen([nginx, "-c", str(directory / "nginx.conf"), "-p", str(directory)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            if httpx.post(url, content=b"{}").status_code == 200:
                return process, url
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise SystemExit("nginx did not start") from None
            time.sleep(0.02)


def stop(process: subprocess.Popen[Any], timeout: float = 20) -> None:
    """SIGTERM, as a service manager stops it; killed if it has not exited by `timeout`."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
