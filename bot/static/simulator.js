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

  function messageNode(message) {
    if (message.type === "text") {
      const bubble = el("div", "sim-bubble sim-bubble-bot");
      linkify(bubble, message.text);
      return bubble;
    }
    if (message.type === "flex") {
      const holder = el("div", "sim-flex");
      holder.setAttribute("aria-label", message.altText || "");
      const contents = message.contents || {};
      if (contents.type === "carousel") {
        holder.classList.add("sim-carousel");
        (contents.contents || []).forEach((bubble) => holder.append(flexBubble(bubble)));
      } else {
        holder.append(flexBubble(contents));
      }
      return holder;
    }
    return el("div", "sim-bubble sim-bubble-bot sim-unsupported", "[" + message.type + "]");
  }

  function linkify(node, text) {
    const parts = String(text).split(/(https?:\/\/[^\s]+)/g);
    parts.forEach((part, i) => {
      if (i % 2 === 1) {
        const a = el("a", "", part);
        a.href = part;
        a.target = "_blank";
        a.rel = "noopener";
        node.append(a);
      } else if (part) {
        node.append(part);
      }
    });
  }

  // --- flex messages (developers.line.biz "Flex Message elements"): the parts bot.messages uses and a little more
  const SIZES = { xxs: 11, xs: 13, sm: 14, md: 16, lg: 19, xl: 22, xxl: 29, "3xl": 35, "4xl": 48, "5xl": 74 };
  const SPACES = { none: 0, xs: 2, sm: 4, md: 8, lg: 12, xl: 16, xxl: 20 };

  function space(value) {
    if (value === undefined) return null;
    return value in SPACES ? SPACES[value] + "px" : value;
  }

  function flexBubble(bubble) {
    const node = el("div", "fx-bubble fx-" + (bubble.size || "mega"));
    const styles = bubble.styles || {};
    for (const part of ["header", "hero", "body", "footer"]) {
      if (!bubble[part]) continue;
      const section = el("div", "fx-" + part);
      const style = styles[part] || {};
      if (style.backgroundColor) section.style.backgroundColor = style.backgroundColor;
      if (style.separator) section.classList.add("fx-separated");
      section.append(flexNode(bubble[part], "vertical"));
      node.append(section);
    }
    return node;
  }

  function flexNode(node, parentLayout) {
    const builder = BUILDERS[node.type];
    const out = builder ? builder(node) : el("div", "fx-unknown");
    const horizontal = parentLayout === "horizontal" || parentLayout === "baseline";
    if (node.flex !== undefined) out.style.flex = String(node.flex);
    else if (horizontal && node.type !== "separator") out.style.flex = "1 1 0";
    const margin = space(node.margin);
    if (margin) out.style[horizontal ? "marginLeft" : "marginTop"] = margin;
    if (node.align) out.style.textAlign = node.align === "start" ? "left" : node.align === "end" ? "right" : "center";
    if (node.gravity) out.style.alignSelf = { top: "flex-start", bottom: "flex-end", center: "center" }[node.gravity];
    return out;
  }

  const BUILDERS = {
    box(node) {
      const box = el("div", "fx-box fx-" + (node.layout || "vertical"));
      const gap = space(node.spacing);
      if (gap) box.style.gap = gap;
      for (const key of ["paddingAll", "paddingTop", "paddingBottom", "paddingStart", "paddingEnd"]) {
        const value = space(node[key]);
        if (!value) continue;
        const side = { paddingAll: "padding", paddingStart: "paddingLeft", paddingEnd: "paddingRight" }[key] || key;
        box.style[side] = value;
      }
      if (node.backgroundColor) box.style.backgroundColor = node.backgroundColor;
      if (node.cornerRadius) box.style.borderRadius = space(node.cornerRadius);
      (node.contents || []).forEach((child) => box.append(flexNode(child, node.layout)));
      if (node.action) clickable(box, node.action);
      return box;
    },
    text(node) {
      const text = el("div", "fx-text" + (node.wrap ? " fx-wrap" : ""));
      if (Array.isArray(node.contents) && node.contents.length) {
        node.contents.forEach((span) => {
          const s = el("span", "", span.text || "");
          styleText(s, span);
          text.append(s);
        });
      } else {
        text.textContent = node.text || "";
      }
      styleText(text, node);
      if (node.maxLines) text.style.webkitLineClamp = String(node.maxLines);
      if (node.action) clickable(text, node.action);
      return text;
    },
    button(node) {
      const action = node.action || {};
      const button = el("button", "fx-button fx-" + (node.style || "link") + " fx-h-" + (node.height || "md"),
        action.label || "");
      button.type = "button";
      if (node.color) {
        if (node.style === "primary" || node.style === "secondary") button.style.backgroundColor = node.color;
        else button.style.color = node.color;
      }
      if (action.type === "uri") button.title = action.uri;
      button.addEventListener("click", () => perform(action));
      return button;
    },
    image(node) {
      const image = el("img", "fx-image");
      image.src = node.url;
      image.alt = "";
      if (node.aspectRatio) image.style.aspectRatio = node.aspectRatio.replace(":", "/");
      image.style.objectFit = node.aspectMode === "cover" ? "cover" : "contain";
      if (node.action) clickable(image, node.action);
      return image;
    },
    icon(node) {
      const icon = el("img", "fx-icon");
      icon.src = node.url;
      icon.alt = "";
      return icon;
    },
    separator(node) {
      const line = el("hr", "fx-separator");
      if (node.color) line.style.borderColor = node.color;
      return line;
    },
    spacer(node) {
      const gap = el("div", "fx-spacer");
      gap.style.minHeight = space(node.size || "md");
      return gap;
    },
    filler() {
      return el("div", "fx-filler");
    },
  };

  function styleText(node, spec) {
    if (spec.size) node.style.fontSize = (SIZES[spec.size] || parseInt(spec.size, 10) || 16) + "px";
    if (spec.weight === "bold") node.style.fontWeight = "bold";
    if (spec.color) node.style.color = spec.color;
    if (spec.style === "italic") node.style.fontStyle = "italic";
    if (spec.decoration === "line-through") node.style.textDecoration = "line-through";
    if (spec.decoration === "underline") node.style.textDecoration = "underline";
  }

  function clickable(node, action) {
    node.classList.add("fx-clickable");
    node.tabIndex = 0;
    node.setAttribute("role", "button");
    node.addEventListener("click", () => perform(action));
    node.addEventListener("keydown", (event) => {
      if (event.key === "Enter") perform(action);
    });
  }

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
