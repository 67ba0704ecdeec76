"""The README is the manual: a setting, a route or a command that exists must be in it,
with the default the code really uses."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from footlight.app import FootlightApp
from footlight.config import SETTINGS, Settings, load_settings
from footlight.store import SQLiteStore

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _config_rows(column: int = 2) -> dict[str, str]:
    rows = {}
    for line in README.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`FOOTLIGHT_"):
            rows[cells[0].strip("`")] = cells[column]
    return rows


def test_every_setting_is_documented_with_its_flag() -> None:
    from footlight.cli import _parser

    rows = _config_rows(column=1)
    serve = next(
        sub
        for group in _parser()._actions
        if isinstance(group, argparse._SubParsersAction)
        for name, sub in group.choices.items()
        if name == "serve"
    )
    options = {option for action in serve._actions for option in action.option_strings}
    for spec in SETTINGS:
        assert rows[spec.env] == f"`{spec.flag}`", f"{spec.env}: README says {rows[spec.env]!r}"
        assert spec.flag in options, f"`footlight serve` has no {spec.flag}"


def test_every_setting_is_documented_with_its_default() -> None:
    rows = _config_rows()
    defaults = load_settings(environ={})
    assert set(rows) == {spec.env for spec in SETTINGS}
    for spec in SETTINGS:
        value = getattr(defaults.limits if spec.in_limits else defaults, spec.attr)
        if value is None or spec.show(value) == "":
            assert rows[spec.env] == "unset", f"{spec.env}: README says {rows[spec.env]!r}"
            continue
        shown = (
            value.as_posix()
            if isinstance(value, Path)
            else f"{value:g}"
            if isinstance(value, float)
            else spec.show(value)
            if isinstance(value, (tuple, bool))
            else str(value)
        )
        assert f"`{shown}`" in rows[spec.env] or f"`./{shown}`" in rows[spec.env], (
            f"{spec.env}: README says {rows[spec.env]!r}, the default is {shown!r}"
        )


def test_every_route_is_documented(tmp_path: Path) -> None:
    app = FootlightApp(Settings(), SQLiteStore(tmp_path))
    for route in app.routes:
        if route.endswith("/") and route != "/":
            continue  # the trailing-slash twin of a documented route
        # As `/route` or `METHOD /route`, in backticks.
        assert re.search(rf"`(?:[A-Z]+ )?{re.escape(route)}`", README), route


def test_the_two_commands_are_the_documented_ones() -> None:
    root = Path(__file__).resolve().parent.parent
    assert "scripts/serve" in README
    assert "scripts/test" in README
    assert "scripts/test" in (root / ".ci" / "run").read_text()


def test_every_read_api_route_is_documented() -> None:
    from footlight.api.routes import ROUTES

    for route in ROUTES:
        for method in sorted((route.methods or set()) - {"HEAD"}):
            assert f"`{method} {route.path}`" in README or route.path.endswith("openapi.json"), (
                f"{method} {route.path} is served but not in the README's read-API table"
            )
    assert "/api/v1/openapi.json" in README


def _commands(parser: argparse.ArgumentParser, prefix: str = "footlight") -> list[str]:
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        return [prefix]
    return [
        command
        for group in groups
        for name, sub in group.choices.items()
        for command in _commands(sub, f"{prefix} {name}")
    ]


def test_every_cli_command_is_documented() -> None:
    from footlight.cli import _parser

    commands = _commands(_parser())
    assert "footlight token create" in commands
    for command in commands:
        assert command in README, f"`{command}` is not in the README"


def test_every_ui_page_is_documented() -> None:
    from starlette.routing import Mount, Route

    from footlight.ui import ROUTES

    for route in ROUTES:
        if isinstance(route, Mount):
            assert f"`GET {route.path}/...`" in README, route.path
            continue
        assert isinstance(route, Route)
        if route.path in ("/ui", "/ui/"):
            continue  # the UI's root, which leads to the session list
        for method in sorted((route.methods or set()) - {"HEAD"}):
            assert f"`{method} {route.path}`" in README, (
                f"{method} {route.path} is served but not in the README's UI table"
            )


def test_every_metric_is_documented() -> None:
    from footlight import metrics
    from footlight.edge.scrape import store_metrics
    from footlight.store.base import QueueState, StoreFootprint, StoreGauges

    gauges = StoreGauges([QueueState("session", 1, 1, 0, 0)], 1, StoreFootprint(1, 1, 1, []))
    families = [*metrics.REGISTRY.collect(), *store_metrics(gauges, 0)]
    names = {family.name for family in families}
    assert {"footlight_requests", "footlight_store_up"} <= names
    table = README[README.index("## Monitoring") :]
    for family in families:
        if family.name.startswith("footlight_process_"):
            continue  # the client's process collector, documented as footlight_process_*
        shown = family.name + ("_total" if family.type == "counter" else "")
        assert f"`{shown}`" in table, f"{shown} is served at /metrics but not documented"
