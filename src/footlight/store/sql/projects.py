"""Projects in the SQL store: creating them, their keys, and resolving a key to a project."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from footlight.core.clock import now_ms
from footlight.errors import (
    StoreError,
)
from footlight.store.base import (
    Project,
)
from footlight.store.sql.access import Access
from footlight.store.sql.derived import note_backend_service
from footlight.store.sql.engine import Connection
from footlight.store.sql.usage import PROJECT_COLUMNS, project_of

T = TypeVar("T")


class ProjectQueries(Access):
    async def create_project(self, name: str, keys: Sequence[str] = ()) -> Project:
        created_at = now_ms()

        def create(conn: Connection) -> Project:
            taken = [
                k
                for k in keys
                if conn.execute("SELECT 1 FROM project_keys WHERE key = ?", (k,)).fetchone()
            ]
            if taken:
                raise StoreError(f"key already used by another project: {', '.join(taken)}")
            project_id = int(
                conn.execute(
                    "INSERT INTO projects (name, created_at) VALUES (?, ?) RETURNING id",
                    (name, created_at),
                ).fetchone()[0]
            )
            conn.executemany(
                "INSERT INTO project_keys (key, project_id) VALUES (?, ?)",
                [(k, project_id) for k in dict.fromkeys(keys)],
            )
            return Project(project_id, name, created_at, tuple(dict.fromkeys(keys)))

        return await self._write(create)

    async def ensure_default_project(self) -> Project | None:
        created_at = now_ms()

        def ensure(conn: Connection) -> Project | None:
            # Nodes starting together would each find no project and each add a default.
            if conn.exclusive:
                conn.execute(conn.exclusive)
            if conn.execute("SELECT 1 FROM projects LIMIT 1").fetchone():
                return None
            project_id = conn.execute(
                "INSERT INTO projects (name, created_at) VALUES ('default', ?) RETURNING id",
                (created_at,),
            ).fetchone()[0]
            return Project(int(project_id), "default", created_at)

        return await self._write(ensure)

    async def list_projects(self) -> list[Project]:
        def read(conn: Connection) -> list[Project]:
            keys: dict[int, list[str]] = {}
            for row in conn.execute("SELECT key, project_id FROM project_keys ORDER BY key"):
                keys.setdefault(row["project_id"], []).append(row["key"])
            return [
                project_of(row, tuple(keys.get(row["id"], ())))
                for row in conn.execute(f"SELECT {PROJECT_COLUMNS} FROM projects ORDER BY id")
            ]

        return await self._operator_read(read)

    async def project_for_key(self, key: str) -> int | None:
        def read(conn: Connection) -> int | None:
            row = conn.execute(
                "SELECT project_id FROM project_keys WHERE key = ?", (key,)
            ).fetchone()
            return None if row is None else int(row[0])

        return await self._ingest_read(read)

    async def note_backend(self, project_id: int, name: str, at: int, limit: int) -> None:
        def note(conn: Connection) -> None:
            note_backend_service(conn, project_id, name, at, limit)

        await self._write(note)

    async def projects_for_keys(self, keys: Mapping[str, int | None]) -> dict[str, int]:
        def read(conn: Connection) -> dict[str, int]:
            found: dict[str, int] = {}
            for key, decoded in keys.items():
                row = conn.execute(
                    "SELECT project_id FROM project_keys WHERE key = ?", (key,)
                ).fetchone()
                if row is None and decoded is not None:
                    row = conn.execute(
                        "SELECT id FROM projects WHERE id = ?", (decoded,)
                    ).fetchone()
                if row is not None:
                    found[key] = int(row[0])
            return found

        return await self._read(read)
