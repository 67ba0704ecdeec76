// A backend reporting to footlight with the real `@highlight-run/node` SDK (run by
// tests/backend_sdks/test_highlight_node.py; npm ci here installs the pinned version):
// inside a browser session, a warning log and an error, passing the session as the SDK's
// own way does (the secure id read from X-Highlight-Request); then, outside any session,
// an error and an error-level log line, as a cron job would. The SDK exports OTLP/HTTP
// JSON to <otlp endpoint>/v1/traces and /v1/logs.
//
//     node report.cjs <otlp endpoint> <project id> <session secure id> <marker>

const { H } = require('@highlight-run/node')

const [endpoint, project, session, marker] = process.argv.slice(2)

H.init({
  projectID: project,
  otlpEndpoint: endpoint,
  serviceName: 'checkout-api',
  serviceVersion: '1.2.3',
  environment: 'test',
})

const request = `request-${marker}`
H.log(`inventory low for ${marker}`, 'warn', session, request)
H.consumeError(new Error(`card declined for ${marker}`), session, request)

H.consumeError(new TypeError(`nightly job lost its lock ${marker}`))
H.log(`nightly report failed for ${marker}`, 'error')

H.flush()
  .then(() => H.stop())
  .then(() => console.log('flushed'))
  .catch((error) => {
    console.error(error)
    process.exit(1)
  })
