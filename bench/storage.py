"""Bytes per recorded minute: what a session's payloads cost on disk, stored as today or
recompressed, and the CPU each choice costs to write and read back.

Offline and deterministic: no server. Two sessions, each payload on its own (footlight stores
every payload separately, exactly once):

- captured: the pushes highlight.run 10.7.5 really sent (tests/fixtures), ~10 s recorded;
- synthetic: a first push with a ~300 KB FullSnapshot, then a push every 2 s for 10 recorded
  minutes of rrweb mutations (attributes, texts, adds, removes), mouse moves and some
  scrolls (seeded, 2-20 KB of JSON a push), gzipped as the SDK does (level 6).

Recorded minutes are the last event's timestamp less the first's. "Received" is the base64
`data` strings (what arrives), "stored today" the gzip bodies footlight keeps as sent. For the
same payload JSONs: zstd at levels 3, 9 and 19, and levels 3 and 9 with a 32 KB or 64 KB
dictionary trained on other sessions' payloads only (a second, differently seeded synthetic
session, plus the captured pushes when the synthetic session is measured). CPU, single
thread, >= 0.3 s a measurement: compress time per payload and per MB of JSON, and read
throughput in MB/s of event JSON produced. The gzip row's read column is the inflate that
today's ingest already pays on every push (it validates the payload).

    .venv/bin/python bench/storage.py                  # ~20 s of CPU
    .venv/bin/python bench/storage.py --smoke          # 30 s session, short timings: checks
    .venv/bin/python bench/storage.py --json out.json  # also write all numbers
    .venv/bin/python bench/storage.py --store-dir footlight-data   # and your own recordings

With `--store-dir`, the newest sessions of a footlight SQLite store are measured too: a
dictionary trained on every other one of them, measured on the rest. That is the sample
that can decide whether a dictionary pays for the pages a deployment records.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zstandard

from payloads import captured, compress, payload

START_MS = 1795664479000
WORDS = ["card", "row", "price", "title", "button", "item", "list", "grid", "nav", "cell"]
NODES = 1600  # ~300 KB of JSON in the FullSnapshot
Codec = Callable[[bytes], bytes]


class Session:
    """A session's payloads: the JSON each carries, and what the SDK sent (base64 of gzip)."""

    def __init__(self, name: str, datas: list[str]) -> None:
        self.name = name
        self.received = [len(d) for d in datas]
        self.bodies = [base64.b64decode(d) for d in datas]
        self.jsons = [gzip.decompress(b) for b in self.bodies]
        stamps = [e["timestamp"] for j in self.jsons for e in json.loads(j)["events"]["events"]]
        self.minutes = (max(stamps) - min(stamps)) / 60_000 if stamps else 0.0

    @classmethod
    def joined(cls, name: str, sessions: list[Session]) -> Session:
        """Several sessions as one sample: their payloads together, their minutes added."""
        joined = cls(name, [])
        for s in sessions:
            joined.received += s.received
            joined.bodies += s.bodies
            joined.jsons += s.jsons
            joined.minutes += s.minutes
        return joined


def stored_sessions(data_dir: Path, limit: int) -> list[Session]:
    """The newest `limit` sessions of a footlight SQLite store (read only): an operator's own
    recordings, the sample that can decide about a dictionary."""
    uri = f"file:{data_dir / 'footlight.db'}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        ids = [
            r[0] for r in db.execute("SELECT id FROM sessions ORDER BY id DESC LIMIT ?", (limit,))
        ]
        sessions = []
        for session_id in ids:
            bodies = db.execute(
                "SELECT body FROM payloads WHERE session_id = ? AND source = 'compressed'"
                " ORDER BY payload_id, seq",
                (session_id,),
            ).fetchall()
            datas = [base64.b64encode(body).decode() for (body,) in bodies]
            if datas:
                sessions.append(Session(f"stored {session_id}", datas))
    return [s for s in sessions if s.minutes > 0]


def captured_session() -> Session:
    pushes = captured("PushSessionEvents")
    return Session("captured", [p["variables"]["data"] for p in pushes])


def _text(rng: random.Random, k: int) -> str:
    return " ".join(rng.choices(WORDS, k=k))


def _snapshot(rng: random.Random) -> list[dict[str, Any]]:
    """Meta and a FullSnapshot of 1,600 nodes (~300 KB of JSON), built as bench/payloads.py does."""
    nodes = []
    for i in range(NODES):
        text = {"type": 3, "textContent": _text(rng, 8), "id": 100_000 + i}
        tag = rng.choice(["div", "span", "li", "a", "p"])
        element = {"type": 2, "tagName": tag, "id": 100 + i}
        nodes.append(element | {"attributes": {"class": _text(rng, 3)}, "childNodes": [text]})
    snapshot = {
        "node": {"type": 0, "id": 1, "childNodes": nodes},
        "initialOffset": {"left": 0, "top": 0},
    }
    meta = {"href": "https://shop.example/", "width": 1280, "height": 800}
    return [
        {"type": 4, "data": meta, "timestamp": START_MS, "_sid": 1},
        {"type": 2, "data": snapshot, "timestamp": START_MS + 10, "_sid": 2},
    ]


