// LINE simulator page: renders what the bot sent (text, flex bubbles and carousels, quick replies) and turns taps
// and typing into requests to /simulator/api/send, which posts signed webhooks to the bot as LINE would.
// Plain DOM code: nothing received is ever inserted as HTML.
(function () {
  "use strict";

  const settings = JSON.parse(document.getElementById("simulator-settings").textContent);
  const $ = (id) => document.getElementById(id);
  const chat = $("chat");
  const quick = $("quick");
  const status = $("status");
  const input = $("text");

  const POLL_MS = 800;
  const FAST_POLL_MS = 200;
  const FAST_POLLS_AFTER_SEND = 15;
  const BACKGROUND_EVERY = 4; // other personas are checked every few ticks, for their unread badges

  const state = {}; // per persona: { items: [], next: 0, seen: 0 }
  for (const p of settings.personas) state[p.key] = { items: [], next: 0, seen: 0 };
  let active = settings.personas[0].key;
  let rendered = 0; // how many of the active persona's items are on screen
  let lastFrom = null; // who said the last rendered item, to group bot messages under one avatar
  let quickDismissed = false;
  let fastPolls = 0;
  let ticks = 0;
  let timer = null;

  // --- talking to the simulator API ------------------------------------------------------------------------
  function api(path, options) {
    return fetch(path, options).then((response) =>
      response.json().then((body) => {
        if (!response.ok) throw new Error(body.error || "HTTP " + response.status);
        return body;
      })
    );
  }

  function send(payload) {
    quickDismissed = true;
    renderQuick();
    const body = JSON.stringify(Object.assign({ persona: active }, payload));
    return api(settings.api.send, { method: "POST", headers: { "Content-Type": "application/json" }, body })
      .then(() => showStatus(""))
      .catch((error) => showStatus("送信できませんでした / Not sent: " + error.message))
      .then(() => {
        fastPolls = FAST_POLLS_AFTER_SEND;
        poll();
      });
  }

  function fetchNew(key) {
    const persona = state[key];
    const url = settings.api.messages + "?persona=" + encodeURIComponent(key) + "&after=" + persona.next;
    return api(url).then((body) => {
      persona.items.push(...body.items);
      persona.next = body.next;
    });
  }

  // One request chain at a time, so the cursors stay simple; a poll asked for meanwhile runs right after.
  let polling = false;
  let pollAgain = false;

  function poll() {
    clearTimeout(timer);
    if (polling) {
      pollAgain = true;
      return;
    }
    polling = true;
    const key = active;
    const others = ticks++ % BACKGROUND_EVERY === 0 ? settings.personas.map((p) => p.key).filter((k) => k !== key) : [];
    Promise.allSettled([fetchNew(key), ...others.map(fetchNew)]).then((results) => {
      try {
        renderNew();
        renderBadges();
        if (results.some((r) => r.status === "rejected")) {
          showStatus("サーバーに接続できません / Cannot reach the server", "offline");
        } else if (status.dataset.kind === "offline") {
          showStatus("");
        }
      } finally {
        polling = false;
        const delay = pollAgain ? 0 : fastPolls > 0 ? FAST_POLL_MS : POLL_MS;
        pollAgain = false;
        fastPolls = Math.max(0, fastPolls - 1);
        timer = setTimeout(poll, delay);
      }
    });
  }

  function showStatus(text, kind) {
    status.textContent = text;
    status.dataset.kind = kind || "";
  }

  // --- personas ---------------------------------------------------------------------------------------------
  function switchTo(key) {
    active = key;
    for (const tab of document.querySelectorAll(".sim-persona")) {
      tab.setAttribute("aria-selected", String(tab.dataset.persona === key));
    }
    chat.replaceChildren();
    rendered = 0;
    lastFrom = null;
    if (!state[key].items.length) chat.append(emptyNote());
    renderNew();
    quickDismissed = false;
    renderQuick();
    renderBadges();
    fastPolls = 2;
    poll();
  }

  function renderNew() {
    const persona = state[active];
    if (rendered >= persona.items.length) return;
    persona.items.slice(rendered).forEach(renderItem);
    rendered = persona.items.length;
    persona.seen = rendered;
    quickDismissed = false;
    renderQuick();
    scrollToEnd();
  }

  function renderBadges() {
    for (const tab of document.querySelectorAll(".sim-persona")) {
      const persona = state[tab.dataset.persona];
      const badge = tab.querySelector(".sim-unread");
      const unread = tab.dataset.persona === active ? 0 : persona.items.length - persona.seen;
      badge.hidden = unread <= 0;
      badge.textContent = unread > 0 ? String(unread) : "";
    }
  }

  function emptyNote() {
    const note = el("p", "sim-empty");
    note.id = "empty";
    note.append("まず「友だち追加」を押してください。", el("br"), "Press “Add friend” to start.");
    return note;
  }

  // --- the chat -----------------------------------------------------------------------------------------------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function scrollToEnd() {
    chat.scrollTop = chat.scrollHeight;
  }

  function renderItem(item) {
    const empty = $("empty");
    if (empty) empty.remove();
    if (item.from === "system") {
      chat.append(el("p", "sim-system", item.text));
    } else if (item.from === "user") {
      const row = el("div", "sim-row sim-row-user");
      row.append(el("div", "sim-bubble sim-bubble-user", item.text));
      chat.append(row);
    } else {
      chat.append(botRow(item.message, lastFrom !== "bot"));
    }
    lastFrom = item.from;
  }

  function botRow(message, first) {
    const row = el("div", "sim-row sim-row-bot" + (first ? " sim-first" : ""));
    row.append(el("span", "sim-avatar", first ? "子" : ""));
    const column = el("div", "sim-column");
    if (first) column.append(el("span", "sim-name", "船橋市 子育て支援"));
    column.append(messageNode(message));
    row.append(column);
    return row;
  }

  const messageNode = window.LineRender.create(perform).messageNode;

  // --- what a tap does ----------------------------------------------------------------------------------------
  function perform(action) {
    switch (action.type) {
      case "postback":
        return send({ kind: "postback", data: action.data, display: action.displayText || "" });
      case "message":
        return send({ kind: "text", text: action.text });
      case "uri":
        window.open(action.uri, "_blank", "noopener");
        return null;
      case "datetimepicker":
        return pickDateTime(action);
      default:
        showStatus("このシミュレーターでは使えない操作です / Not supported here: " + action.type);
        return null;
    }
  }

  function pickDateTime(action) {
    const dialog = $("picker");
    const field = $("picker-input");
    const mode = action.mode || "datetime";
    field.type = { date: "date", time: "time", datetime: "datetime-local" }[mode] || "datetime-local";
    field.value = action.initial || "";
    if (action.min) field.min = action.min;
    if (action.max) field.max = action.max;
    dialog.onclose = () => {
      if (dialog.returnValue === "ok" && field.value) {
        send({ kind: "postback", data: action.data, params: { [mode]: field.value } });
      }
    };
    dialog.showModal();
  }

  function renderQuick() {
    const items = state[active].items;
    const last = items[items.length - 1];
    const choices = !quickDismissed && last && last.from === "bot" && last.message.quickReply
      ? last.message.quickReply.items || [] : [];
    quick.replaceChildren();
    quick.hidden = choices.length === 0;
    for (const choice of choices) {
      const action = choice.action || {};
      const chip = el("button", "sim-chip", action.label || "");
      chip.type = "button";
      chip.addEventListener("click", () => perform(action));
      quick.append(chip);
    }
  }

  function renderRichMenu() {
    const grid = $("richmenu-grid");
    for (const entry of settings.richMenu.buttons) {
      const button = el("button", "sim-richmenu-button", entry.label);
      button.type = "button";
      if (entry.labelEn) button.append(el("span", "sim-richmenu-en", entry.labelEn));
      button.addEventListener("click", () => perform(entry.action));
      grid.append(button);
    }
    const toggle = $("menu-toggle");
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      $("richmenu").hidden = !open;
    });
  }

  // --- wiring -------------------------------------------------------------------------------------------------
  $("compose").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    send({ kind: "text", text });
  });
  input.addEventListener("keydown", (event) => {
    // Enter that confirms Japanese input (IME composition) must not send the half-typed message.
    if (event.key === "Enter" && (event.isComposing || event.keyCode === 229)) event.preventDefault();
  });
  for (const button of document.querySelectorAll(".sim-friendship button")) {
    button.addEventListener("click", () => send({ kind: button.dataset.kind }));
  }
  for (const tab of document.querySelectorAll(".sim-persona")) {
    tab.addEventListener("click", () => switchTo(tab.dataset.persona));
  }
  chat.append(emptyNote());
  renderRichMenu();
  poll();
})();
