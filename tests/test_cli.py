"""The `footlight` command as a user runs it: a real process, a real data directory.

Proven here:

* `project create` prints the new project's id, verbose id (Highlight's hashid) and keys, and
  `project list` shows every project with both ids; the hashids are Highlight's;
* a key already used by another project is refused (exit 2, a clear message), creating nothing;
* `FOOTLIGHT_DATA_DIR` chooses the store of `project create` and `project list`, and listing
  a directory that holds no store is an error rather than a new empty store;
* `serve` on an empty data directory creates project 1 and prints where its data lives, the
  URL it listens on and the `H.init` snippet for that URL; `FOOTLIGHT_HOST`/`FOOTLIGHT_PORT`
  choose where it listens; a bad environment value stops it before it starts (exit 2);
* `project create` while `serve` runs on the same store is seen at once by the running server.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from footlight.core.ids import decode_project, encode_project
from tests.helpers.cli import run_footlight
from tests.helpers.graphql import INIT_DOC, error_codes, gql, init_variables, new_secure_id
from tests.helpers.servers import Server, http_client, http_get, start_server
from tests.helpers.store import read_session


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without FOOTLIGHT_* variables, plus `extra`.

    A FOOTLIGHT_* variable set where the tests run must not choose for the command under test,
    except that a server's OTLP/gRPC receiver takes a free port (tests run side by side).
    """
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("FOOTLIGHT_")}
    return {
        **inherited,
        "PYTHONUNBUFFERED": "1",
        "FOOTLIGHT_OTLP_GRPC_PORT": "0",
        **(extra or {}),
    }