def _mutation(rng: random.Random, next_id: list[int]) -> dict[str, Any]:
    """rrweb incremental source 0: a few texts, attributes, adds and removes."""

    def node() -> int:
        return 100 + rng.randrange(NODES)

    texts = [
        {"id": 100_000 + rng.randrange(NODES), "value": _text(rng, rng.randint(1, 8))}
        for _ in range(rng.randint(0, 4))
    ]
    attributes = []
    for _ in range(rng.randint(0, 5)):
        style = f"width: {rng.randint(10, 900)}px; opacity: {rng.random():.2f}"
        changed = {"class": _text(rng, 3)} if rng.random() < 0.7 else {"style": style}
        attributes.append({"id": node(), "attributes": changed})
    adds: list[dict[str, Any]] = []
    removes: list[dict[str, Any]] = []
    if rng.random() < 0.4:
        parent = node()
        for _ in range(rng.randint(1, 6)):
            next_id[0] += 2
            tag = rng.choice(["div", "span", "li"])
            element = {"type": 2, "tagName": tag, "id": next_id[0]}
            element |= {"attributes": {"class": _text(rng, 3)}, "childNodes": []}
            text = {"type": 3, "textContent": _text(rng, rng.randint(2, 10)), "id": next_id[0] + 1}
            adds += [
                {"parentId": parent, "nextId": None, "node": element},
                {"parentId": next_id[0], "nextId": None, "node": text},
            ]
    if rng.random() < 0.3:
        removes = [{"parentId": node(), "id": node()} for _ in range(rng.randint(1, 4))]
    data = {"source": 0, "texts": texts, "attributes": attributes, "removes": removes, "adds": adds}
    return {"type": 3, "data": data}


def synthetic_session(name: str, seed: int, minutes: float) -> Session:
    rng = random.Random(seed)
    datas = [compress(payload(_snapshot(rng)))]
    next_id, sid, x, y = [200_000], 3, 640, 400
    for push in range(int(minutes * 30)):
        begin = START_MS + 20 + push * 2000
        busy = rng.random() < 0.7  # the user acts, or reads for a while
        events: list[dict[str, Any]] = []
        for _ in range(rng.randint(2, 14) if busy else rng.randint(0, 2)):
            events.append(_mutation(rng, next_id))
        for _ in range(rng.randint(1, 4) if busy else 0):
            positions = []
            for offset in range(rng.randint(3, 12)):
                x, y = max(0, x + rng.randint(-40, 40)), max(0, y + rng.randint(-30, 30))
                positions.append(
                    {"x": x, "y": y, "id": 100 + rng.randrange(NODES), "timeOffset": -50 * offset}
                )
            events.append({"type": 3, "data": {"source": 1, "positions": positions}})
        if rng.random() < 0.2:
            events.append(
                {"type": 3, "data": {"source": 3, "id": 1, "x": 0, "y": rng.randint(0, 6000)}}
            )
        if not events:  # the SDK still sends a push; a mouse twitch
            twitch = [{"x": x, "y": y, "id": 1, "timeOffset": 0}]
            events.append({"type": 3, "data": {"source": 1, "positions": twitch}})
        stamps = sorted(begin + rng.randrange(1, 2000) for _ in events)
        stamps[-1] = begin + 2000 if push == int(minutes * 30) - 1 else stamps[-1]
        for event, stamp in zip(events, stamps, strict=True):
            event["timestamp"], event["_sid"], sid = stamp, sid, sid + 1
        datas.append(compress(payload(events)))
    return Session(name, datas)


def _clock(work: Callable[[], object], floor: float) -> tuple[float, int]:
    """Seconds for `work` repeated until it has run >= floor seconds, and the repetitions."""
    work()  # warm up
    reps, spent = 0, 0.0
    while spent < floor:
        start = time.perf_counter()
        work()
        spent += time.perf_counter() - start
        reps += 1
    return spent, reps


