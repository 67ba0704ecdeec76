// Replays rrweb events with rrweb's own Replayer, for footlight's tests
// (tests/helpers/replay.py drives it). public/replay.html loads it and exposes:
//   await window.replayEvents(events) -> {totalTime, events}: replays every event into a
//     fresh Replayer and resolves once the final state is in the replay iframe;
//   window.replayedState() -> {title, text, inputs, warnings}: what the replay shows.
import { Replayer } from 'rrweb'
import 'rrweb/dist/style.css'
import { documentState } from './document-state.js'

let replayer = null
let warnings = []

const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()))

window.replayEvents = async (events) => {
  if (replayer) replayer.destroy()
  warnings = []
  const record = (...args) => warnings.push(args.map(String).join(' '))
  replayer = new Replayer(events, {
    root: document.getElementById('player'),
    speed: 1,
    skipInactive: false,
    mouseTail: false,
    pauseAnimation: true,
    triggerFocus: false,
    showWarning: true,
    logger: { log: () => {}, warn: record },
  })
  const { totalTime } = replayer.getMetaData()
  // pause(t) casts every event *before* t synchronously and applies the result at once (no
  // timers, no animation), then stops. Events stamped exactly at the end would be left to
  // the timer, so pause one millisecond past the last event.
  replayer.pause(totalTime + 1)
  await nextFrame()
  await nextFrame()
  return { totalTime, events: events.length }
}

window.replayedState = () => {
  if (!replayer) throw new Error('call replayEvents(events) first')
  const doc = replayer.iframe.contentDocument
  return { ...documentState(doc), warnings: warnings.slice() }
}
