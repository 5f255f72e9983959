// A client's page of a share link: the player with its waveform, the shared versions,
// comments at the playhead or over a range (with replies), A/B against another shared
// version at the same loudness, and approve / request changes on one exact version. Live
// over the link's own socket, which replays what this page missed.
(() => {
  "use strict";

  const state = JSON.parse(document.getElementById("client-state").textContent);
  const $ = (id) => document.getElementById(id);
  const base = `/s/${state.token}`;
  let lastSeq = state.last_seq;
  let current = state.versions[state.versions.length - 1];
  let range = null; // {start, end} marked by the client, else the playhead
  const peaks = new Map();
  let position = 0; // the playhead, s: kept here, as an audio element may not have loaded yet

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === false || value === null || value === undefined) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
  const csrf = () => (document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/) || [])[1] || "";

  async function post(path, body) {
    const response = await fetch(`${base}/${path}/`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": decodeURIComponent(csrf()) },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error ? data.error.message : `The server answered ${response.status}.`);
    return data;
  }

  // --- The player: A is the version shown, B the one compared with ---------------------

  const players = new Map(); // version id -> Audio
  function audioOf(v) {
    if (!players.has(v.id)) {
      const audio = window.studioAudio.keepFresh(new Audio(`${base}/versions/${v.id}/listen/`));
      audio.preload = "auto";
      audio.addEventListener("timeupdate", () => {
        if (!audio.paused && !audio.muted) position = audio.currentTime;
        tick();
      });
      audio.addEventListener("loadedmetadata", () => { audio.currentTime = position; });
      audio.addEventListener("ended", () => { $("play").textContent = "Play"; });
      players.set(v.id, audio);
    }
    return players.get(v.id);
  }
  let other = null; // the version compared with
  let hearing = "a";

  function levels() {
    // The louder of the two is turned down to the quieter's integrated loudness.
    const a = current.integrated_lufs ?? 0, b = other ? other.integrated_lufs ?? 0 : a;
    const quieter = Math.min(a, b);
    audioOf(current).volume = Math.min(1, 10 ** ((quieter - a) / 20));
    if (other) audioOf(other).volume = Math.min(1, 10 ** ((quieter - b) / 20));
  }


  function tick() {
    $("clock").textContent = `${clock(position)} / ${clock(current.duration_s || 0)}`;
    if (!range) $("client-when").textContent = `At ${clock(position)}`;
    drawWave();
  }

  function seek(seconds) {
    position = Math.max(0, Math.min(seconds, current.duration_s || seconds));
    for (const audio of players.values()) if (audio.readyState >= 1) audio.currentTime = position;
    tick();
  }

  $("play").addEventListener("click", async () => {
    const a = audioOf(current), b = other ? audioOf(other) : null;
    if (a.paused) {
      if (a.readyState >= 1) a.currentTime = position;
      if (b) { if (b.readyState >= 1) b.currentTime = position; b.muted = hearing === "a"; }
      a.muted = hearing === "b" && !!b;
      try {
        await Promise.all([a.play(), b ? b.play() : null]);
        $("play").textContent = "Pause";
      } catch (error) { alert(`Cannot play: ${error.message}`); }
    } else {
      a.pause(); if (b) b.pause();
      $("play").textContent = "Play";
    }
  });

  $("ab-other").addEventListener("change", () => {
    if (other) audioOf(other).pause();
    other = state.versions.find((v) => String(v.id) === $("ab-other").value) || null;
    hearing = "a";
    levels();
    showAb();
  });

  $("ab-switch").addEventListener("click", () => {
    if (!other) return;
    const a = audioOf(current), b = audioOf(other);
    hearing = hearing === "a" ? "b" : "a";
    const [on, off] = hearing === "a" ? [a, b] : [b, a];
    position = off.currentTime || position;
    on.currentTime = position; // the same moment of the song
    on.muted = false; off.muted = true;
    if (!a.paused && b.paused) b.play();
    showAb();
  });

  function showAb() {
    $("ab-now").textContent = other ? `Hearing ${hearing === "a" ? current.label : other.label}, matched in loudness` : "";
  }

  function choose(v) {
    for (const audio of players.values()) audio.pause();
    $("play").textContent = "Play";
    current = v;
    position = 0;
    other = null;
    hearing = "a";
    range = null;
    render();
  }

  // --- Waveform: the mix at a glance, the playhead, and where people commented --------------

  async function loadPeaks(v) {
    if (peaks.has(v.id)) return;
    const response = await fetch(`${base}/versions/${v.id}/peaks/`, { headers: { Accept: "application/json" } });
    const data = await response.json().catch(() => ({}));
    if (response.ok && data.peaks) { peaks.set(v.id, data.peaks); drawWave(); }
  }

  function drawWave() {
    const canvas = $("client-wave");
    if (!peaks.has(current.id)) return;
    StudioPlots.waveform(canvas, peaks.get(current.id), current.duration_s);
    const g = canvas.getContext("2d"), width = canvas.clientWidth, height = canvas.clientHeight;
    const x = (s) => (s / (current.duration_s || 1)) * width;
    g.fillStyle = "rgba(194,65,12,.85)";
    for (const c of state.comments.filter((c) => c.version_id === current.id && c.at_s !== null)) {
      if (c.end_s !== null) { g.fillStyle = "rgba(194,65,12,.2)"; g.fillRect(x(c.at_s), 0, x(c.end_s) - x(c.at_s), height - 14); g.fillStyle = "rgba(194,65,12,.85)"; }
      g.fillRect(x(c.at_s) - 1, 0, 2, height - 14);
    }
    if (range) { g.fillStyle = "rgba(59,63,158,.25)"; g.fillRect(x(range.start), 0, x(range.end ?? range.start) - x(range.start) + 2, height - 14); }
    g.fillStyle = "#1c1e2b";
    g.fillRect(x(position), 0, 2, height - 14);
  }

  $("client-wave").addEventListener("click", (event) => {
    const rect = event.target.getBoundingClientRect();
    seek(((event.clientX - rect.left) / rect.width) * (current.duration_s || 0));
  });

  // --- Comments ---------------------------------------------------------------------------

  function commentItem(c, all) {
    const when = c.at_s === null ? "" : c.end_s !== null ? `${clock(c.at_s)}–${clock(c.end_s)}` : clock(c.at_s);
    const replies = all.filter((r) => r.parent_id === c.id);
    return el("li", { "data-comment": c.id, class: c.from_team ? "from-team" : "" },
      el("p", { class: "meta" },
        when ? el("button", { type: "button", class: "small link when", onclick: () => seek(c.at_s) }, when) : null,
        " ", el("strong", {}, c.author), c.from_team ? el("span", { class: "muted" }, " (team)") : null),
      el("p", { class: "body" }, c.body),
      el("button", { type: "button", class: "small link", onclick: (e) => e.target.replaceWith(replyForm(c)) }, "Reply"),
      replies.length ? el("ol", { class: "thread-list" }, ...replies.map((r) => commentItem(r, all))) : null);
  }

  function replyForm(parent) {
    const text = el("textarea", { rows: 2, maxlength: 4000, required: true, "aria-label": `Reply to ${parent.author}` });
    return el("form", { class: "comment-form", onsubmit: async (event) => {
      event.preventDefault();
      try {
        await ensureName();
        await post("comments", { version_id: current.id, body: text.value, parent_id: parent.id });
      } catch (error) { alert(error.message); }
    } }, text, el("button", { type: "submit", class: "small primary" }, "Reply"));
  }

  function renderComments() {
    const mine = state.comments.filter((c) => c.version_id === current.id);
    const top = mine.filter((c) => !c.parent_id).sort((a, b) => (a.at_s ?? 1e9) - (b.at_s ?? 1e9) || a.id - b.id);
    $("client-comments").replaceChildren(...top.map((c) => commentItem(c, mine)));
    $("client-comments-empty").hidden = mine.length > 0;
  }

  async function ensureName() {
    const name = $("client-name").value.trim();
    if (name && name !== state.me) {
      await post("name", { name });
      state.me = name;
    }
    if (!state.me) throw new Error("Tell us your name first.");
  }

  $("mark-start").addEventListener("click", () => { range = { start: position, end: null }; $("client-when").textContent = `From ${clock(range.start)}`; drawWave(); });
  $("mark-end").addEventListener("click", () => {
    const t = position;
    if (!range || t <= range.start) { range = null; tick(); return; }
    range.end = t;
    $("client-when").textContent = `From ${clock(range.start)} to ${clock(range.end)}`;
    drawWave();
  });
  $("mark-clear").addEventListener("click", () => { range = null; tick(); });

  $("client-comment-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("client-error").hidden = true;
    const at = range ? range.start : position;
    const end = range && range.end ? range.end : null;
    try {
      await ensureName();
      await post("comments", { version_id: current.id, body: $("client-body").value, at_s: Math.round(at * 10) / 10, end_s: end === null ? null : Math.round(end * 10) / 10 });
      $("client-body").value = "";
      range = null;
    } catch (error) {
      $("client-error").textContent = error.message;
      $("client-error").hidden = false;
    }
  });

  // --- Decisions ----------------------------------------------------------------------------

  async function decide(decision) {
    try {
      await ensureName();
      await post("decisions", { version_id: current.id, decision, note: $("decision-note").value });
      $("decision-note").value = "";
    } catch (error) { alert(error.message); }
  }
  $("approve").addEventListener("click", () => decide("approve"));
  $("request-changes").addEventListener("click", () => decide("changes"));

  function renderAudit() {
    $("audit").replaceChildren(...(state.decisions.length ? state.decisions.map((d) =>
      el("li", { "data-decision": d.id },
        el("strong", {}, d.client_name), d.decision === "approve" ? ` approved ${d.version_label}` : ` asked for changes on ${d.version_label}`,
        el("span", { class: "muted" }, ` · ${new Date(d.created_at).toLocaleString()}`),
        d.note ? el("p", { class: "body" }, d.note) : null))
      : [el("li", { class: "muted" }, "Nothing yet.")]));
  }

  // --- Page ---------------------------------------------------------------------------------

  function render() {
    for (const node of document.querySelectorAll("#now-label, .now-label")) node.textContent = current.label;
    $("now-name").textContent = current.name;
    $("now-notes").textContent = current.notes || "";
    $("approve").textContent = `Approve ${current.label}`;
    $("version-tabs").replaceChildren(...state.versions.map((v) =>
      el("button", { type: "button", role: "tab", "aria-selected": v.id === current.id ? "true" : "false", class: v.id === current.id ? "tab on" : "tab", onclick: () => choose(v) }, `${v.label} ${v.name}`)));
    const others = state.versions.filter((v) => v.id !== current.id);
    $("ab-box").hidden = !others.length;
    $("ab-other").replaceChildren(el("option", { value: "" }, "nothing"), ...others.map((v) => el("option", { value: v.id }, `${v.label} ${v.name}`)));
    $("downloads").replaceChildren(...(state.share.allow_download ? ["Download ", ...current.available.map((f) =>
      el("a", { class: "button small", href: `${base}/versions/${current.id}/download/${f}/` }, f.toUpperCase()))] : []));
    showAb();
    tick();
    renderComments();
    renderAudit();
    loadPeaks(current);
  }

  $("client-name").value = state.me || "";

  // --- Live: the link's own socket ------------------------------------------------------------

  const handlers = {
    "client.comment": (p) => { state.comments = state.comments.filter((c) => c.id !== p.comment.id).concat([p.comment]); renderComments(); drawWave(); },
    "client.decision": (p) => { state.decisions = state.decisions.filter((d) => d.id !== p.decision.id).concat([p.decision]); renderAudit(); },
    "share.updated": async () => {
      const response = await fetch(`${base}/feed/`, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const feed = await response.json();
      state.versions = feed.versions;
      state.share = feed.share;
      render();
    },
    "share.revoked": () => { closed = true; document.getElementById("client").replaceChildren(el("section", { class: "card" }, el("h1", {}, "This link no longer works"), el("p", {}, "It was revoked by the people who shared it."))); },
  };
  let socket = null, retry = 0, closed = false;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/share/${state.token}/`);
    socket.onopen = () => { retry = 0; socket.send(JSON.stringify({ type: "resume", after: lastSeq, id: 1 })); };
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "hello") { $("conn").dataset.state = "live"; $("conn").textContent = "Live"; }
      if (data.type === "event" && data.event.seq > lastSeq) {
        lastSeq = data.event.seq;
        const handler = handlers[data.event.type];
        if (handler) handler(data.event.payload);
      }
    };
    socket.onclose = (event) => {
      if (closed || event.code === 4410) { $("conn").textContent = "This link no longer works."; return; }
      $("conn").dataset.state = "reconnecting";
      $("conn").textContent = "Reconnecting…";
      setTimeout(connect, Math.min(10000, 500 * 2 ** retry++));
    };
  }

  render();
  connect();
})();