def footlight(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`footlight ARGS` in `cwd`, choosing nothing by this process's FOOTLIGHT_* variables."""
    return run_footlight(*args, cwd=cwd, env=environment(env))


class Listed(NamedTuple):
    id: int
    verbose_id: str
    name: str
    keys: list[str]


_PROJECT_LINE = re.compile(r"\s*(\d+)\s+(\S+)\s+(.+?)(?:\s+keys: (.+))?")


def projects_in(lines: list[str]) -> list[Listed]:
    listed = []
    for line in lines:
        match = _PROJECT_LINE.fullmatch(line)
        assert match, f"not a project line: {line!r}"
        number, verbose_id, name, keys = match.groups()
        listed.append(Listed(int(number), verbose_id, name, keys.split(", ") if keys else []))
    return listed


def project_list(data_dir: Path) -> list[Listed]:
    listing = footlight("project", "list", "--data-dir", str(data_dir), cwd=data_dir.parent)
    assert listing.returncode == 0, listing.stderr
    header, *lines = listing.stdout.splitlines()
    assert header.split() == ["id", "verbose", "id", "name"]
    return projects_in(lines)


def create_project(data_dir: Path, name: str, *keys: str) -> subprocess.CompletedProcess[str]:
    key_args = [arg for key in keys for arg in ("--key", key)]
    return footlight(
        "project", "create", name, *key_args, "--data-dir", str(data_dir), cwd=data_dir.parent
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- projects ----------------------------------------------------------------------------------


def test_project_create_prints_the_ids_and_the_keys(tmp_path: Path) -> None:
    created = create_project(tmp_path / "data", "Web shop", "hl-old-id", "ld-client-side-id")

    assert created.returncode == 0, created.stderr
    assert projects_in(created.stdout.splitlines()) == [
        Listed(1, "1jdkoe52", "Web shop", ["hl-old-id", "ld-client-side-id"])
    ]


def test_project_list_shows_every_project_with_its_verbose_id(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    for name, keys in [("one", ()), ("two", ("second-key",)), ("three", ())]:
        assert create_project(data_dir, name, *keys).returncode == 0

    assert project_list(data_dir) == [
        Listed(1, "1jdkoe52", "one", []),
        Listed(2, "56gl9g91", "two", ["second-key"]),
        Listed(3, "9memje21", "three", []),
    ]


# Verbose ids as Highlight shows them for these project ids.
HIGHLIGHT_VERBOSE_IDS = [
    (1, "1jdkoe52"),
    (2, "56gl9g91"),
    (3, "9memje21"),
    (10, "5ldwkdor"),
    (100, "j3ejvvep"),
    (1000, "3ejlqydp"),
    (12345, "4g8j48e5"),
]


@pytest.mark.parametrize(("project_id", "verbose_id"), HIGHLIGHT_VERBOSE_IDS)
def test_verbose_ids_are_highlights(project_id: int, verbose_id: str) -> None:
    assert encode_project(project_id) == verbose_id
    assert decode_project(verbose_id) == project_id


@pytest.mark.parametrize("spelling", ["7", "+7", "007"])
def test_a_plain_number_names_that_project(spelling: str) -> None:
    assert decode_project(spelling) == 7


@pytest.mark.parametrize("key", ["harness-project", "", "1jdkoe53"])
def test_what_is_neither_a_number_nor_a_verbose_id_names_no_project(key: str) -> None:
    assert decode_project(key) is None


def test_a_key_of_another_project_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert create_project(data_dir, "first", "shared").returncode == 0

    refused = create_project(data_dir, "second", "fresh", "shared")

    assert refused.returncode == 2
    assert "already used by another project: shared" in refused.stderr
    assert refused.stdout == ""
    assert project_list(data_dir) == [Listed(1, "1jdkoe52", "first", ["shared"])]


def test_listing_a_data_dir_that_holds_no_store_is_an_error(tmp_path: Path) -> None:
    mistyped = tmp_path / "footlight-dta"
    listing = footlight("project", "list", "--data-dir", str(mistyped), cwd=tmp_path)
    assert listing.returncode == 2
    assert f"no footlight store in {mistyped}" in listing.stderr
    assert not mistyped.exists()


def test_the_data_dir_can_come_from_the_environment(tmp_path: Path) -> None:
    chosen, elsewhere = tmp_path / "from-env", tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"FOOTLIGHT_DATA_DIR": str(chosen)}

    created = footlight("project", "create", "env project", cwd=elsewhere, env=env)
    listing = footlight("project", "list", cwd=elsewhere, env=env)

    assert created.returncode == 0, created.stderr
    assert listing.returncode == 0, listing.stderr
    assert projects_in(listing.stdout.splitlines()[1:]) == [
        Listed(1, "1jdkoe52", "env project", [])
    ]
    assert (chosen / "footlight.db").is_file()
    assert not (elsewhere / "footlight-data").exists()
    # The flag wins over the variable.
    flag = tmp_path / "flag"
    assert create_project(flag, "flag project").returncode == 0
    flagged = footlight("project", "list", "--data-dir", str(flag), cwd=elsewhere, env=env)
    assert flagged.returncode == 0, flagged.stderr
    assert projects_in(flagged.stdout.splitlines()[1:]) == [
        Listed(1, "1jdkoe52", "flag project", [])
    ]


# -- serve -------------------------------------------------------------------------------------


def banner_lines(url: str, data_dir: Path) -> list[str]:
    where = data_dir.resolve()
    return [
        f"  data:       {where} (SQLite {where / 'footlight.db'})",
        f"  listening:  {url}  (GraphQL at / and /public, OTLP at /v1/*)",
        f"  H.init('1jdkoe52', {{ backendUrl: '{url}', otlpEndpoint: '{url}' }})",
    ]


def test_serve_on_an_empty_data_dir_creates_project_1_and_prints_the_snippet(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    try:
        log = server.log().splitlines()
    finally:
        server.stop()

    assert re.fullmatch(r"http://127\.0\.0\.1:[1-9]\d*", server.url)
    for line in banner_lines(server.url, data_dir):
        assert line in log
    assert "  projects:   1 (created project 1)" in log
    assert project_list(data_dir) == [Listed(1, "1jdkoe52", "default", [])]


def test_serve_on_an_existing_store_creates_no_project(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    start_server(data_dir).stop()
    again = start_server(data_dir)
    again.stop()

    assert "  projects:   1" in again.log().splitlines()
    assert project_list(data_dir) == [Listed(1, "1jdkoe52", "default", [])]


def serve_configured_by_environment(workdir: Path, env: dict[str, str], url: str) -> Server:
    """`footlight serve` without flags; wait until `url` answers /healthz."""
    log_path = workdir / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "footlight", "serve"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment(env),
            cwd=workdir,
        )
    server = Server(Path(env["FOOTLIGHT_DATA_DIR"]), process, url, log_path, env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}:\n{server.log()}")
        try:
            if http_get(f"{url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.stop()
    raise AssertionError(f"serve did not answer at {url}:\n{server.log()}")


def test_serve_takes_host_port_and_data_dir_from_the_environment(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    # "localhost" rather than the default 127.0.0.1, so the banner shows which one was used.
    env = {
        "FOOTLIGHT_HOST": "localhost",
        "FOOTLIGHT_PORT": str(port),
        "FOOTLIGHT_DATA_DIR": str(data_dir),
    }
    server = serve_configured_by_environment(tmp_path, env, f"http://localhost:{port}")
    try:
        log = server.log().splitlines()
    finally:
        server.stop()

    for line in banner_lines(f"http://localhost:{port}", data_dir):
        assert line in log
    assert (data_dir / "footlight.db").is_file()


@pytest.mark.parametrize(
    ("variable", "value"), [("FOOTLIGHT_PORT", "notaport"), ("FOOTLIGHT_MAX_BODY_BYTES", "-1")]
)
def test_a_bad_environment_value_stops_serve_before_it_starts(
    tmp_path: Path, variable: str, value: str
) -> None:
    data_dir = tmp_path / "data"
    # Were the bad value ignored, serve would listen on a free port and time out here.
    env = {"FOOTLIGHT_PORT": "0", variable: value}

    served = footlight("serve", "--data-dir", str(data_dir), cwd=tmp_path, env=env)

    assert served.returncode == 2
    assert f"{variable}={value!r}" in served.stderr
    assert "listening" not in served.stdout
    assert not data_dir.exists()


def test_a_setting_given_as_a_flag_wins_over_the_environment(tmp_path: Path) -> None:
    server = start_server(
        tmp_path / "data",
        env={"FOOTLIGHT_MAX_BODY_BYTES": "100000"},
        args=["--max-body-bytes", "2000"],
    )
    try:
        with http_client(base_url=server.url, timeout=30) as client:
            small = client.post(
                "/", content=b"{" + b" " * 1000 + b"}", headers={"content-type": "application/json"}
            )
            large = client.post(
                "/", content=b"{" + b" " * 3000 + b"}", headers={"content-type": "application/json"}
            )
        assert small.status_code == 400  # read, and refused for what it says
        assert large.status_code == 413
        assert "larger than 2000 bytes" in large.text
    finally:
        server.stop()


def test_a_bad_flag_value_is_a_one_line_error(tmp_path: Path) -> None:
    served = footlight(
        "serve", "--data-dir", str(tmp_path / "data"), "--max-body-bytes", "-5", cwd=tmp_path
    )
    assert served.returncode == 2
    assert "--max-body-bytes" in served.stderr
    assert "must be a positive integer" in served.stderr
    assert "Traceback" not in served.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        # After each busy batch every write would wait that long: an hour would stall ingest.
        ("--commit-gather-seconds", "5", "must be at most 1 second"),
        # A batch holds at least one write (1: every commit gathers) and at most 256.
        ("--commit-gather-from", "0", "must be a whole number from 1 to 256"),
        ("--commit-gather-from", "257", "must be a whole number from 1 to 256"),
    ],
)
def test_a_commit_gathering_out_of_its_range_is_refused(
    tmp_path: Path, flag: str, value: str, says: str
) -> None:
    served = footlight(*("serve", "--data-dir", str(tmp_path / "data"), flag, value), cwd=tmp_path)
    assert served.returncode == 2
    assert flag in served.stderr
    assert says in served.stderr
    assert not (tmp_path / "data").exists()


# -- the CLI beside a running server -----------------------------------------------------------


def initialize(client: httpx.Client, secure_id: str, project_key: str) -> httpx.Response:
    response = gql(client, INIT_DOC, init_variables(secure_id, project_key), "initializeSession")
    assert response.status_code == 200, response.text
    return response


def test_a_project_created_while_serving_is_accepted_by_the_running_server(
    tmp_path: Path,
) -> None:
    server = start_server(tmp_path / "data")
    try:
        with http_client(base_url=server.url, timeout=30) as client:
            before = initialize(client, new_secure_id(), "56gl9g91")
            assert error_codes(before) == ["NOT_FOUND"]

            created = create_project(server.data_dir, "shop", "shop-public-key")
            assert created.returncode == 0, created.stderr
            assert projects_in(created.stdout.splitlines()) == [
                Listed(2, "56gl9g91", "shop", ["shop-public-key"])
            ]

            for project_key in ["56gl9g91", "shop-public-key"]:
                secure_id = new_secure_id()
                body = initialize(client, secure_id, project_key).json()
                assert "errors" not in body, body
                assert str(body["data"]["initializeSession"]["project_id"]) == "2"
                record = read_session(server.data_dir, secure_id)
                assert record is not None
                assert record.session.project_id == 2
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["project", "list", "--store", "mysql://db/x"], "must be a postgresql:// URL"),
        (["token", "revoke", "99999999999999999999999"], "is not an id"),
        (["token", "revoke", "x"], "is not an id"),
        (["project", "retention", "1", "99999999999999999999999"], "days must be between"),
        (["project", "create", "p", "--retention-days", "0"], "days must be between"),
    ],
)
def test_bad_arguments_are_one_line_errors_not_tracebacks(
    tmp_path: Path, args: list[str], message: str
) -> None:
    footlight("migrate", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    done = footlight(*args, "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_busy_otlp_grpc_port_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = footlight(
            "serve",
            "--data-dir",
            str(tmp_path / "data"),
            "--port",
            "0",
            "--otlp-grpc-port",
            str(port),
            cwd=tmp_path,
        )
    assert served.returncode == 2
    assert f"cannot listen for OTLP/gRPC on 127.0.0.1:{port}: Address already in use" in (
        served.stderr
    )
    assert "Traceback" not in served.stderr
    assert "listening" not in served.stdout


def test_the_banner_names_the_otlp_grpc_port_it_picked(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", args=["--otlp-grpc-port", "0"])
    try:
        host, port = server.grpc_target.rsplit(":", 1)
        assert host == "127.0.0.1"
        assert int(port) > 0
        with socket.create_connection((host, int(port)), timeout=5):
            pass  # something listens there
        # The lines to paste into a backend: Python's over gRPC, the others' over HTTP.
        lines = server.log().splitlines()
        assert (
            f"  Python        H('1jdkoe52', otlp_endpoint='http://{server.grpc_target}')" in lines
        )
        assert (
            f"  Node          H.init({{ projectID: '1jdkoe52', otlpEndpoint: '{server.url}' }})"
            in lines
        )
        assert (
            f'  Go            highlight.SetProjectID("1jdkoe52");'
            f' highlight.SetOTLPEndpoint("{server.url}")' in lines
        )
    finally:
        server.stop()
