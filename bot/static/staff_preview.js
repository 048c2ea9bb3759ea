// The staff console's preview of a お知らせ: the messages as LINE shows them, drawn by the simulator's renderer
// (line_render.js). Taps do nothing here; the quick reply is shown as LINE shows it, under the last message.
(function () {
  "use strict";

  const render = window.LineRender.create(() => null);
  for (const holder of document.querySelectorAll(".line-preview[data-messages]")) {
    const messages = JSON.parse(document.getElementById(holder.dataset.messages).textContent);
    for (const message of messages) {
      const row = document.createElement("div");
      row.className = "line-preview-row";
      row.append(render.messageNode(message));
      holder.append(row);
    }
    const last = messages[messages.length - 1];
    const items = (last && last.quickReply && last.quickReply.items) || [];
    if (items.length) {
      const quick = document.createElement("div");
      quick.className = "line-preview-quick";
      for (const item of items) {
        const chip = document.createElement("span");
        chip.className = "line-preview-chip";
        chip.textContent = (item.action || {}).label || "";
        quick.append(chip);
      }
      holder.append(quick);
    }
  }
})();
