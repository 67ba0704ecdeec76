"""Project keys as exporters write them, resolved to projects and remembered.

Backend SDKs name their project in every export (`highlight.project_id` and kin): a project
id, a verbose id or an extra public key, resolved as initializeSession resolves its key.
Ingest resolves them to refuse exports that name no known project, processing to attribute
errors of no session; both ask the store once per key and remember what it found. Only
found keys are remembered (a project created a minute later must be found then), and at
most `MAX_REMEMBERED` of them, so a stranger naming random keys grows nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from footlight.core.ids import decode_project
from footlight.store.base import KeyLookup

MAX_REMEMBERED = 1024
MAX_KEY_CHARS = 256


class ProjectKeys:
    def __init__(self, store: KeyLookup) -> None:
        self._store = store
        self._found: dict[str, int] = {}

    async def resolve(self, keys: Iterable[str]) -> dict[str, int]:
        """The projects of those `keys` that name one; the others are left out."""
        wanted = set(keys)
        resolved = {key: self._found[key] for key in wanted if key in self._found}
        # No key this long names a project (ids and keys are short), nor one with a NUL
        # (which PostgreSQL cannot even compare): not worth a lookup.
        unknown = {
            key: decode_project(key)
            for key in wanted
            if key not in resolved and len(key) <= MAX_KEY_CHARS and "\x00" not in key
        }
        if unknown:
            found = await self._store.projects_for_keys(unknown)
            if len(self._found) + len(found) > MAX_REMEMBERED:
                self._found.clear()
            self._found.update(found)
            resolved.update(found)
        return resolved
