"""What a push's byte work costs the event loop when another thread wants the interpreter lock.

At saturation footlight's event loop shares the interpreter lock with the SQLite writer, live
runs and the ingest threads, which all want it back every few microseconds. A C call that
lets go of the lock (every inflater Python has: zlib, zlib-ng, python-isal, cramjam and
libdeflate's `deflate` from 0.9 let go on each call, whatever its size; pybase64 too) hands it
to one of them, and the loop then waits and switches back: system calls and context switches
that count as CPU on both sides. msgspec and binascii keep the lock.

This measures that hand-over alone, without a server: the CPU of the calling thread (its own
clock) per call on the bench's SDK pushes (the five captured ones, a few KB of base64 each),
with nothing else running, then with a thread beside it that spins in Python and so always
wants the lock. What the lock costs footlight under load is measured with the server in
bench/README.md ("The interpreter lock changing hands").

    .venv/bin/python bench/gil.py             # ~10 s
    .venv/bin/python bench/gil.py --smoke     # a moment: it runs (CI)
"""

from __future__ import annotations

import argparse
import binascii
import json
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pybase64

from footlight.core import payload
from payloads import captured


def _pushes() -> list[str]:
    return [body["variables"]["data"] for body in captured("PushSessionEvents")][:5]


def _cases(datas: list[str]) -> dict[str, Callable[[int], object]]:
    """Each step of a push's decoding, as footlight runs it, and the alternatives beside it.

    Each takes the push's index and decodes that push."""
    compressed = [payload.decode_base64(d) for d in datas]
    inflated = [payload.inflate(c, 1 << 26)[0] for c in compressed]
    return {
        "base64, pybase64 (footlight)": lambda i: pybase64.b64decode(datas[i], validate=True),
        "base64, binascii": lambda i: binascii.a2b_base64(datas[i], strict_mode=True),
        "inflate, zlib-ng (footlight)": lambda i: payload.inflate(compressed[i], 1 << 26),
        "inflate, zlib (standard library)": lambda i: zlib.decompress(compressed[i], 31),
        "check, msgspec (footlight)": lambda i: payload.validate_payload_json(inflated[i]),
    }


def _cpu_per_call(step: Callable[[int], object], count: int, seconds: float) -> float:
    """Microseconds of this thread's CPU per call, over at least `seconds` of calls."""
    calls = 0
    started_wall = time.perf_counter()
    started = time.thread_time_ns()
    while True:
        for i in range(count):
            step(i)
        calls += count
        if time.perf_counter() - started_wall >= seconds:
            return (time.thread_time_ns() - started) / calls / 1000


class _Spinner:
    """A thread that runs Python without pause, so it always wants the lock."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name="spinner", daemon=True)

    def _spin(self) -> None:
        stop = self._stop.is_set
        while not stop():
            pass

    def __enter__(self) -> _Spinner:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    parser.add_argument("--smoke", action="store_true", help="a moment, for CI")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    seconds = 0.02 if args.smoke else args.seconds
    datas = _pushes()
    cases = _cases(datas)
    results: dict[str, dict[str, float]] = {}
    print(f"µs of the caller's CPU per call, on the {len(datas)} captured pushes")
    print(f"{'':36} {'alone':>8} {'beside':>8}")
    for name, step in cases.items():
        alone = _cpu_per_call(step, len(datas), seconds)
        with _Spinner():
            beside = _cpu_per_call(step, len(datas), seconds)
        results[name] = {"alone_us": round(alone, 2), "beside_a_busy_thread_us": round(beside, 2)}
        print(f"{name:36} {alone:8.1f} {beside:8.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
