"""Root-field resolvers: GraphQL arguments in, ingest calls out, Highlight's return values back.

Each resolver is thin on purpose: argument names and return shapes belong to the protocol,
meaning belongs to `footlight.ingest`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from footlight.graph.context import RequestContext

Resolver = Callable[..., Awaitable[Any]]


class Info(Protocol):
    """What a resolver reads of graphql-core's `GraphQLResolveInfo` (the fast path,
    `graph.fast_path`, gives resolvers only this)."""

    @property
    def context(self) -> RequestContext: ...


def _ctx(info: Info) -> RequestContext:
    return info.context


async def initialize_session(_root: Any, info: Info, **args: Any) -> dict[str, Any]:
    ctx = _ctx(info)
    domains = args.get("network_recording_domains")
    session = await ctx.ingest.initialize_session(
        args["organization_verbose_id"],
        args.get("session_secure_id"),
        ctx.client,
        client_id=args.get("client_id"),
        fingerprint=args.get("fingerprint"),
        environment=args.get("environment"),
        app_version=args.get("appVersion"),
        service_name=args.get("serviceName"),
        client_version=args.get("clientVersion"),
        firstload_version=args.get("firstloadVersion"),
        client_config=args.get("clientConfig"),
        privacy_setting=args.get("privacy_setting"),
        enable_strict_privacy=args.get("enable_strict_privacy"),
        enable_recording_network_contents=args.get("enable_recording_network_contents"),
        disable_session_recording=args.get("disable_session_recording"),
        network_recording_domains=None if domains is None else tuple(domains),
        session_key=args.get("session_key"),
    )
    return {
        "secure_id": session.secure_id,
        "project_id": session.project_id,
        "sampling": None,
        "id": session.id,
        "organization_id": session.project_id,
    }


async def _session(info: Info, args: dict[str, Any]) -> str:
    return await _ctx(info).ingest.session_reference(
        args.get("session_secure_id"), args.get("session_id")
    )


async def identify_session(_root: Any, info: Info, **args: Any) -> str:
    secure_id = await _session(info, args)
    ctx = _ctx(info)
    await ctx.ingest.identify(
        secure_id, args["user_identifier"], args.get("user_object"), ctx.client
    )
    return str(args["user_identifier"])


async def add_session_properties(_root: Any, info: Info, **args: Any) -> str:
    secure_id = await _session(info, args)
    ctx = _ctx(info)
    await ctx.ingest.add_properties(secure_id, "session", args.get("properties_object"), ctx.client)
    return secure_id


async def add_track_properties(_root: Any, info: Info, **args: Any) -> str:
    secure_id = await _session(info, args)
    ctx = _ctx(info)
    await ctx.ingest.add_properties(secure_id, "track", args.get("properties_object"), ctx.client)
    return secure_id


async def push_payload(_root: Any, info: Info, **args: Any) -> int:
    secure_id = await _session(info, args)
    ctx = _ctx(info)
    return await ctx.ingest.push_legacy(secure_id, args, ctx.client)


async def push_compressed(
    _root: Any, info: Info, session_secure_id: str, payload_id: Any, data: str
) -> None:
    ctx = _ctx(info)
    await ctx.ingest.push_compressed(session_secure_id, payload_id, data, ctx.client)


async def push_backend_payload(
    _root: Any, info: Info, errors: list[Any], project_id: str | None = None
) -> None:
    await _ctx(info).ingest.push_backend_errors(project_id, errors)


async def push_metrics(_root: Any, info: Info, metrics: list[Any]) -> int:
    return await _ctx(info).ingest.push_metrics(metrics)


async def mark_backend_setup(_root: Any, info: Info, **args: Any) -> None:
    await _ctx(info).ingest.mark_backend_setup(
        args.get("project_id"), args.get("session_secure_id"), args.get("type")
    )
    return None


async def add_session_feedback(_root: Any, info: Info, **args: Any) -> str:
    secure_id = await _session(info, args)
    ctx = _ctx(info)
    await ctx.ingest.add_feedback(
        secure_id,
        args["verbatim"],
        args["timestamp"],
        args.get("user_name"),
        args.get("user_email"),
        ctx.client,
    )
    return secure_id


async def ignore(_root: Any, _info: Info, **_args: Any) -> None:
    return None


async def sampling(_root: Any, _info: Info, **_args: Any) -> dict[str, Any]:
    # footlight samples nothing on the client: every span and log is wanted.
    return {"spans": None, "logs": None}


MUTATIONS: dict[str, Resolver] = {
    "initializeSession": initialize_session,
    "identifySession": identify_session,
    "addSessionProperties": add_session_properties,
    "addTrackProperties": add_track_properties,
    "pushPayload": push_payload,
    "pushPayloadCompressed": push_compressed,
    "pushSessionEvents": push_compressed,
    "pushBackendPayload": push_backend_payload,
    "pushMetrics": push_metrics,
    "markBackendSetup": mark_backend_setup,
    "addSessionFeedback": add_session_feedback,
}

QUERIES: dict[str, Resolver] = {
    "ignore": ignore,
    "sampling": sampling,
}
