// The room's share links: make one for chosen versions, see who listened, revoke, add a
// new version; and what clients said (comments at a time, decisions) live, with replies.
(() => {
  "use strict";

  window.StudioShares = (room) => {
    const { state, el, post, flash, can, projectId, formatTime, $ } = room;
    state.shares = state.shares || [];
    state.client = state.client || { comments: [], decisions: [] };
    const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
    const doneVersions = () => state.versions.filter((v) => v.status === "done").sort((a, b) => a.number - b.number);

    // --- Making a link -----------------------------------------------------------------

    function renderForm() {
      $("share-form").hidden = !can("editor") || !doneVersions().length;
      const newest = doneVersions().at(-1);
      $("share-versions").replaceChildren(...doneVersions().map((v) => el("label", { class: "inline" },
        el("input", { type: "checkbox", name: "share-version", value: v.id, checked: newest && v.id === newest.id }), ` ${v.label} ${v.name}`)));
    }

    $("share-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      $("share-error").hidden = true;
      const ids = [...document.querySelectorAll("input[name=share-version]:checked")].map((box) => Number(box.value));
      const expires = $("share-expires").value;
      try {
        const body = await post(`/projects/${projectId}/shares/`, {
          label: $("share-label").value,
          version_ids: ids,
          password: $("share-password").value,
          expires_at: expires ? new Date(expires).toISOString() : null,
          allow_download: $("share-download").checked,
        });
        $("share-url").value = body.url;
        $("share-url-box").hidden = false;
        $("share-url").select();
        $("share-label").value = "";
        $("share-password").value = "";
      } catch (error) {
        $("share-error").textContent = error.message;
        $("share-error").hidden = false;
      }
    });

    // --- The links -----------------------------------------------------------------------

    function shareItem(s) {
      const status = s.revoked ? "revoked" : s.expired ? "expired" : "active";
      const newest = doneVersions().at(-1);
      const item = el("li", { "data-share": s.id, "data-status": status },
        el("strong", {}, s.label), ` · ${s.versions.join(", ")} · `,
        el("span", { class: `status share-${status}` }, status),
        s.has_password ? " · password" : "", s.allow_download ? " · downloads" : "",
        s.expires_at ? ` · until ${formatTime(s.expires_at)}` : "",
        el("span", { class: "muted" }, ` · ${s.listens} listen${s.listens === 1 ? "" : "s"} · by ${s.created_by || "someone"}`));
      if (can("editor") && status === "active") {
        if (newest && !s.version_ids.includes(newest.id)) {
          item.append(" ", el("button", { type: "button", class: "small", onclick: async () => {
            try { await post(`/projects/${projectId}/shares/${s.id}/versions/`, { version_ids: [newest.id] }); } catch (error) { flash(error.message); }
          } }, `Add ${newest.label}`));
        }
        item.append(" ", el("button", { type: "button", class: "small danger", onclick: async () => {
          if (!confirm(`Revoke “${s.label}”? The link stops working at once.`)) return;
          try { await post(`/projects/${projectId}/shares/${s.id}/revoke/`, {}); } catch (error) { flash(error.message); }
        } }, "Revoke"));
      }
      return item;
    }

    function renderShares() {
      $("shares").replaceChildren(...state.shares.map(shareItem));
      renderForm();
    }

    function shareChanged(p) {
      state.shares = [p.share, ...state.shares.filter((s) => s.id !== p.share.id)];
      renderShares();
    }

    // --- What clients said -------------------------------------------------------------------

    function feedbackItems() {
      const comments = state.client.comments.map((c) => ({ kind: "comment", at: c.created_at, item: c }));
      const decisions = state.client.decisions.map((d) => ({ kind: "decision", at: d.created_at, item: d }));
      return [...comments, ...decisions].sort((a, b) => a.at.localeCompare(b.at));
    }

    function commentLine(c) {
      const when = c.at_s === null ? "" : c.end_s !== null ? ` at ${clock(c.at_s)}–${clock(c.end_s)}` : ` at ${clock(c.at_s)}`;
      const line = el("li", { "data-client-comment": c.id },
        el("strong", {}, c.author), c.from_team ? " (team)" : " (client)", ` on ${c.version_label}${when}: `, c.body);
      if (!c.from_team && can("commenter")) {
        line.append(" ", el("button", { type: "button", class: "small link", onclick: (e) => {
          const text = el("input", { "aria-label": `Reply to ${c.author}`, maxlength: 4000 });
          const form = el("form", { class: "inline-edit", onsubmit: async (event) => {
            event.preventDefault();
            try { await post(`/projects/${projectId}/client-comments/${c.id}/reply/`, { body: text.value }); } catch (error) { flash(error.message); }
          } }, text, el("button", { type: "submit", class: "small primary" }, "Reply"));
          e.target.replaceWith(form);
          text.focus();
        } }, "Reply"));
      }
      return line;
    }

    function decisionLine(d) {
      const verb = d.decision === "approve" ? "approved" : "asked for changes on";
      return el("li", { "data-client-decision": d.id, class: `decision-${d.decision}` },
        el("strong", {}, d.client_name), ` (client) ${verb} ${d.version_label}`, d.note ? `: ${d.note}` : "",
        el("span", { class: "muted" }, ` · ${formatTime(d.created_at)}`));
    }

    function renderFeedback() {
      const items = feedbackItems();
      $("feedback").replaceChildren(...items.map((x) => (x.kind === "comment" ? commentLine(x.item) : decisionLine(x.item))));
      $("feedback-empty").hidden = items.length > 0;
    }

    renderShares();
    renderFeedback();
    return {
      handlers: {
        "share.created": shareChanged,
        "share.updated": shareChanged,
        "share.revoked": shareChanged,
        "client.comment": (p) => {
          state.client.comments = state.client.comments.filter((c) => c.id !== p.comment.id).concat([p.comment]);
          renderFeedback();
        },
        "client.decision": (p) => {
          state.client.decisions = state.client.decisions.filter((d) => d.id !== p.decision.id).concat([p.decision]);
          renderFeedback();
        },
        "client.listened": (p) => {
          const share = state.shares.find((s) => s.id === p.share_id);
          if (share) { share.listens += 1; renderShares(); }
        },
      },
      versionsChanged: renderShares,
    };
  };
})();
