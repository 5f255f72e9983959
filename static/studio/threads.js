// Discussion threads under an item of the room (an AI suggestion, an arrangement idea):
// comments with replies, posted over the socket. Drafts and open threads survive the
// re-renders that live events cause. mixing.js and ideas.js each make one with
// StudioThreads(room, {field, prompt}).
(() => {
  "use strict";

  window.StudioThreads = (room, { field, prompt }) => {
    const { el, request, can, formatTime } = room;
    const openThreads = new Set(); // item ids whose thread is open
    const drafts = new Map(); // "item:parent" -> text
    const replying = new Set(); // "item:parent" with an open reply form

    function thread(item) {
      const comments = item.comments || [];
      const box = el("details", { class: "thread", open: openThreads.has(item.id) || undefined });
      const summary = el("summary", {}, comments.length ? `Discussion (${comments.length})` : "Discuss");
      // Noted on click, not on the later toggle event: a re-render in between keeps it open.
      summary.addEventListener("click", () => { if (box.open) openThreads.delete(item.id); else openThreads.add(item.id); });
      box.append(summary);
      const byParent = new Map();
      for (const c of comments) {
        const key = c.parent_id || 0;
        if (!byParent.has(key)) byParent.set(key, []);
        byParent.get(key).push(c);
      }
      const render = (parent) => el("ol", { class: "thread-list" }, ...(byParent.get(parent) || []).map((c) =>
        el("li", { "data-comment": c.id },
          el("p", { class: "meta" }, el("strong", {}, c.author || "someone"), " · ", el("time", { datetime: c.created_at }, formatTime(c.created_at))),
          el("p", { class: "body" }, c.body),
          can("commenter") ? replySlot(item, c) : null,
          byParent.has(c.id) ? render(c.id) : null)));
      box.append(render(0));
      if (can("commenter")) box.append(commentForm(item, null));
      return box;
    }

    function commentForm(item, parent) {
      const key = `${field}:${item.id}:${parent ? parent.id : 0}`;
      const text = el("textarea", { rows: 2, maxlength: 4000, required: true, "data-draft": key, "aria-label": parent ? `Reply to ${parent.author}` : `Comment on “${item.title}”`, placeholder: parent ? "Your reply…" : prompt });
      text.value = drafts.get(key) || "";
      text.addEventListener("input", () => drafts.set(key, text.value));
      const error = el("p", { class: "error", role: "alert", hidden: true });
      return el("form", { class: "comment-form", onsubmit: async (event) => {
        event.preventDefault();
        error.hidden = true;
        try {
          await request({ type: "comment.post", body: text.value, [field]: item.id, parent_id: parent ? parent.id : null });
          drafts.delete(key);
          replying.delete(key);
          text.value = "";
        } catch (e) { error.textContent = e.message; error.hidden = false; }
      } }, text, el("button", { type: "submit", class: "small primary" }, parent ? "Reply" : "Post"), error);
    }

    function replySlot(item, parent) {
      const key = `${field}:${item.id}:${parent.id}`;
      if (replying.has(key)) return commentForm(item, parent);
      return el("button", { type: "button", class: "small link", onclick: (e) => {
        replying.add(key);
        const form = commentForm(item, parent);
        e.target.replaceWith(form);
        form.querySelector("textarea").focus();
      } }, "Reply");
    }

    // Add a new comment to its item; returns the item to re-render, or null.
    function add(items, comment) {
      const item = items.find((x) => x.id === comment[field]);
      if (!item) return null;
      item.comments = (item.comments || []).filter((c) => c.id !== comment.id).concat([comment]);
      openThreads.add(item.id);
      return item;
    }

    return { thread, add };
  };

  // Re-render without losing the caret of a draft being typed.
  window.StudioThreads.keepFocus = (change) => {
    const active = document.activeElement;
    const key = active && active.dataset ? active.dataset.draft : null;
    const [start, end] = key ? [active.selectionStart, active.selectionEnd] : [0, 0];
    change();
    if (!key) return;
    const again = document.querySelector(`textarea[data-draft="${key}"]`);
    if (again && again !== active) { again.focus(); again.setSelectionRange(start, end); }
  };
})();
