"""Hostile clients against one footlight: does a normal SDK client still get served?

The ingest endpoint is public, so footlight must stay up, fast and bounded whatever a stranger
sends. This program starts `footlight serve` (the embedded store, or `--store postgresql://…`)
with a lowered open-file limit, then runs a *normal client* the whole time: a few browser tabs
doing what highlight.run does (initializeSession, then the captured pushes with increasing
payload ids, identify, properties), from 127.0.0.1. Beside it, one attack at a time and then
all of them together, each from its own process and its own loopback address (127.0.0.N; all
of 127/8 is loopback on Linux, so each attacker is a different client to footlight):

    idle          holds as many connections open as it can, sending nothing
    slowloris     sends request heads a byte at a time
    slow-bodies   declares the largest bodies allowed and holds back their last byte
    properties    addSessionProperties with 600,000 keys (9.5 MB)
    legacy        a 15 MB legacy pushPayload, over and over
    flood         the same 11.5 MiB payload under new payload ids, 4 connections
    sessions      initializeSession with a new secure id, as fast as it can
    eventful      pushes that inflate ~250 times into ~60 MB of tiny events
    strange       secure ids like `../../x` or with NUL and escapes, 1 MB identifiers,
                  error timestamps in the year 9999
    reads         (with a read token) a big session's console, network and events, and its
                  UI page, over and over

It reports, per phase, the normal client's latency (p50/p99/max) and failures, what each
attacker was answered, and the server's peak RSS; then checks through the store that every
push the normal client saw acknowledged is stored exactly once, and that the UI's errors page
still renders. The exit status is 1 when a request of the normal client failed, its p99
under any one attack reached the SDK's retry interval (1.5 s) or, with all of them at once,
the time after which the SDK gives a call up (6.5 s: the attackers then run ten processes on
the server's own cores), the server died or grew past `--rss-limit-mb`, or an acknowledged
push is missing. `--light` is the form CI runs (2 s an attack, about 40 s in all); the
default is the full soak (15 s an attack, a minute together).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hostile_attacks import ATTACKS, FD_LIMIT, big_session, run_attack
from hostile_clients import NormalClient, Sample, quantile
from nodes import Node, start_footlight
from verify import stored_payloads

SDK_RETRY_WINDOW_S = 1.5
"""The SDK retries a failed call 1.5 s later: a normal client's p99 under each attack."""
SDK_GIVES_UP_S = 6.5
"""...and gives it up after ~6.5 s of retries: the bound with every attack at once, when the
attackers, run on this machine, take most of its CPU from the server."""


@dataclass
class Phase:
    name: str
    seconds: float
    start: float = 0.0
    end: float = 0.0
    answers: dict[str, dict[str, int]] = field(default_factory=dict)
    peak_rss_mb: float = 0.0


def _spawn(
    name: str, url: str, source: str, seconds: float, env: dict[str, str]
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--attack",
            name,
            "--url",
            url,
            "--source",
            source,
            "--seconds",
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


class RssWatch(threading.Thread):
    """The server's RSS every 0.1 s: its peak over the whole run and over each phase."""

    def __init__(self, server: Node, phases: list[Phase]) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.phases = phases
        self.peak_mb = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.1):
            rss = self.server.rss_mb()
            self.peak_mb = max(self.peak_mb, rss)
            for phase in self.phases:
                if phase.start and not phase.end:
                    phase.peak_rss_mb = max(phase.peak_rss_mb, rss)

    def finish(self) -> None:
        self._done.set()
        self.join()


