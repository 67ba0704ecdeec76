"""Bearer tokens for everything that reads data.

A token is 32 random bytes (so a fast hash is enough: there is nothing to brute-force), is
shown once when created, and only its SHA-256 is stored. A token belongs to one project, or
to none, in which case it reads every project.

A token has a scope, chosen when it is made: `read` (the default) for everything that only
reads, `admin` for what also changes data (DELETE). A leaked dashboard or CI token then
cannot delete recordings.
"""

from __future__ import annotations

import hashlib
import secrets

from footlight.errors import HTTPError
from footlight.store.base import ApiToken, ReadStore, TokenScope

TOKEN_PREFIX = "flt_"  # noqa: S105 - a prefix that makes leaked tokens recognisable


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def authenticate(store: ReadStore, authorization: str | None) -> ApiToken:
    if not authorization:
        raise HTTPError(401, "send Authorization: Bearer <token>", "UNAUTHENTICATED")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPError(401, "the Authorization header must be Bearer <token>", "UNAUTHENTICATED")
    found = await store.token_by_hash(hash_token(token.strip()))
    if found is None:
        raise HTTPError(401, "unknown or revoked token", "UNAUTHENTICATED")
    return found


def check_project(token: ApiToken, project_id: int) -> None:
    if token.project_id is not None and token.project_id != project_id:
        raise HTTPError(403, "this token does not grant access to that project", "FORBIDDEN")


def check_scope(token: ApiToken, needed: TokenScope) -> None:
    if needed == "admin" and token.scope != "admin":
        raise HTTPError(
            403,
            f"this needs a token with the admin scope; this token's scope is {token.scope}"
            " (make one with `footlight token create --scope admin`)",
            "FORBIDDEN",
        )


def readable_projects(token: ApiToken) -> tuple[int, ...] | None:
    """The projects a token may read; None means all."""
    return None if token.project_id is None else (token.project_id,)
