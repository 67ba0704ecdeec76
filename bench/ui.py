"""How fast the UI's pages answer on a store holding many sessions (100,000 by default).

1. A fresh store (SQLite, or PostgreSQL with --store postgresql) is created by `footlight
   migrate` and filled straight through SQL with N processed sessions over 30 days: the rows
   processing writes (sessions, summaries, visited pages, errors), with users, environments,
   URLs, active times and errors spread the way a busy site's are. Going through ingest and
   processing would take many minutes and measure those instead (bench/ingest.py does).
2. `footlight serve` serves it; a signed-in client asks each page in turn, sequentially, and
   the same query of the read API right after it, so the two are measured side by side: the
   ratio is what rendering HTML costs over the JSON of the same rows.
3. Each case reports p50 and p95 over its requests, and the size of the page.

`--smoke` fills a few thousand sessions and asks each page a few times: it checks that the
benchmark works, never how fast anything is.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import string
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from nodes import (
    ONE_CLIENT_FOR_MANY_BROWSERS,
    fresh_database,
    query_store,
    run_footlight,
    start_footlight,
    store_options,
)
from report import commit, machine, step

DAY_MS = 86_400_000
PATHS = ["/", "/search", "/product/42", "/cart", "/checkout", "/account", "/help", "/blog"]
BROWSERS = [("Chrome", "131.0"), ("Firefox", "133.0"), ("Safari", "18.1"), ("Edge", "131.0")]
ERROR_KINDS = 60  # distinct error groups


@dataclass
class Case:
    name: str
    ui: str
    api: str | None


@dataclass
class Timing:
    case: str
    ui_p50_ms: float
    ui_p95_ms: float
    api_p50_ms: float | None
    ratio: float | None
    rows: int
    page_kb: float


# -- filling the store -------------------------------------------------------------------------


def _secure_id(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits, k=28))


def fill_rows(count: int, now: int, seed: int = 7) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of `count` processed sessions, the newest starting a minute before `now`."""
    rng = random.Random(seed)
    span = 30 * DAY_MS
    rows: dict[str, list[tuple[Any, ...]]] = {
        "sessions": [],
        "session_summaries": [],
        "session_pages": [],
        "errors": [],
    }
    for i in range(1, count + 1):
        created = now - 60_000 - (count - i) * span // count
        secure_id = _secure_id(rng)
        project = 1 if rng.random() < 0.9 else 2
        user = f"user{rng.randrange(count // 4 + 1)}@example.com" if rng.random() < 0.6 else None
        environment = "production" if rng.random() < 0.8 else "staging"
        rows["sessions"].append(
            (i, secure_id, project, created, f"client-{i}", environment, user, user, "Mozilla/5.0")
        )
        active = int(rng.expovariate(1 / 120_000))
        pages = rng.randint(1, 6)
        has_errors = rng.random() < 0.05
        browser, version = rng.choice(BROWSERS)
        visited = [rng.choice(PATHS) for _ in range(pages)]
        rows["session_summaries"].append(
            (
                i, created + active + 5000, created, created + active + 2000, active + 2000,
                active, pages, rng.randint(0, 40), 0, rng.randint(50, 3000), rng.randint(1, 30),
                int(has_errors), rng.randint(0, 20), rng.randint(0, 60), browser, version,
                "Linux", None, "desktop", "en-US", visited[0], visited[-1], "{}",
            )
        )  # fmt: skip
        for n, path in enumerate(visited):
            rows["session_pages"].append((i, created + n * 1000, f"https://shop.example{path}"))
        if has_errors:
            kind = rng.randrange(ERROR_KINDS)
            rows["errors"].append(
                (
                    project, secure_id, f"session:{i}", f"{kind:016x}", created + 1500, "Error",
                    f"checkout step {kind} failed", "[]", f"https://shop.example{visited[0]}",
                    "payload",
                )
            )  # fmt: skip
    return rows


