"""A backend reporting to footlight with LaunchDarkly's real Python observability plugin
(`launchdarkly-observability`, run by tests/backend_sdks/test_launchdarkly_python.py in its
own virtualenv). The LaunchDarkly client runs offline (no flags are fetched); the plugin
names the project by the SDK key and exports over OTLP/gRPC. Like LaunchDarkly's backends,
it never reads the browser's X-Highlight-Request header: inside the browser's request it
continues the browser's trace (`traceparent`), and that is how its error reaches the
session. Then, outside any request, an error and an error-level log line.

    python report.py <otlp grpc endpoint> <footlight url> <SDK key> <traceparent> <marker>
"""

import logging
import sys

import ldclient
from ldclient.config import Config
from ldobserve import ObservabilityConfig, ObservabilityPlugin, observe
from opentelemetry import context, propagate

endpoint, footlight, sdk_key, traceparent, marker = sys.argv[1:6]
plugin = ObservabilityPlugin(
    ObservabilityConfig(
        otlp_endpoint=endpoint,
        backend_url=footlight,  # where it asks for its sampling configuration
        service_name="checkout-api",
        service_version="1.2.3",
        environment="test",
    )
)
ldclient.set_config(Config(sdk_key, offline=True, plugins=[plugin]))
client = ldclient.get()

inside_request = context.attach(propagate.extract({"traceparent": traceparent}))
try:
    raise ValueError(f"card declined for {marker}")
except ValueError as error:
    observe.record_exception(error)
context.detach(inside_request)

try:
    raise KeyError(f"nightly job lost its lock {marker}")
except KeyError as error:
    observe.record_exception(error)
observe.record_log(f"nightly report failed for {marker}", logging.ERROR)

client.close()  # flushes the exporters
print("flushed", flush=True)
