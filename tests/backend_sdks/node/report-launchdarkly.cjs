// A backend reporting to footlight with LaunchDarkly's real observability plugin
// (`@launchdarkly/observability-node` on `@launchdarkly/node-server-sdk`, run by
// tests/backend_sdks/test_backend_sdks.py; npm ci here installs the pinned versions). The
// LaunchDarkly client runs offline (no flags are fetched); the plugin names the project by
// the SDK key (`launchdarkly.project_id`) and exports OTLP/HTTP JSON to <otlp endpoint>.
// It does what report.cjs does: inside a browser session, a warning log line and an error;
// outside any session, an error and an error-level log line.
//
//     node report-launchdarkly.cjs <otlp endpoint> <SDK key> <session secure id> <marker>

const { init } = require('@launchdarkly/node-server-sdk')
const { Observability, LDObserve } = require('@launchdarkly/observability-node')

const [endpoint, sdkKey, session, marker] = process.argv.slice(2)

const client = init(sdkKey, {
  offline: true,
  plugins: [
    new Observability({
      otlpEndpoint: endpoint,
      backendUrl: endpoint,
      serviceName: 'checkout-api',
      serviceVersion: '1.2.3',
      environment: 'test',
    }),
  ],
})

async function report() {
  await client.waitForInitialization({ timeout: 5 })
  const request = `request-${marker}`
  LDObserve.recordLog(`inventory low for ${marker}`, 'warn', session, request)
  LDObserve.recordError(new Error(`card declined for ${marker}`), session, request)

  LDObserve.recordError(new TypeError(`nightly job lost its lock ${marker}`), undefined, undefined)
  LDObserve.recordLog(`nightly report failed for ${marker}`, 'error')
  await LDObserve.flush()
  client.close()
  console.log('flushed')
}

report().catch((error) => {
  console.error(error)
  process.exit(1)
})
