// A page that records itself with the real highlight.run SDK and exercises every kind of
// data the SDK sends. footlight's end-to-end tests open it with
// ?project=<id>&backend=<footlight url> and click through it with Playwright.
import { H } from 'highlight.run'
import { documentState } from './document-state.js'

const params = new URLSearchParams(window.location.search)
const backend = params.get('backend')

H.init(params.get('project'), {
  backendUrl: backend,
  otlpEndpoint: backend,
  environment: 'e2e',
  version: 'e2e-app-1.0.0',
  serviceName: 'footlight-e2e',
  networkRecording: { enabled: true, recordHeadersAndBody: true },
  tracingOrigins: true,
  reportConsoleErrors: true,
  privacySetting: 'none',
  integrations: {
    mixpanel: { disabled: true },
    amplitude: { disabled: true },
    intercom: { disabled: true },
  },
})

const page = document.body.dataset.page
const status = document.getElementById('status')
// The next page records into the same backend, continuing the same session.
const next = document.getElementById('next')
next.href = next.getAttribute('href') + window.location.search

function on(id, handler) {
  document.getElementById(id).addEventListener('click', handler)
}

on('log', () => {
  console.log('e2e console.log', { page })
  console.warn('e2e console.warn')
  status.textContent = 'logged'
})
on('console-error', () => {
  console.error('e2e console.error')
})
on('throw', () => {
  setTimeout(() => {
    throw new Error('e2e uncaught error')
  })
})
on('consume', () => {
  H.consumeError(new Error('e2e consumed error'))
})
on('identify', () => {
  H.identify('ada@example.com', { plan: 'pro', seats: 3, beta: true })
})
on('track', () => {
  H.track('e2e purchase', { amount: 3, currency: 'EUR' })
})
on('feedback', () => {
  H.addSessionFeedback({
    verbatim: 'e2e feedback: checkout was slow',
    userName: 'Ada Lovelace',
    userEmail: 'ada@example.com',
  })
})
// A backend of the app's own (?api=<origin>, a localhost URL, so that `tracingOrigins: true`
// sends it the browser's trace): its failure is traced into the session. Page 1 only.
if (document.getElementById('checkout')) {
  on('checkout', async () => {
    const response = await fetch(params.get('api') + '/api/checkout', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sku: 'tea-42' }),
    })
    status.textContent = 'checkout answered ' + response.status
  })
}
on('fetch', async () => {
  const response = await fetch('data.json?from=' + page, { headers: { 'x-e2e': 'yes' } })
  status.textContent = 'fetched ' + (await response.json()).greeting
})

// What the page shows now, read the way the replay harness reads a replayed page, so a test
// can compare the two.
window.footlightDocumentState = () => documentState(document)
