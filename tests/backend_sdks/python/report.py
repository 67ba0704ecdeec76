"""A backend reporting to footlight with the real `highlight-io` SDK (run by
tests/backend_sdks/test_highlight_io.py in its own virtualenv, which has the SDK's pinned
OpenTelemetry): inside a browser session, a warning log and a handled error, as a Flask
view would after reading `X-Highlight-Request`; then, outside any session, as a cron job
would, an error and an error-level log line. Exports go over OTLP/gRPC, gzip, as the SDK
always sends them.

    python report.py <otlp endpoint> <project id> <session secure id> <marker>
"""

import logging
import sys

import highlight_io

endpoint, project, session, marker = sys.argv[1:5]
H = highlight_io.H(
    project,
    otlp_endpoint=endpoint,
    instrument_logging=True,
    service_name="checkout-api",
    service_version="1.2.3",
    environment="test",
)

with H.trace(session_id=session, request_id=f"request-{marker}"):
    logging.getLogger("checkout").warning("inventory low for %s", marker)
    try:
        raise ValueError(f"card declined for {marker}")
    except ValueError as error:
        H.record_exception(error)

with H.trace():
    try:
        raise KeyError(f"nightly job lost its lock {marker}")
    except KeyError as error:
        H.record_exception(error)
    logging.getLogger("nightly").error("nightly report failed for %s", marker)

H.flush()
print("flushed", flush=True)
