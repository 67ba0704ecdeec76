// A backend the e2e app calls, instrumented with the real `@highlight-run/node` SDK (run by
// tests/e2e/test_highlight_sdk.py). POST /api/checkout fails: the SDK records the error on
// a span that continues the browser's trace (its W3C `traceparent`), as LaunchDarkly's
// backend SDKs do: the X-Highlight-Request header the browser also sends is ignored, so
// the error reaches the browser session only through the trace id.
//
//     node server.cjs <otlp endpoint> <project id> <marker>
// prints "listening <port>" once it takes requests on 127.0.0.1.

const http = require('http')
const { H } = require('@highlight-run/node')

const [endpoint, project, marker] = process.argv.slice(2)

H.init({
  projectID: project,
  otlpEndpoint: endpoint,
  serviceName: 'checkout-api',
  serviceVersion: '1.2.3',
  environment: 'e2e',
  disableConsoleRecording: true,
})

const cors = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, OPTIONS',
  'access-control-allow-headers': 'content-type, traceparent, tracestate, x-highlight-request',
}

const server = http.createServer((request, response) => {
  if (request.method === 'OPTIONS') {
    response.writeHead(204, cors)
    response.end()
    return
  }
  const headers = { ...request.headers }
  delete headers['x-highlight-request']
  H.runWithHeaders('POST /api/checkout', headers, async () => {
    H.consumeError(new Error(`payment declined ${marker}`))
    response.writeHead(500, { ...cors, 'content-type': 'application/json' })
    response.end('{"error": "payment declined"}')
  }).then(() => H.flush())
})

server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`))