_COLUMNS = {
    "sessions": "id, secure_id, project_id, created_at, client_id, environment, identifier,"
    " email, user_agent",
    "session_summaries": "session_id, processed_at, started_at, ended_at, length_ms, active_ms,"
    " pages_visited, click_count, rage_click_count, event_count, payload_count, error_count,"
    " console_count, network_count, browser_name, browser_version, os_name, os_version,"
    " device_type, language, landing_page, exit_page, details",
    "session_pages": "session_id, timestamp, url",
    "errors": "project_id, session_secure_id, origin, fingerprint, timestamp, type, message,"
    " frames, url, source",
}


def fill(store_args: Sequence[str], data_dir: Path, store: str | None, count: int) -> None:
    run_footlight("migrate", *store_args)
    run_footlight("project", "create", "default", *store_args)  # project 1
    run_footlight("project", "create", "other", *store_args)  # project 2
    rows = fill_rows(count, int(time.time() * 1000))
    if store is None:
        with sqlite3.connect(data_dir / "footlight.db") as db:
            for table, values in rows.items():
                marks = ", ".join("?" * len(values[0])) if values else ""
                if values:
                    db.executemany(
                        f"INSERT INTO {table} ({_COLUMNS[table]}) VALUES ({marks})",  # noqa: S608 - our own table names
                        values,
                    )
            db.execute("ANALYZE")
        return
    import psycopg

    with psycopg.connect(store) as db:
        for table, values in rows.items():
            with db.cursor().copy(f"COPY {table} ({_COLUMNS[table]}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
        db.execute("SELECT setval(pg_get_serial_sequence('sessions', 'id'), %s)", (count,))
        db.commit()
        db.execute("ANALYZE")


# -- measuring ---------------------------------------------------------------------------------


def cases(client: httpx.Client, count: int) -> list[Case]:
    """The pages a user opens, with the read-API query that returns the same rows."""
    from footlight.api.params import encode_cursor

    deep = count // 2
    # A cursor half-way down the list: keyset pagination must not slow down with depth.
    middle = client.get(f"/api/v1/sessions/{_nth_secure_id(deep)}").json()
    cursor = encode_cursor(middle["created_at"], _nth_id(deep))
    user = "user7@example.com"
    return [
        Case("session list, newest", "/ui/sessions", "/api/v1/sessions"),
        Case(f"session list, page {deep // 50}", f"/ui/sessions?cursor={cursor}",
             f"/api/v1/sessions?cursor={cursor}"),
        Case("filter: user", f"/ui/sessions?user={user}", f"/api/v1/sessions?user={user}"),
        Case("filter: has errors", "/ui/sessions?has_errors=true",
             "/api/v1/sessions?has_errors=true"),
        Case("filter: URL", "/ui/sessions?url=checkout", "/api/v1/sessions?url=checkout"),
        Case("filter: URL, no match", "/ui/sessions?url=nowhere", "/api/v1/sessions?url=nowhere"),
        Case("filter: environment", "/ui/sessions?environment=staging",
             "/api/v1/sessions?environment=staging"),
        Case("filter: active ≥ 10 min", "/ui/sessions?min_active_seconds=600",
             "/api/v1/sessions?min_active_seconds=600"),
        Case("filter: project 2, last day", f"/ui/sessions?project=2&from={_days_ago(1)}",
             f"/api/v1/sessions?project=2&from={_days_ago(1)}"),
        Case("error groups", "/ui/errors", "/api/v1/error-groups"),
        Case("one session", f"/ui/sessions/{_nth_secure_id(deep)}", None),
    ]  # fmt: skip


_IDS: dict[int, tuple[int, str]] = {}


def _nth_secure_id(n: int) -> str:
    return _IDS[n][1]


def _nth_id(n: int) -> int:
    return _IDS[n][0]


def _days_ago(days: int) -> int:
    return int(time.time() * 1000) - days * DAY_MS


def _timed(client: httpx.Client, path: str) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"GET {path}: {response.status_code} {response.text[:300]}")
    return elapsed, response


