// The session page: loads the recording, starts the rrweb player, and keeps the side panes
// in step with the player's clock. Rows carry their epoch-millisecond time in data-ts; once
// the replay's start is known each gets its offset, is marked "past" as the replay passes
// it, and seeks the player when clicked. `?t=SECONDS` opens the replay at that moment.
//
// A live session (the player has data-live) is followed while it records: its events are
// read a page at a time after a cursor, then with long polls that answer when the next
// payload arrives; new events go into the player, which stays at the live edge unless the
// viewer unticks it, and the facts line and panes are reloaded from data-live every few
// seconds. The status line says when the recording goes quiet.
"use strict";

(function () {
  let selected = null;
  function bindTabs() {
    const tabs = Array.from(document.querySelectorAll("[data-pane]"));
    function show(name) {
      selected = name;
      for (const tab of tabs) {
        const on = tab.dataset.pane === name;
        tab.setAttribute("aria-selected", String(on));
        document.getElementById("pane-" + tab.dataset.pane).hidden = !on;
      }
    }
    for (const tab of tabs) tab.addEventListener("click", () => show(tab.dataset.pane));
    if (tabs.length) show(tabs.some((t) => t.dataset.pane === selected) ? selected : tabs[0].dataset.pane);
  }
  bindTabs();

  const root = document.getElementById("player");
  if (!root) return;
  const status = document.getElementById("player-status");
  const liveStatus = document.getElementById("live-status");
  const liveEdge = document.getElementById("live-edge");
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function fail(message) {
    status.textContent = message;
    status.className = "problem";
    status.setAttribute("role", "alert");
  }

  function clock(ms) {
    const tenths = Math.max(0, Math.floor(ms / 100));
    const minutes = Math.floor(tenths / 600);
    const seconds = ((tenths % 600) / 10).toFixed(1);
    return minutes + ":" + seconds.padStart(4, "0");
  }

  let player = null;
  let begin = 0;
  let rows = [];

  function seek(offset) {
    player.goto(Math.max(0, offset), false);
    markPast(Math.max(0, offset));
  }
  function markPast(now) {
    for (const row of rows) row.el.classList.toggle("past", row.offset <= now);
  }
  function bindRows() {
    if (!player) return;
    rows = Array.from(document.querySelectorAll("[data-ts]"), (el) => {
      const offset = Number(el.dataset.ts) - begin;
      el.dataset.offset = String(offset);
      el.tabIndex = 0;
      el.title = "Jump to this moment";
      const label = el.querySelector(".offset");
      if (label) label.textContent = clock(offset);
      el.addEventListener("click", (event) => {
        // Links lead elsewhere, and text in bodies and traces is there to be selected.
        if (event.target.closest("a, pre")) return;
        seek(offset);
      });
      el.addEventListener("keydown", (event) => {
        if (event.key === "Enter") seek(offset);
      });
      return { el, offset };
    });
    markPast(player.getReplayer().getCurrentTime());
  }

  function start(events) {
    const module = window.rrwebPlayer;
    const Player = module && (module.Player || module.default);
    if (!Player) {
      fail("The rrweb player did not load (see the browser console).");
      return;
    }
    root.textContent = "";
    const width = Math.max(320, root.clientWidth);
    player = new Player({
      target: root,
      props: {
        events,
        width,
        height: Math.round(width * 0.6),
        autoPlay: false,
        skipInactive: true,
        speedOption: [1, 2, 4, 8],
        mouseTail: false,
      },
    });
    window.footlightPlayer = player;
    begin = player.getMetaData().startTime;
    bindRows();
    player.addEventListener("ui-update-current-time", (detail) => {
      markPast(typeof detail === "number" ? detail : detail.payload);
    });

    const share = document.getElementById("share");
    const link = document.getElementById("share-link");
    share.addEventListener("click", () => {
      const url = new URL(window.location.href);
      url.searchParams.set("t", (player.getReplayer().getCurrentTime() / 1000).toFixed(1));
      link.value = url.href;
      link.select();
      if (navigator.clipboard) navigator.clipboard.writeText(url.href).catch(() => {});
    });

    const t = Number(new URLSearchParams(window.location.search).get("t"));
    if (t > 0) seek(t * 1000);
    else if (liveEdge && liveEdge.checked) toEdge();
    document.body.dataset.player = "ready";
  }

  // -- a finished session: the whole recording at once --------------------------------------

  if (!root.dataset.live) {
    fetch(root.dataset.events, { credentials: "same-origin", headers: { accept: "application/json" } })
      .then((response) => {
        if (!response.ok) throw new Error("Loading the recording failed: HTTP " + response.status);
        return response.json();
      })
      .then((events) => {
        if (events.length < 2) fail("This recording has too few events to replay.");
        else start(events);
      })
      .catch((error) => fail(String(error.message || error)));
    return;
  }

  // -- a live session: pages after a cursor, then long polls ---------------------------------

  let cursor = "";
  let waiting = [];

  async function nextPage(follow) {
    // The events URL carries its own query (assets=local): add to it, never replace it.
    const url = new URL(root.dataset.events, window.location.href);
    url.searchParams.set("after", cursor);
    if (follow) url.searchParams.set("follow", "1");
    const response = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
    if (!response.ok) throw new Error("Loading the recording failed: HTTP " + response.status);
    const page = await response.json();
    if (page.next) cursor = page.next;
    return page;
  }

  let lastEventAt = 0;
  function toEdge() {
    // Just past the newest event: a paused replay shows the events before the time it is at,
    // not those at it.
    player.goto(Math.max(lastEventAt - begin, player.getMetaData().totalTime) + 1, false);
  }

  function add(events) {
    if (!events.length) return;
    for (const event of events) lastEventAt = Math.max(lastEventAt, event.timestamp || 0);
    if (!player) {
      waiting = waiting.concat(events);
      // A replay needs the page's first full snapshot (type 2).
      if (waiting.length >= 2 && waiting.some((e) => e.type === 2)) {
        start(waiting);
        waiting = [];
      } else {
        status.textContent = "Waiting for the recording…";
      }
      return;
    }
    for (const event of events) player.addEvent(event);
    if (liveEdge && liveEdge.checked) toEdge();
  }

  function say(page) {
    const quiet = !page.live;
    document.body.dataset.live = quiet ? "quiet" : "live";
    if (!quiet) liveStatus.textContent = "live: following the recording as it arrives";
    else if (page.last_input_at) liveStatus.textContent = "quiet: no new data since " + new Date(page.last_input_at).toLocaleTimeString();
    else liveStatus.textContent = "quiet: no data yet";
  }

  async function refresh() {
    const response = await fetch(root.dataset.live, { credentials: "same-origin" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const id of ["facts", "panes"]) {
      const now = document.getElementById(id);
      const next = fresh.getElementById(id);
      if (now && next) now.replaceWith(document.importNode(next, true));
    }
    bindTabs();
    bindRows();
  }

  async function follow() {
    let page;
    do {
      page = await nextPage(false);
      add(page.events);
    } while (page.more);
    say(page);
    for (;;) {
      try {
        page = await nextPage(!page.more);
      } catch (error) {
        liveStatus.textContent = "lost the server (" + String(error.message || error) + "); trying again";
        await sleep(5000);
        continue;
      }
      add(page.events);
      say(page);
      // The panes fill a moment after the events that carried them (processing derives
      // them from each payload within about a second): reload them twice after new events.
      if (page.events.length) {
        for (const delay of [700, 2500]) setTimeout(() => refresh().catch(() => {}), delay);
      }
      if (!page.live && !page.events.length) await sleep(3000);
    }
  }

  follow().catch((error) => fail(String(error.message || error)));
})();
