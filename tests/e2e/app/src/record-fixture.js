// A page that records itself with rrweb's own `record` (no highlight.run, no footlight), so
// tests/e2e/test_replay_harness.py can check the replay harness against a real recording.
// public/record-fixture.html loads it and exposes:
//   window.recordedEvents() -> a copy of every event emitted so far;
//   window.liveState() -> what the live page shows, read as the replay harness reads a replay.
import { record } from 'rrweb'
import { documentState } from './document-state.js'

const events = []
record({ emit: (event) => events.push(event) })

window.recordedEvents = () => JSON.parse(JSON.stringify(events))
window.liveState = () => documentState(document)

const name = document.getElementById('name')
const greeting = document.getElementById('greeting')
const items = document.getElementById('items')

document.getElementById('greet').addEventListener('click', () => {
  greeting.textContent = `Hello, ${name.value}!`
  document.title = `Greeted ${name.value}`
})
document.getElementById('add').addEventListener('click', () => {
  const item = document.createElement('li')
  item.textContent = `item ${items.children.length + 1}`
  items.appendChild(item)
})
document.getElementById('hide').addEventListener('click', () => {
  document.getElementById('secret').hidden = true
})
