// LINE messages as LINE shows them (text, images, flex bubbles and carousels), built as DOM nodes: the simulator's
// chat and the staff console's preview of a お知らせ use this one renderer. Plain DOM code: nothing received is
// ever inserted as HTML. ``LineRender.create(perform)``: ``perform(action)`` is what a tap on a button does.
(function () {
  "use strict";

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function create(perform) {
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
      if (message.type === "image") {
        const image = el("img", "sim-image");
        image.src = message.previewImageUrl;
        image.alt = "";
        return image;
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

    return { messageNode };
  }

  window.LineRender = { create };
})();