def _line(phase: Phase, samples: list[Sample]) -> str:
    times = [s.seconds for s in samples]
    failed = sum(1 for s in samples if not s.ok)
    return (
        f"{phase.name:<12} {len(samples):>6} {failed:>6} {quantile(times, 0.5) * 1000:>8.1f}"
        f" {quantile(times, 0.99) * 1000:>8.1f} {max(times, default=0) * 1000:>8.1f}"
        f" {phase.peak_rss_mb:>8.0f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--light", action="store_true", help="the short form CI runs")
    parser.add_argument("--store", default=None, help="a postgresql:// URL (default: SQLite)")
    parser.add_argument("--phase-seconds", type=float, default=None)
    parser.add_argument("--together-seconds", type=float, default=None)
    parser.add_argument("--rss-limit-mb", type=float, default=1536.0)
    parser.add_argument("--only", action="append", default=[], help="run only these attacks")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="FOOTLIGHT_X=VALUE",
        help="a setting for the server under attack (repeatable); the defaults otherwise",
    )
    parser.add_argument("--attack", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.attack:
        return run_attack(args.attack, args.url, args.source, args.seconds)

    phase_seconds = args.phase_seconds or (2.0 if args.light else 15.0)
    together_seconds = args.together_seconds or (6.0 if args.light else 60.0)
    names = args.only or list(ATTACKS)
    directory = Path(tempfile.mkdtemp(prefix="footlight-hostile-"))
    data_dir = directory / "data"
    data_dir.mkdir()
    server = start_footlight(
        data_dir,
        args.store,
        # The defaults, whatever this shell sets, but for what --env asks; sessions end soon,
        # so that processing runs during the attacks.
        settings={
            "FOOTLIGHT_SESSION_INACTIVITY_SECONDS": "3",
            **dict(e.split("=", 1) for e in args.env),
        },
        inherit_settings=False,
        log_level="info",
        open_files=FD_LIMIT,
    )
    status = 1
    try:
        status = _run(server, names, phase_seconds, together_seconds, args)
    finally:
        server.stop(timeout=30)
        if status == 0:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            print(f"(kept {directory} with the server's log and store)")
    return status


def _run(
    server: Node,
    names: list[str],
    phase_seconds: float,
    together_seconds: float,
    args: argparse.Namespace,
) -> int:
    token = server.cli("token", "create", "--name", "hostile")
    attack_env = {
        "HOSTILE_TOKEN": token,
        "HOSTILE_UI_COOKIE": server.ui_cookie(token),
        "HOSTILE_BIG_SESSION": big_session(server, 40_000 if args.light else 400_000)
        if "reads" in names
        else "",
    }
    sources = {name: f"127.0.0.{10 + i}" for i, name in enumerate(ATTACKS)}
    phases = [Phase("quiet", phase_seconds)]
    phases += [Phase(name, phase_seconds) for name in names]
    phases.append(Phase("together", together_seconds))
    phases.append(Phase("after", phase_seconds))

    normal = NormalClient(server.url)
    watcher = RssWatch(server, phases)
    watcher.start()
    normal.start()
    try:
        for phase in phases:
            phase.start = time.monotonic()
            attackers = names if phase.name == "together" else [phase.name]
            spawned = {
                name: _spawn(name, server.url, sources[name], phase.seconds, attack_env)
                for name in attackers
                if name in ATTACKS
            }
            if not spawned:
                time.sleep(phase.seconds)
            for name, process in spawned.items():
                out, err = process.communicate(timeout=phase.seconds + 120)
                lines = out.strip().splitlines()
                phase.answers[name] = json.loads(lines[-1]) if lines else {"crashed": 1}
                if process.returncode:
                    phase.answers[name]["attacker failed"] = process.returncode
                    print(err[-2000:], file=sys.stderr)
            phase.end = time.monotonic()
            if server.process.poll() is not None:
                break
    finally:
        normal.stop()
        watcher.finish()

    alive = server.process.poll() is None
    healthy = False
    errors_page = None
    if alive:
        try:
            healthy = httpx.get(server.url + "/healthz", timeout=5).status_code == 200
            errors_page = httpx.get(
                server.url + "/ui/errors",
                cookies={"footlight_ui": attack_env["HOSTILE_UI_COOKIE"]},
                timeout=30,
            ).status_code
        except httpx.HTTPError:
            pass
    stored = stored_payloads(server.data_dir, server.store, prefix="normal")
    missing, twice = stored.missing(normal.acknowledged), stored.twice()

    print(
        f"\n{'phase':<12} {'reqs':>6} {'failed':>6} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'max ms':>8} {'RSS MB':>8}"
    )
    failures: list[str] = []
    results: dict[str, Any] = {"phases": []}
    for phase in phases:
        samples = normal.window(phase.start, phase.end or time.monotonic())
        print(_line(phase, samples))
        times = [s.seconds for s in samples]
        p99 = quantile(times, 0.99)
        failed = sum(1 for s in samples if not s.ok)
        results["phases"].append(
            {
                "name": phase.name,
                "requests": len(samples),
                "failed": failed,
                "p50_ms": quantile(times, 0.5) * 1000,
                "p99_ms": p99 * 1000,
                "max_ms": max(times, default=0) * 1000,
                "peak_rss_mb": phase.peak_rss_mb,
                "attackers": phase.answers,
            }
        )
        if failed:
            failures.append(f"{phase.name}: {failed} of the normal client's requests failed")
        bound = SDK_GIVES_UP_S if phase.name == "together" else SDK_RETRY_WINDOW_S
        if p99 >= bound:
            failures.append(f"{phase.name}: normal client p99 {p99 * 1000:.0f} ms")
        if not samples:
            failures.append(f"{phase.name}: the normal client got no answer at all")
    print()
    for phase in phases:
        for name, answers in phase.answers.items():
            shown = ", ".join(f"{k}: {v}" for k, v in sorted(answers.items()))
            print(f"{phase.name:<12} {name:<12} {shown}")
    print(
        f"\npeak RSS {watcher.peak_mb:.0f} MB; acknowledged pushes missing {missing},"
        f" stored twice {twice}; /healthz {'ok' if healthy else 'FAILED'};"
        f" /ui/errors {errors_page}"
    )
    if not alive:
        failures.append(f"the server died (exit {server.process.returncode})")
    elif not healthy:
        failures.append("/healthz failed after the attacks")
    if errors_page != 200:
        failures.append(f"/ui/errors answered {errors_page}")
    if watcher.peak_mb > args.rss_limit_mb:
        failures.append(f"peak RSS {watcher.peak_mb:.0f} MB > {args.rss_limit_mb:.0f} MB")
    if missing or twice:
        failures.append(f"{missing} acknowledged pushes missing, {twice} stored twice")
    results.update(peak_rss_mb=watcher.peak_mb, missing=missing, twice=twice, failures=failures)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    for failure in failures:
        print(f"FAIL {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
