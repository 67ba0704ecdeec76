// The session page: loads the recording, starts the rrweb player, and keeps the side panes
// in step with the player's clock. Rows carry their epoch-millisecond time in data-ts; once
// the replay's start is known each gets its offset, is marked "past" as the replay passes
// it, and seeks the player when clicked. `?t=SECONDS` opens the replay at that moment.
"use strict";

(function () {
  const tabs = Array.from(document.querySelectorAll("[data-pane]"));
  function show(name) {
    for (const tab of tabs) {
      const selected = tab.dataset.pane === name;
      tab.setAttribute("aria-selected", String(selected));
      document.getElementById("pane-" + tab.dataset.pane).hidden = !selected;
    }
  }
  for (const tab of tabs) tab.addEventListener("click", () => show(tab.dataset.pane));
  if (tabs.length) show(tabs[0].dataset.pane);

  const root = document.getElementById("player");
  if (!root) return;
  const status = document.getElementById("player-status");

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

  function start(events) {
    if (events.length < 2) {
      fail("This recording has too few events to replay.");
      return;
    }
    const module = window.rrwebPlayer;
    const Player = module && (module.Player || module.default);
    if (!Player) {
      fail("The rrweb player did not load (see the browser console).");
      return;
    }
    root.textContent = "";
    const width = Math.max(320, root.clientWidth);
    const player = new Player({
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

    const begin = player.getMetaData().startTime;
    const rows = Array.from(document.querySelectorAll("[data-ts]"), (el) => {
      const offset = Number(el.dataset.ts) - begin;
      el.dataset.offset = String(offset);
      el.tabIndex = 0;
      el.title = "Jump to this moment";
      const label = el.querySelector(".offset");
      if (label) label.textContent = clock(offset);
      return { el, offset };
    });

    function seek(offset) {
      player.goto(Math.max(0, offset), false);
      follow(Math.max(0, offset));
    }
    function follow(now) {
      for (const row of rows) row.el.classList.toggle("past", row.offset <= now);
    }
    player.addEventListener("ui-update-current-time", (detail) => {
      follow(typeof detail === "number" ? detail : detail.payload);
    });
    for (const row of rows) {
      row.el.addEventListener("click", (event) => {
        // Links lead elsewhere, and text in bodies and traces is there to be selected.
        if (event.target.closest("a, pre")) return;
        seek(row.offset);
      });
      row.el.addEventListener("keydown", (event) => {
        if (event.key === "Enter") seek(row.offset);
      });
    }

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
    document.body.dataset.player = "ready";
  }

  fetch(root.dataset.events, { credentials: "same-origin", headers: { accept: "application/json" } })
    .then((response) => {
      if (!response.ok) throw new Error("Loading the recording failed: HTTP " + response.status);
      return response.json();
    })
    .then(start)
    .catch((error) => fail(String(error.message || error)));
})();
