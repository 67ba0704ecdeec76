"""What bench/ingest.py found, as a Markdown table (and JSON), and whether the run passed.

The tables are the ones bench/README.md's results are copied from, so their rows and
formats stay as they are: a new run's line must read like the old ones.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass

from load import LATE_MS, WrkResult
from report import commit, machine


@dataclass
class Results:
    date: str
    commit: str
    machine: str
    nginx: WrkResult
    footlight: WrkResult
    footlight_half_rate: WrkResult
    footlight_quarter_rate: WrkResult
    ratio: float
    footlight_cpu_ms_per_1000: float
    """CPU of every footlight process per 1,000 acknowledged payloads at saturation: the
    headline, as it carries from this machine to another (payloads/s move with the box)."""
    nginx_cpu_ms_per_1000: float
    """nginx's (master and workers) per 1,000 payloads answered, under the same load."""
    peak_rss_mb: float
    cold_start_ms: float
    read_mb: float
    read_mb_per_second: float
    stored_payloads: int
    acknowledged_payloads: int
    duplicate_payloads: int

    @property
    def footlight_runs(self) -> tuple[WrkResult, WrkResult, WrkResult]:
        return (self.footlight, self.footlight_half_rate, self.footlight_quarter_rate)

    def failures(self) -> list[str]:
        """What makes the run fail: payloads lost or doubled, requests refused."""
        failures = []
        if self.duplicate_payloads:
            failures.append(
                f"{self.duplicate_payloads} (session, payload id) pairs are stored twice"
            )
        failed = sum(run.failed for run in self.footlight_runs)
        if failed:
            failures.append(f"{failed} requests were refused or failed")
        # Stored may exceed acknowledged by what was in flight when wrk stopped; never fall short.
        if self.stored_payloads < self.acknowledged_payloads:
            failures.append(
                f"only {self.stored_payloads} payloads stored,"
                f" {self.acknowledged_payloads} acknowledged"
            )
        return failures


def cpu_ms_per_1000(cpu_seconds: float, run: WrkResult) -> float:
    """CPU milliseconds per 1,000 payloads the run had acknowledged."""
    return cpu_seconds * 1e6 / max(run.acked_pushes, 1)


def print_results(results: Results, args: argparse.Namespace) -> None:
    """The results table; with --json, the numbers too."""
    r = results
    rows = [
        (
            "**footlight CPU per 1,000 acknowledged payloads (ms)**",
            f"**{r.footlight_cpu_ms_per_1000:,.0f}**",
        ),
        ("nginx CPU per 1,000 payloads (ms), same load", f"{r.nginx_cpu_ms_per_1000:,.1f}"),
        ("nginx (ceiling), payloads/s", f"{r.nginx.payloads_per_second:,.0f}"),
        ("footlight, payloads/s at saturation", f"{r.footlight.payloads_per_second:,.0f}"),
        ("**footlight / nginx**", f"**{r.ratio:.2f}**"),
        (
            "footlight p50 / p99 at half rate (ms)",
            f"{r.footlight_half_rate.p50_ms:.1f} / {r.footlight_half_rate.p99_ms:.1f}"
            f" ({r.footlight_half_rate.requests_per_second:,.0f} requests/s;"
            f" {r.footlight_half_rate.late_sends} sent > {LATE_MS} ms late)",
        ),
        (
            "footlight p50 / p99 at a quarter of it (ms)",
            f"{r.footlight_quarter_rate.p50_ms:.1f} / {r.footlight_quarter_rate.p99_ms:.1f}"
            f" ({r.footlight_quarter_rate.requests_per_second:,.0f} requests/s;"
            f" {r.footlight_quarter_rate.late_sends} sent > {LATE_MS} ms late)",
        ),
        ("footlight peak RSS (MB)", f"{r.peak_rss_mb:.0f}"),
        ("cold start (ms)", f"{r.cold_start_ms:.0f}"),
        (f"event read, {r.read_mb:.0f} MB session (MB/s)", f"{r.read_mb_per_second:.0f}"),
        ("errors (footlight, all runs)", str(sum(run.failed for run in r.footlight_runs))),
        (
            "payloads acknowledged ≤ stored, stored twice",
            f"{r.acknowledged_payloads:,} ≤ {r.stored_payloads:,}, {r.duplicate_payloads}",
        ),
    ]
    print(f"\nfootlight ingest benchmark — {r.date}, commit {r.commit}, {r.machine}")
    print(
        f"{args.connections} connections, {args.threads} wrk threads, {args.seconds:g} s runs,"
        f" {args.sessions} sessions" + (" (smoke: not a measurement)" if args.smoke else "")
    )
    print("\n| measure | value |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    if args.json:
        args.json.write_text(json.dumps(asdict(results), indent=2) + "\n")


@dataclass
class ScalingRow:
    nodes: int
    result: WrkResult
    peak_rss_mb: float
    """Of all the nodes together."""
    stored: int
    twice: int

    def failure(self) -> str | None:
        """What went wrong with this many nodes: payloads lost or doubled, requests refused."""
        r = self.result
        if self.twice or r.failed or self.stored < r.acked_pushes:
            return f"{self.stored} stored, {r.acked_pushes} acknowledged, {self.twice} twice"
        return None


def print_scaling(rows: list[ScalingRow], args: argparse.Namespace) -> None:
    print(
        f"\nfootlight on PostgreSQL — {time.strftime('%Y-%m-%d')}, commit {commit()},"
        f" {machine()}; {args.connections} connections in all, {args.seconds:g} s runs"
    )
    print(
        "\n| nodes | payloads/s | worst node's p50 / p99 (ms) | errors | peak RSS (all nodes) |"
        " acknowledged ≤ stored |\n|---:|---:|---:|---:|---:|---:|"
    )
    for row in rows:
        r = row.result
        print(
            f"| {row.nodes} | {r.payloads_per_second:,.0f} | {r.p50_ms:.1f} / {r.p99_ms:.1f} |"
            f" {r.failed} | {row.peak_rss_mb:.0f} MB | {r.acked_pushes:,} ≤ {row.stored:,} |"
        )
