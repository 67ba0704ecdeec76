"""`footlight serve` on several cores (`FOOTLIGHT_WORKERS` above 1): a primary and acceptors.

This process starts them and keeps them running; it answers nothing itself. It holds the
port (bound, not listening) so that no other program takes it between restarts. Each
server process listens on a socket of its own on that port (SO_REUSEPORT), and the kernel
spreads new connections over them evenly. (One socket shared by every process, as uvicorn's
workers do, let one process take nearly every connection: the others sat idle and the tail
latency went to seconds.)

* The primary (one) runs the whole app and owns the writer of ingest's writes; it listens
  for the acceptors' writes on a Unix socket in a private directory (store.forwarding).
* Each acceptor runs the whole app too, but sends ingest's writes to the primary, so that
  they commit in the primary's group commits instead of taking turns for the store's write
  lock with their own.

A process that exits is started again. An acceptor whose primary has gone stops by itself,
and comes back once the primary does. If a process keeps failing as soon as it starts
(`_QUICK_FAILURES` times in a row within `_QUICK_SECONDS`), everything stops and `footlight
serve` exits with 1: a loop of restarts would hide the error in the log.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

from footlight.config import Settings
from footlight.edge.connections import Capacity

log = logging.getLogger("footlight.serve")

_QUICK_SECONDS = 5.0
_QUICK_FAILURES = 5
_STOP_SECONDS = 15.0


def _run(settings: Settings, port: int, capacity: Capacity, primary: bool, path: str) -> None:
    """One server process (the target of a spawned process)."""
    from footlight import logs, terminal
    from footlight.app import FootlightApp
    from footlight.cli.serve import bind, run_server
    from footlight.core import nesting
    from footlight.store import open_store

    terminal.install()
    logs.configure(settings.log_level, settings.log_format)
    # Per process, so again here; the open-file limit `serve` raised is inherited.
    nesting.configure(settings.limits.max_json_depth)
    sock = bind(settings.host, port, settings.limits.header_timeout_seconds, shared=True)
    writer = Path(path)
    app = FootlightApp(
        settings,
        open_store(settings),
        write_service=writer if primary else None,
        forward_writes=None if primary else writer,
    )
    sys.exit(run_server(app, settings, capacity, sock))


@dataclass
class _Worker:
    name: str
    primary: bool
    process: BaseProcess | None = None
    started: float = 0.0
    quick_failures: int = 0


def supervise(settings: Settings, port: int, capacity: Capacity) -> int:
    """Run the primary and `settings.workers - 1` acceptors until SIGINT or SIGTERM."""
    context = multiprocessing.get_context("spawn")
    directory = Path(tempfile.mkdtemp(prefix="footlight-writer-"))
    path = str(directory / "writer.sock")
    workers = [_Worker("primary", True)] + [
        _Worker(f"acceptor {n}", False) for n in range(1, settings.workers)
    ]
    stopping = threading.Event()

    def stop(_signal: int, _frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    def start(worker: _Worker) -> None:
        worker.process = context.Process(
            target=_run,
            args=(settings, port, capacity, worker.primary, path),
            name=f"footlight {worker.name}",
        )
        worker.process.start()
        worker.started = time.monotonic()

    status = 0
    try:
        for worker in workers:
            start(worker)
        while not stopping.wait(0.2):
            for worker in workers:
                assert worker.process is not None
                if worker.process.is_alive():
                    continue
                lived = time.monotonic() - worker.started
                worker.quick_failures = worker.quick_failures + 1 if lived < _QUICK_SECONDS else 0
                if worker.quick_failures >= _QUICK_FAILURES:
                    log.error(
                        "the %s failed %d times in a row as it started; stopping",
                        worker.name,
                        worker.quick_failures,
                    )
                    status = 1
                    stopping.set()
                    break
                log.warning(
                    "the %s exited (code %s) after %.1f s; starting it again",
                    worker.name,
                    worker.process.exitcode,
                    lived,
                )
                start(worker)
    finally:
        _stop_all(workers)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(directory, ignore_errors=True)
    return status


def _stop_all(workers: list[_Worker]) -> None:
    """Acceptors first (their writes in flight still reach the primary), then the primary."""
    for group in ([w for w in workers if not w.primary], [w for w in workers if w.primary]):
        running = [w.process for w in group if w.process is not None and w.process.is_alive()]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + _STOP_SECONDS
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
