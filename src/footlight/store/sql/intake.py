"""What reaches each project, for the setup page: its newest sessions, pushes, browser spans
and backend errors, and the requests ingest refused.

Every read here is bounded by the project's newest sessions (`_NEWEST` of them, through the
(project, created_at) index), not by how much the project holds, so the page costs the same
for a project of ten sessions and one of ten million.
"""

from __future__ import annotations

from collections.abc import Sequence

from footlight.store.base import UNKNOWN_PROJECT, IntakeRefusal, ProjectIntake
from footlight.store.sql.access import Access
from footlight.store.sql.engine import Connection

_NEWEST = 20
"""The newest sessions of a project whose pushes and spans say whether data still arrives."""


def _optional(value: float | None) -> int | None:
    """A time as stored (spans keep fractional milliseconds) in whole milliseconds."""
    return None if value is None else int(value)


class IntakeQueries(Access):
    async def note_refusals(self, refusals: Sequence[IntakeRefusal], keep: int) -> None:
        def write(conn: Connection) -> None:
            for r in refusals:
                conn.execute(
                    "INSERT INTO intake_refusals (project, code, count, first_at, last_at,"
                    " example) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project, code) DO UPDATE"
                    " SET count = intake_refusals.count + excluded.count,"
                    " last_at = excluded.last_at, example = excluded.example",
                    (r.project, r.code, r.count, r.first_at, r.last_at, r.example),
                )
            # Only the ids strangers invent need a bound; a real project's pairs stay.
            conn.execute(
                "DELETE FROM intake_refusals WHERE code = ? AND last_at < (SELECT min(last_at)"
                " FROM (SELECT last_at FROM intake_refusals WHERE code = ?"
                " ORDER BY last_at DESC LIMIT ?) AS kept)",
                (UNKNOWN_PROJECT, UNKNOWN_PROJECT, keep),
            )

        await self._write(write)

    async def refusals(self, projects: Sequence[str] | None, limit: int) -> list[IntakeRefusal]:
        where, args = "code = ?", [UNKNOWN_PROJECT]
        if projects is not None:
            marks = ", ".join("?" * len(projects))
            where, args = f"project IN ({marks}) AND code <> ?", [*projects, UNKNOWN_PROJECT]

        def read(conn: Connection) -> list[IntakeRefusal]:
            return [
                IntakeRefusal(
                    r["project"],
                    r["code"],
                    int(r["count"]),
                    int(r["first_at"]),
                    int(r["last_at"]),
                    r["example"],
                )
                for r in conn.execute(
                    f"SELECT * FROM intake_refusals WHERE {where}"
                    " ORDER BY last_at DESC, project, code LIMIT ?",
                    (*args, limit),
                )
            ]

        return await self._operator_read(read)

    async def project_intake(self, project_ids: Sequence[int]) -> list[ProjectIntake]:
        def read(conn: Connection) -> list[ProjectIntake]:
            return [_intake(conn, project_id) for project_id in project_ids]

        return await self._operator_read(read)


def _intake(conn: Connection, project_id: int) -> ProjectIntake:
    newest = conn.execute(
        "SELECT id, secure_id, created_at, client_version FROM sessions WHERE project_id = ?"
        " ORDER BY created_at DESC LIMIT ?",
        (project_id, _NEWEST),
    ).fetchall()
    last_push = last_span = None
    if newest:
        ids = [r["id"] for r in newest]
        marks = ", ".join("?" * len(ids))
        last_push = conn.execute(
            f"SELECT max(received_at) FROM payloads WHERE session_id IN ({marks})", ids
        ).fetchone()[0]
        secure_ids = [r["secure_id"] for r in newest]
        last_span = conn.execute(
            f"SELECT max(started_at) FROM spans WHERE session_secure_id IN ({marks})",
            secure_ids,
        ).fetchone()[0]
    last_error = conn.execute(
        "SELECT max(received_at) FROM backend_errors WHERE project_id = ?", (project_id,)
    ).fetchone()[0]
    first = newest[0] if newest else None
    return ProjectIntake(
        project_id=project_id,
        last_session_at=None if first is None else int(first["created_at"]),
        last_session_secure_id=None if first is None else first["secure_id"],
        sdk_version=None if first is None else first["client_version"],
        last_push_at=_optional(last_push),
        last_browser_span_at=_optional(last_span),
        last_backend_error_at=_optional(last_error),
    )