def _p95(values: list[float]) -> float:
    """The 95th percentile (interpolated; with few samples it lies below the maximum)."""
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def measure(ui: httpx.Client, api: httpx.Client, case: Case, repeat: int) -> Timing:
    ui_ms: list[float] = []
    api_ms: list[float] = []
    page = answer = None
    for _ in range(repeat):  # interleaved, so both see the same machine
        elapsed, page = _timed(ui, case.ui)
        ui_ms.append(elapsed)
        if case.api is not None:
            elapsed, answer = _timed(api, case.api)
            api_ms.append(elapsed)
    assert page is not None
    rows = page.text.count("<tr data-session=") or max(page.text.count("<tr>") - 1, 0)
    if answer is not None:
        listed = next(v for k, v in answer.json().items() if isinstance(v, list))
        if len(listed) != rows:
            raise SystemExit(f"{case.name}: the page shows {rows} rows, the API {len(listed)}")
    api_p50 = statistics.median(api_ms) if api_ms else None
    return Timing(
        case.name,
        round(statistics.median(ui_ms), 1),
        round(_p95(ui_ms), 1),
        None if api_p50 is None else round(api_p50, 1),
        None if api_p50 is None else round(statistics.median(ui_ms) / api_p50, 2),
        rows,
        round(len(page.content) / 1024, 1),
    )


def _sessions_by_rank(data_dir: Path, store: str | None) -> None:
    """Remember the id and secure id of a few sessions by their rank (1 = oldest)."""
    found = query_store(data_dir, store, "SELECT id, secure_id FROM sessions ORDER BY id")
    for rank, (row_id, secure_id) in enumerate(found, start=1):
        _IDS[rank] = (int(row_id), str(secure_id))


@dataclass
class Report:
    commit: str
    machine: str
    store: str
    sessions: int
    fill_seconds: float
    timings: list[Timing]


def run(args: argparse.Namespace) -> Report:
    count = 3000 if args.smoke else args.sessions
    repeat = 3 if args.smoke else args.repeat
    with tempfile.TemporaryDirectory(prefix="footlight-ui-bench-") as scratch:
        data_dir = Path(scratch) / "data"
        store = fresh_database() if args.store == "postgresql" else None
        store_args = store_options(data_dir, store)
        step(f"filling a {args.store} store with {count:,} processed sessions")
        started = time.perf_counter()
        fill(store_args, data_dir, store, count)
        fill_seconds = time.perf_counter() - started
        _sessions_by_rank(data_dir, store)
        token = run_footlight("token", "create", "--name", "bench", *store_args)
        node = start_footlight(data_dir, store, settings=ONE_CLIENT_FOR_MANY_BROWSERS)
        try:
            with (
                httpx.Client(base_url=node.url, timeout=60, follow_redirects=False) as ui,
                httpx.Client(
                    base_url=node.url, timeout=60, headers={"authorization": f"Bearer {token}"}
                ) as api,
            ):
                # The cookie is Secure (browsers send those to loopback over http; httpx does
                # not), so it is set on the client by hand.
                ui.cookies.set("footlight_ui", node.ui_cookie(token))
                timings = []
                for case in cases(api, count):
                    step(f"{case.name}: {repeat} requests each")
                    # Warm both paths and the store's caches before timing either.
                    _timed(ui, case.ui)
                    if case.api is not None:
                        _timed(api, case.api)
                    timings.append(measure(ui, api, case, repeat))
        finally:
            node.stop()
    return Report(commit(), machine(), args.store, count, round(fill_seconds, 1), timings)


def print_report(report: Report) -> None:
    print(
        f"\nUI pages on {report.sessions:,} sessions ({report.store}), commit {report.commit},"
        f" {report.machine}\n"
    )
    print("| page | UI p50 ms | UI p95 ms | API p50 ms | UI/API | rows | page kB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for t in report.timings:
        api = "—" if t.api_p50_ms is None else f"{t.api_p50_ms}"
        ratio = "—" if t.ratio is None else f"{t.ratio}"
        print(
            f"| {t.case} | {t.ui_p50_ms} | {t.ui_p95_ms} | {api} | {ratio} | {t.rows} |"
            f" {t.page_kb} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20, help="requests per page")
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--smoke", action="store_true", help="a quick check that it runs")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    report = run(args)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