def measure(
    session: Session, dicts: dict[int, zstandard.ZstdCompressionDict], floor: float
) -> list[dict[str, Any]]:
    """Every option's stored size per recorded minute and its write and read CPU."""
    json_bytes = sum(len(j) for j in session.jsons)
    today = sum(len(b) for b in session.bodies)
    rows: list[dict[str, Any]] = []

    def row(option: str, stored: list[bytes], inflate: Codec, deflate: Codec | None) -> None:
        assert [inflate(s) for s in stored] == session.jsons, option
        size = sum(len(s) for s in stored)
        out: dict[str, Any] = {
            "option": option,
            "stored_bytes": size,
            "bytes_per_minute": round(size / session.minutes),
            "ratio_to_gzip": round(size / today, 3),
            "compress_us_per_payload": None,
            "compress_ms_per_mb_json": None,
        }
        if deflate is not None:
            spent, reps = _clock(lambda: [deflate(j) for j in session.jsons], floor)
            out["compress_us_per_payload"] = round(spent / reps / len(stored) * 1e6, 1)
            out["compress_ms_per_mb_json"] = round(spent / reps / json_bytes * 1e9, 2)
        spent, reps = _clock(lambda: [inflate(s) for s in stored], floor)
        out["decompress_us_per_payload"] = round(spent / reps / len(stored) * 1e6, 1)
        out["decompress_mb_per_s"] = round(json_bytes * reps / spent / 1e6, 1)
        rows.append(out)

    row("gzip 6 as sent (today)", session.bodies, gzip.decompress, None)
    for level in (3, 9, 19):
        c = zstandard.ZstdCompressor(level=level)
        d = zstandard.ZstdDecompressor()
        row(f"zstd {level}", [c.compress(j) for j in session.jsons], d.decompress, c.compress)
    for size, trained in dicts.items():
        for level in (3, 9):
            c = zstandard.ZstdCompressor(level=level, dict_data=trained)
            d = zstandard.ZstdDecompressor(dict_data=trained)
            row(
                f"zstd {level} + {size // 1024} KB dict",
                [c.compress(j) for j in session.jsons],
                d.decompress,
                c.compress,
            )
    return rows


def train(samples: list[bytes], sizes: tuple[int, ...]) -> dict[int, zstandard.ZstdCompressionDict]:
    """Dictionaries of these sizes trained on `samples` (payload JSONs of other sessions)."""
    pool: list[bytes | bytearray | memoryview[int]] = [*samples]  # the stub's list is invariant
    return {size: zstandard.train_dictionary(size, pool, threads=1) for size in sizes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="synthetic recorded minutes")
    parser.add_argument("--smoke", action="store_true", help="30 s sessions, 0.01 s timings")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument(
        "--store-dir",
        type=Path,
        help="also measure real recordings: the newest sessions of this footlight data"
        " directory (SQLite), dictionaries trained on half of them and measured on the other",
    )
    parser.add_argument("--store-sessions", type=int, default=200)
    args = parser.parse_args()
    floor = 0.3
    if args.smoke:
        args.minutes, floor = 0.5, 0.01
    real = captured_session()
    synthetic = synthetic_session("synthetic", 1, args.minutes)
    other = synthetic_session("other", 2, args.minutes)  # training only
    sizes = (32 * 1024, 64 * 1024)
    plan = [  # dictionaries trained on other sessions only, never on the one measured
        (real, train(other.jsons, sizes), "synthetic session seed 2"),
        (synthetic, train(other.jsons + real.jsons, sizes), "synthetic seed 2 + captured"),
    ]
    if args.store_dir is not None:
        stored = stored_sessions(args.store_dir, args.store_sessions)
        if len(stored) < 4:
            raise SystemExit(f"{args.store_dir}: fewer than 4 recorded sessions to split")
        trained_half = Session.joined("training", stored[::2])
        measured = Session.joined(f"stored ({len(stored[1::2])} sessions)", stored[1::2])
        plan.append((measured, train(trained_half.jsons, sizes), "the other stored sessions"))
    result: dict[str, Any] = {"sessions": []}
    for session, dicts, trained_on in plan:
        received, today = sum(session.received), sum(len(b) for b in session.bodies)
        summary: dict[str, Any] = {
            "session": session.name,
            "payloads": len(session.bodies),
            "recorded_minutes": round(session.minutes, 3),
            "json_bytes": sum(len(j) for j in session.jsons),
            "received_bytes": received,
            "stored_bytes_today": today,
            "stored_bytes_per_minute_today": round(today / session.minutes),
            "dictionaries_trained_on": trained_on,
            "options": measure(session, dicts, floor),
        }
        result["sessions"].append(summary)
        print(
            f"\n{session.name}: {summary['payloads']} payloads, {session.minutes:.2f} recorded"
            f" min, {summary['json_bytes']:,} B of JSON, received {received:,} B (base64),"
            f" stored today {today:,} B = {summary['stored_bytes_per_minute_today']:,} B/min;"
            f" dictionaries trained on {trained_on}"
        )
        print(f"{'option':<24}   B/rec min  vs gzip  comp µs/pl  comp ms/MB  read MB/s")
        for o in summary["options"]:
            comp, per_mb = o["compress_us_per_payload"], o["compress_ms_per_mb_json"]
            print(
                f"{o['option']:<24} {o['bytes_per_minute']:>11,} {o['ratio_to_gzip']:>8.3f}"
                f" {'as sent' if comp is None else f'{comp:,.0f}':>11}"
                f" {'-' if comp is None else f'{per_mb:.1f}':>11}"
                f" {o['decompress_mb_per_s']:>10,.0f}"
            )
        gz = summary["options"][0]
        print(
            f"today's ingest already inflates each push: {gz['decompress_us_per_payload']:,.0f}"
            f" µs per payload ({gz['decompress_mb_per_s']:,.0f} MB/s of JSON)"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
