"""How deeply nested a JSON document footlight reads, and what allowing it costs the process.

Every JSON decoder here is msgspec's, and msgspec guards its recursion with CPython's
`Py_EnterRecursiveCall`. On CPython 3.11 that check shares one counter with Python's own
frames, bounded by `sys.getrecursionlimit()` (1,000 by default): a document nested deeper than
the limit, minus the frames already on the stack, raises `RecursionError`. An rrweb
FullSnapshot nests two JSON levels per DOM level (a node and its `childNodes` array) below the
five of its payload and event, so with the default a page deeper than ~485 elements lost its
whole recording. Real DOMs go deeper than that (components inside components, editors,
generated markup); Highlight decoded with Go's encoding/json, which stops at 10,000 levels.

`configure(max_json_depth)` therefore raises the recursion limit to the configured depth plus
`HEADROOM` frames (the call stack between a thread's start and a decoder), so a document up to
`max_json_depth` levels deep is always read, and one nested deeper than the limit is refused
with a clear error rather than crashing anything: msgspec raises `RecursionError` there, and
every caller turns that into "nested too deeply".

A higher limit is only safe if the C stack holds it. Measured on CPython 3.11 (x86-64), C stack
per level of recursion:

    msgspec skipping or keeping raw JSON (validation, events)     ~32 bytes
    msgspec building Python objects (request bodies)               ~390 bytes
    msgspec encoding ~64, repr() ~145, json.dumps ~112 bytes
    Python recursion through a C call (e.g. map())                 ~650 bytes
    plain Python recursion                                         ~0 (3.11 inlines the call)

Threads footlight starts (store, processing, decoding off the event loop) get
`THREAD_STACK_PER_LEVEL` bytes per level of the limit: 16.5 MiB at the default, 2.4 times the
worst case measured. That is address space, not memory: a thread's stack pages are only
touched as deep as it actually recurses. The main thread (the event loop, which decodes
request bodies) has the process's stack limit (`ulimit -s`, 8 MiB on most systems); if that
holds fewer than `MAIN_STACK_PER_LEVEL` bytes per level, the depth is lowered to what it holds
and a warning says so.

Newer CPython releases count C recursion separately, against a fixed limit the recursion limit
does not raise: there a startup probe finds the depth msgspec really reaches, and a warning
names it.
"""

from __future__ import annotations

import logging
import resource
import sys
import threading

import msgspec

log = logging.getLogger("footlight")

HEADROOM = 1_000
"""Frames a decoding thread may already have on its stack (uvicorn, the graph, ingest...)."""
THREAD_STACK_PER_LEVEL = 1_536
MAIN_STACK_PER_LEVEL = 640

_effective: int | None = None


def limit() -> int:
    """The JSON depth this process reads in full (msgspec's default if never configured)."""
    return _effective if _effective is not None else sys.getrecursionlimit() - 100


def _main_stack_bytes() -> int | None:
    soft, _hard = resource.getrlimit(resource.RLIMIT_STACK)
    return None if soft == resource.RLIM_INFINITY else int(soft)


class _Skipped(msgspec.Struct):
    """Any JSON object, skipped in C: the cheapest way to make msgspec walk a nesting."""


_skip = msgspec.json.Decoder(_Skipped).decode


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def _reaches(depth: int) -> bool:
    try:
        _skip(_nested(depth))
    except RecursionError:
        return False
    return True


def _probe(depth: int) -> int:
    """The deepest nesting (up to `depth`) msgspec decodes on a fresh thread."""
    found: list[int] = []

    def search() -> None:
        if _reaches(depth):
            found.append(depth)
            return
        low, high = 0, depth  # low decodes, high does not
        while high - low > 1:
            middle = (low + high) // 2
            if _reaches(middle):
                low = middle
            else:
                high = middle
        found.append(low)

    thread = threading.Thread(target=search, name="footlight-nesting-probe")
    thread.start()
    thread.join()
    return found[0]


def configure(max_json_depth: int) -> int:
    """Let this process decode JSON nested `max_json_depth` levels deep; return the depth it
    really reads (lower if the main thread's stack or this Python cannot hold it).

    Call before any thread is started: the thread stack size applies to threads started after.
    """
    global _effective
    depth = max_json_depth
    main_stack = _main_stack_bytes()
    if main_stack is not None and (depth + HEADROOM) * MAIN_STACK_PER_LEVEL > main_stack:
        fitting = main_stack // MAIN_STACK_PER_LEVEL - HEADROOM
        log.warning(
            "max_json_depth=%d needs a larger stack than `ulimit -s` gives (%d KiB);"
            " JSON is read %d levels deep instead",
            max_json_depth,
            main_stack // 1024,
            fitting,
        )
        depth = max(fitting, 100)
    recursion_limit = depth + HEADROOM
    threading.stack_size(max(recursion_limit * THREAD_STACK_PER_LEVEL, 1 << 20))
    if recursion_limit > sys.getrecursionlimit():
        sys.setrecursionlimit(recursion_limit)
    reached = _probe(depth)
    if reached < depth:
        log.warning(
            "this Python (%s) stops msgspec at %d levels of JSON nesting, below"
            " max_json_depth=%d; deeper payloads are refused",
            sys.version.split()[0],
            reached,
            depth,
        )
        depth = reached
    _effective = depth
    return depth


def too_deep(where: str) -> str:
    """The message for a document nested deeper than this process reads."""
    return f"{where}: JSON is nested too deeply (more than {limit()} levels; limit: max_json_depth)"
