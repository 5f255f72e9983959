// The project room: renders the project's state, keeps it live over the websocket,
// and uploads stems with a progress bar per file.
//
// The page embeds the state as of sequence number `last_seq`; the socket replays every
// event after it and then delivers new ones in order. Every handler is idempotent, so an
// event that the embedded state already reflects changes nothing.
(() => {
  "use strict";

  const state = JSON.parse(document.getElementById("room-state").textContent);
  const projectId = state.project.id;
  let lastSeq = state.project.last_seq;
  const presence = new Map(); // connection -> {user}; the server's roster replaces it now and then
  const $ = (id) => document.getElementById(id);
  const rank = { viewer: 0, commenter: 1, editor: 2, owner: 3 };
  const can = (role) => rank[state.role] >= rank[role];

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

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

  const formatDuration = (seconds) => {
    const whole = Math.round(seconds);
    return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
  };
  const formatSize = (bytes) =>
    bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;
  const formatTime = (iso) => new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  const bitDepth = (subtype) =>
    ({ PCM_16: "16-bit", PCM_24: "24-bit", PCM_32: "32-bit", FLOAT: "32-bit float", DOUBLE: "64-bit float", PCM_U8: "8-bit", PCM_S8: "8-bit" })[subtype] || subtype.toLowerCase();

  async function post(url, data) {
    const encoded = data instanceof URLSearchParams || data instanceof FormData;
    const response = await fetch(url, {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json", ...(encoded ? {} : { "Content-Type": "application/json" }) },
      body: encoded ? data : JSON.stringify(data),
      credentials: "same-origin",
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error ? body.error.message : `The server answered ${response.status}.`);
    return body;
  }

  // Plain fields go URL-encoded, not as multipart: Daphne (Twisted) answers a bare 400
  // to a multipart body without parts, which is what an empty FormData sends.
  const form = (fields) => new URLSearchParams(fields);

  function flash(message, kind = "error") {
    let list = document.querySelector(".flash");
    if (!list) {
      list = el("ul", { class: "flash", role: "status" });
      document.getElementById("main").prepend(list);
    }
    list.append(el("li", { class: `flash-${kind}` }, message));
    setTimeout(() => list.firstChild && list.firstChild.remove(), 8000);
  }

  // --- Stems ---------------------------------------------------------------------------

  const stemUrl = (stem, action) => `/projects/${projectId}/stems/${stem.id}/${action}/`;

  function stemRow(stem, index) {
    const nameCell = el("td", { class: "stem-name" }, el("span", { class: "name" }, stem.name));
    // The file's name only says something new once the stem has been renamed.
    const fileBase = stem.original_name.replace(/\.[^.]+$/, "");
    if (stem.name !== fileBase && stem.name !== stem.original_name) nameCell.append(el("span", { class: "hint" }, stem.original_name));
    if (renaming && renaming.id === stem.id) nameCell.replaceChildren(renameEditor(stem));
    const actions = el("td", { class: "actions" },
      el("a", { href: stemUrl(stem, "download"), class: "button small", "aria-label": `Download ${stem.name}` }, "Download"));
    if (can("editor")) {
      actions.append(
        el("button", { type: "button", class: "small", "aria-label": `Move ${stem.name} up`, disabled: index === 0, onclick: () => move(stem, "up") }, "↑"),
        el("button", { type: "button", class: "small", "aria-label": `Move ${stem.name} down`, disabled: index === state.stems.length - 1, onclick: () => move(stem, "down") }, "↓"),
        el("button", { type: "button", class: "small", "aria-label": `Rename ${stem.name}`, onclick: () => startRename(stem) }, "Rename"),
        el("button", { type: "button", class: "small danger", "aria-label": `Delete ${stem.name}`, onclick: () => remove(stem) }, "Delete"),
      );
    }
    const row = el("tr", { "data-stem": stem.id, class: "stem-row" },
      el("td", { class: "muted" }, index + 1),
      nameCell,
      el("td", {}, `${stem.format} ${bitDepth(stem.subtype)}`),
      el("td", {}, `${(stem.sample_rate / 1000).toFixed(stem.sample_rate % 1000 ? 1 : 0)} kHz`),
      el("td", {}, stem.channels === 1 ? "mono" : "stereo"),
      el("td", {}, formatDuration(stem.duration_s)),
      el("td", {}, formatSize(stem.size_bytes)),
      el("td", {}, stem.uploaded_by || "—"),
      actions,
    );
    const analysis = el("tr", { class: "analysis-row", "data-analysis-of": stem.id },
      el("td", {}), el("td", { colspan: 8 }, analysisLine(analysisOf(`stem:${stem.id}`))));
    return [row, analysis];
  }

  // --- Analyses ------------------------------------------------------------------------

  const analysisOf = (target) => state.analyses.find((a) => a.target === target);
  const figure = (value, digits, unit) => (value === null || value === undefined ? null : `${value.toFixed(digits)} ${unit}`);

  function chips(summary) {
    return [
      figure(summary.integrated_lufs, 1, "LUFS"),
      figure(summary.true_peak_dbtp, 1, "dBTP"),
      summary.tempo_bpm ? `${Math.round(summary.tempo_bpm)} BPM` : null,
      summary.key,
      summary.role,
    ].filter(Boolean).map((text) => el("span", { class: "chip" }, text));
  }

  function analysisLine(analysis) {
    const line = el("div", { class: "analysis-line", "data-analysis": analysis ? analysis.id : "" });
    if (!analysis) return line;
    line.dataset.status = analysis.status;
    if (analysis.status === "queued") {
      const again = analysis.attempts > 0 ? ` Its worker stopped: trying again (attempt ${analysis.attempts + 1}).` : "";
      line.append(el("span", { class: "muted", "data-retry": analysis.attempts > 0 ? "true" : null }, `Waiting to be analysed…${again}`));
    }
    if (analysis.status === "running") {
      const percent = Math.round(100 * analysis.progress);
      line.append(el("progress", { max: 100, value: percent, "aria-label": `Analysis of ${analysis.label}` }),
        el("span", { class: "muted percent" }, `analysing ${percent}%`));
    }
    if (analysis.status === "done" && analysis.summary) {
      line.append(...chips(analysis.summary));
      const issues = analysis.summary.issues || [];
      if (issues.length) line.append(el("span", { class: "chip warn", title: issues.map((i) => i.message).join("\n") }, `${issues.length} issue${issues.length === 1 ? "" : "s"}`));
      line.append(el("button", { type: "button", class: "small link", onclick: () => showAnalysis(analysis.id) }, "Details"));
    }
    if (analysis.status === "failed") {
      line.append(el("span", { class: "error", role: "alert" }, `Analysis failed: ${analysis.error}`));
      if (can("editor")) {
        line.append(el("button", { type: "button", class: "small", onclick: async () => {
          try { await post(`/projects/${projectId}/analyses/${analysis.id}/retry/`, form({})); } catch (error) { flash(error.message); }
        } }, "Retry"));
      }
    }
    return line;
  }

  function renderMix() {
    const analysis = analysisOf("mix");
    $("mix-card").hidden = !analysis;
    if (analysis) $("mix-line").replaceChildren(analysisLine(analysis));
  }

  const FIGURES = [
    ["Integrated loudness", (r) => figure(r.loudness.integrated_lufs, 1, "LUFS")],
    ["Loudness range", (r) => figure(r.loudness.loudness_range_lu, 1, "LU")],
    ["Momentary max", (r) => figure(r.loudness.momentary_max_lufs, 1, "LUFS")],
    ["Short-term max", (r) => figure(r.loudness.short_term_max_lufs, 1, "LUFS")],
    ["True peak", (r) => figure(r.loudness.true_peak_dbtp, 1, "dBTP")],
    ["Sample peak", (r) => figure(r.loudness.sample_peak_dbfs, 1, "dBFS")],
    ["RMS", (r) => figure(r.loudness.rms_dbfs, 1, "dBFS")],
    ["Crest factor", (r) => figure(r.loudness.crest_factor_db, 1, "dB")],
    ["Tempo", (r) => (r.rhythm.tempo_bpm ? `${r.rhythm.tempo_bpm.toFixed(1)} BPM (confidence ${Math.round(100 * r.rhythm.tempo_confidence)}%)` : "no steady pulse")],
    ["Key", (r) => (r.tonality.key ? `${r.tonality.key} (${Math.round(100 * r.tonality.key_confidence)}%; else ${r.tonality.runner_up})` : "no clear key")],
    ["Stereo correlation", (r) => figure(r.stereo.correlation, 2, "")],
    ["Stereo width (side/mid)", (r) => figure(r.stereo.width, 2, "")],
    ["Loudness lost in mono", (r) => figure(r.stereo.mono_fold_loss_lu, 1, "LU")],
    ["Role", (r) => (r.role ? `${r.role.role} (${Math.round(100 * r.role.confidence)}%): ${r.role.reason}` : null)],
  ];

  let shownAnalysis = null;

  async function showAnalysis(id) {
    shownAnalysis = id;
    const panel = $("analysis-panel");
    panel.hidden = false;
    $("analysis-title").textContent = "Loading the analysis…";
    const response = await fetch(`/projects/${projectId}/analyses/${id}/`, { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => ({}));
    if (!response.ok || !body.report) { $("analysis-title").textContent = "This analysis is not available."; return; }
    const report = body.report;
    $("analysis-title").textContent = `Analysis of ${body.analysis.label}`;
    $("analysis-figures").replaceChildren(...FIGURES.flatMap(([label, get]) => {
      let value = null;
      try { value = get(report); } catch { value = null; }
      return value === null ? [] : [el("dt", {}, label), el("dd", {}, value)];
    }));
    const issues = (report.hygiene && report.hygiene.issues) || [];
    $("analysis-issues").replaceChildren(...(issues.length ? issues.map((issue) => el("li", { class: `issue issue-${issue.severity || "info"}` }, issue.message))
      : [el("li", { class: "muted" }, "No hygiene problems found: no clipping, hum, DC offset or long silences.")]));
    panel.scrollIntoView({ behavior: "smooth", block: "start" });
    requestAnimationFrame(() => {
      StudioPlots.waveform($("plot-waveform"), report.peaks, report.duration_s);
      StudioPlots.loudness($("plot-loudness"), report.loudness);
      StudioPlots.spectrum($("plot-spectrum"), report.spectrum);
      StudioPlots.chroma($("plot-chroma"), report.tonality);
    });
  }

  $("analysis-close").addEventListener("click", () => { $("analysis-panel").hidden = true; shownAnalysis = null; });

  function analysisChanged(analysis, removed = false) {
    state.analyses = state.analyses.filter((a) => a.id !== analysis.id);
    if (!removed) state.analyses.push(analysis);
    renderStems();
    renderMix();
    if (analysis.target === "mix") arranging.analysesChanged();
    if (shownAnalysis === analysis.id && (removed || analysis.status !== "done")) { $("analysis-panel").hidden = true; shownAnalysis = null; }
    else if (shownAnalysis === analysis.id) showAnalysis(analysis.id);
  }

  function progressNotice(notice) {
    const analysis = state.analyses.find((a) => a.id === notice.id);
    if (!analysis || analysis.status !== "running") return;
    analysis.progress = notice.progress;
    for (const line of document.querySelectorAll(`.analysis-line[data-analysis="${notice.id}"]`)) {
      const bar = line.querySelector("progress"), text = line.querySelector(".percent");
      if (bar) bar.value = Math.round(100 * notice.progress);
      if (text) text.textContent = `analysing ${Math.round(100 * notice.progress)}%`;
    }
  }

  function renderStems() {
    state.stems.sort((a, b) => a.position - b.position || a.id - b.id);
    const editing = document.activeElement && document.activeElement.closest(".inline-edit");
    const caret = editing ? [document.activeElement.selectionStart, document.activeElement.selectionEnd] : null;
    $("stem-rows").replaceChildren(...state.stems.flatMap(stemRow));
    if (renaming && !state.stems.some((s) => s.id === renaming.id)) renaming = null;
    const input = document.querySelector(".inline-edit input");
    if (input && caret) { input.focus(); input.setSelectionRange(...caret); }
    $("stem-count").textContent = state.stems.length ? `${state.stems.length} stem${state.stems.length === 1 ? "" : "s"}` : "";
    $("stems-empty").hidden = state.stems.length > 0;
    $("stems-empty-text").textContent = can("editor")
      ? "Drop the stems of your song above: drums, bass, keys, vocals… Everyone in the project sees them appear."
      : "When an editor uploads stems they appear here, live.";
    const select = $("comment-stem");
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "" }, "About the whole song"),
      ...state.stems.map((s) => el("option", { value: s.id }, `About “${s.name}”`)));
    select.value = state.stems.some((s) => String(s.id) === chosen) ? chosen : "";
  }

  // The stem being renamed, if any: rows are redrawn whenever an event arrives (an analysis
  // finishing, say), and the half-typed name must survive that.
  let renaming = null; // {id, value}

  function startRename(stem) {
    renaming = { id: stem.id, value: stem.name };
    renderStems();
    const input = document.querySelector(".inline-edit input");
    if (input) { input.focus(); input.select(); }
  }

  function renameEditor(stem) {
    const input = el("input", { value: renaming.value, maxlength: 200, "aria-label": "New name", required: true });
    input.addEventListener("input", () => { renaming.value = input.value; });
    const stop = () => { renaming = null; renderStems(); };
    return el("form", { class: "inline-edit", onsubmit: async (event) => {
      event.preventDefault();
      try {
        await post(stemUrl(stem, "rename"), form({ name: input.value }));
        renaming = null;
        renderStems();
      } catch (error) { flash(error.message); }
    } }, input, el("button", { type: "submit", class: "small primary" }, "Save"),
      el("button", { type: "button", class: "small", onclick: stop }, "Cancel"));
  }

  async function move(stem, direction) {
    try { await post(stemUrl(stem, "move"), form({ direction })); } catch (error) { flash(error.message); }
  }

  async function remove(stem) {
    if (!confirm(`Delete the stem “${stem.name}” for everyone? Its file is deleted too.`)) return;
    try { await post(stemUrl(stem, "delete"), form({})); } catch (error) { flash(error.message); }
  }

  // --- Uploads -------------------------------------------------------------------------

  function upload(file) {
    const bar = el("progress", { max: 100, value: 0, "aria-label": `Upload of ${file.name}` });
    const status = el("span", { class: "status" }, "waiting");
    const item = el("li", { class: "upload" }, el("span", { class: "file" }, file.name), bar, status);
    $("uploads").prepend(item);
    if (file.size > state.max_upload_mb * 1048576) {
      fail(item, status, `${file.name} is ${formatSize(file.size)}; the limit is ${state.max_upload_mb} MB.`);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `/projects/${projectId}/stems/`);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = (event) => {
        if (!event.lengthComputable) return;
        const percent = Math.round((100 * event.loaded) / event.total);
        bar.value = percent;
        status.textContent = percent < 100 ? `${percent}%` : "checking the audio…";
      };
      xhr.onload = () => {
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
        if (xhr.status === 201) {
          bar.value = 100;
          status.textContent = "added";
          item.classList.add("done");
          setTimeout(() => item.remove(), 4000);
        } else {
          fail(item, status, body.error ? body.error.message : `The upload failed (${xhr.status}). Try again.`);
        }
        resolve();
      };
      xhr.onerror = () => { fail(item, status, "The connection dropped during the upload. Try again."); resolve(); };
      const data = new FormData();
      data.append("file", file);
      status.textContent = "0%";
      xhr.send(data);
    });
  }

  function fail(item, status, message) {
    item.classList.add("failed");
    status.textContent = message;
    status.setAttribute("role", "alert");
    item.append(el("button", { type: "button", class: "small", onclick: () => item.remove() }, "Dismiss"));
  }

  async function uploadAll(files) {
    const queue = [...files];
    const worker = async () => { while (queue.length) await upload(queue.shift()); };
    await Promise.all([worker(), worker()]);
  }

  $("file-input").addEventListener("change", (event) => {
    uploadAll(event.target.files);
    event.target.value = "";
  });
  const zone = $("dropzone");
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    uploadAll(event.dataTransfer.files);
  });
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); $("file-input").click(); }
  });
  zone.tabIndex = 0;

  // --- People --------------------------------------------------------------------------

  function memberItem(member) {
    const me = member.user_id === state.me.id;
    const item = el("li", { "data-user": member.user_id },
      el("span", { class: "avatar", "aria-hidden": "true" }, member.username.slice(0, 1).toUpperCase()),
      el("span", { class: "who" }, member.username, me ? el("span", { class: "muted" }, " (you)") : null));
    if (state.role === "owner" && member.role !== "owner") {
      const select = el("select", { "aria-label": `Role of ${member.username}`, onchange: async () => {
        try { await post(`/projects/${projectId}/members/${member.user_id}/role/`, form({ role: select.value })); }
        catch (error) { flash(error.message); renderMembers(); }
      } }, ...["editor", "commenter", "viewer"].map((role) => el("option", { value: role, selected: role === member.role }, role)));
      item.append(select, el("button", { type: "button", class: "small danger", "aria-label": `Remove ${member.username}`, onclick: async () => {
        if (!confirm(`Remove ${member.username} from the project?`)) return;
        try { await post(`/projects/${projectId}/members/${member.user_id}/remove/`, form({})); } catch (error) { flash(error.message); }
      } }, "Remove"));
    } else {
      item.append(el("span", { class: `role role-${member.role}` }, member.role));
      if (me && member.role !== "owner") {
        item.append(el("button", { type: "button", class: "small", onclick: async () => {
          if (!confirm("Leave this project? You will need a new invitation to come back.")) return;
          try { await post(`/projects/${projectId}/members/${member.user_id}/remove/`, form({})); window.location = "/projects/"; }
          catch (error) { flash(error.message); }
        } }, "Leave"));
      }
    }
    return item;
  }

  function renderMembers() {
    $("members").replaceChildren(...state.members.map(memberItem));
  }

  function renderPresence() {
    const here = new Map();
    for (const { user } of presence.values()) here.set(user.id, user);
    $("presence").replaceChildren(...[...here.values()].map((user) =>
      el("li", { title: `${user.username} is here`, "data-user": user.username },
        el("span", { class: "avatar live", "aria-hidden": "true" }, user.username.slice(0, 1).toUpperCase()),
        el("span", { class: "who" }, user.id === state.me.id ? `${user.username} (you)` : user.username))));
  }

  function applyRole() {
    $("my-role").textContent = state.role;
    $("uploader").hidden = !can("editor");
    $("read-only-note").hidden = can("editor");
    $("settings-card").hidden = !can("editor");
    $("comment-form").hidden = !can("commenter");
    $("invite-form").hidden = state.role !== "owner";
  }

  // --- Discussion and activity ---------------------------------------------------------

  const clockText = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;

  function commentItem(comment) {
    const stem = comment.stem_id && state.stems.find((s) => s.id === comment.stem_id);
    const version = comment.version_id && (state.versions || []).find((v) => v.id === comment.version_id);
    const when = comment.at_s === null || comment.at_s === undefined ? ""
      : comment.end_s ? ` at ${clockText(comment.at_s)}–${clockText(comment.end_s)}` : ` at ${clockText(comment.at_s)}`;
    return el("li", { "data-comment": comment.id },
      el("p", { class: "meta" }, el("strong", {}, comment.author || "someone"),
        stem ? ` on “${stem.name}”` : "", version ? ` on ${version.label}` : "", when,
        " · ", el("time", { datetime: comment.created_at }, formatTime(comment.created_at))),
      el("p", { class: "body" }, comment.body));
  }

  function renderComments() {
    $("comments").replaceChildren(...state.comments.map(commentItem));
    $("comments-empty").hidden = state.comments.length > 0;
  }

  function activityItem(event) {
    return el("li", { "data-seq": event.seq }, el("span", {}, event.summary),
      el("time", { class: "muted", datetime: event.at }, formatTime(event.at)));
  }

  function renderActivity() {
    $("activity").replaceChildren(...state.activity.slice(0, 50).map(activityItem));
    if (!state.activity.length) $("activity").append(el("li", { class: "muted" }, "Nothing has happened yet."));
  }

  $("comment-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = $("comment-body").value;
    const stemId = $("comment-stem").value ? Number($("comment-stem").value) : null;
    $("comment-error").hidden = true;
    try {
      await request({ type: "comment.post", body, stem_id: stemId });
      $("comment-body").value = "";
    } catch (error) {
      $("comment-error").textContent = error.message;
      $("comment-error").hidden = false;
    }
  });

  // --- Events --------------------------------------------------------------------------

  const upsert = (list, item, key = "id") => {
    const index = list.findIndex((x) => x[key] === item[key]);
    if (index >= 0) list[index] = item; else list.push(item);
  };

  const handlers = {
    "project.created": () => {},
    "project.renamed": (p) => {
      state.project.name = p.project.name;
      $("project-name").textContent = p.project.name;
      document.title = `${p.project.name} · Studio`;
    },
    "stem.created": (p) => { upsert(state.stems, p.stem); renderStems(); mixing.stemsChanged(); },
    "stem.renamed": (p) => { upsert(state.stems, p.stem); renderStems(); renderComments(); mixing.stemsChanged(); },
    "stem.deleted": (p) => { state.stems = state.stems.filter((s) => s.id !== p.stem.id); renderStems(); mixing.stemsChanged(); },
    "stem.reordered": (p) => {
      for (const stem of state.stems) stem.position = p.order.indexOf(stem.id);
      renderStems();
    },
    "member.added": (p) => { upsert(state.members, p.member, "user_id"); renderMembers(); },
    "member.role_changed": (p) => {
      upsert(state.members, p.member, "user_id");
      if (p.member.user_id === state.me.id) { state.role = p.member.role; applyRole(); renderStems(); mixing.stemsChanged(); }
      renderMembers();
    },
    "member.removed": (p) => {
      state.members = state.members.filter((m) => m.user_id !== p.member.user_id);
      renderMembers();
      if (p.member.user_id === state.me.id) { closedForGood = true; window.location = "/projects/"; }
    },
    "comment.created": (p) => {
      if (p.comment.suggestion_id) { mixing.commentOnSuggestion(p.comment); return; }
      if (p.comment.idea_id) { arranging.commentOnIdea(p.comment); return; }
      upsert(state.comments, p.comment);
      renderComments();
    },
    "analysis.queued": (p) => analysisChanged(p.analysis),
    "analysis.started": (p) => analysisChanged(p.analysis),
    "analysis.done": (p) => analysisChanged(p.analysis),
    "analysis.failed": (p) => analysisChanged(p.analysis),
    "analysis.removed": (p) => analysisChanged(p.analysis, true),
  };

  function apply(event) {
    if (event.seq <= lastSeq) return; // already reflected by the page or a replay
    lastSeq = event.seq;
    const handler = handlers[event.type];
    if (handler) handler(event.payload);
    state.activity.unshift(event);
    renderActivity();
    document.getElementById("room").dataset.seq = String(lastSeq);
  }

  // --- The socket ----------------------------------------------------------------------

  let socket = null;
  let retry = 0;
  let nextId = 1;
  let closedForGood = false;
  let reconnectTimer = null;
  const pending = new Map();

  function setConn(stateName, text) {
    $("conn").dataset.state = stateName;
    $("conn").textContent = text;
  }

  function request(message) {
    return new Promise((resolve, reject) => {
      if (!socket || socket.readyState !== WebSocket.OPEN) {
        reject(new Error("Not connected right now; wait a moment and try again."));
        return;
      }
      const id = nextId++;
      pending.set(id, { resolve, reject });
      socket.send(JSON.stringify({ ...message, id }));
    });
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/projects/${projectId}/`);
    socket.onopen = () => {
      retry = 0;
      socket.send(JSON.stringify({ type: "resume", after: lastSeq, id: nextId++ }));
    };
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      switch (data.type) {
        case "hello": presence.clear(); setConn("live", "Live"); versions.together.hello(data); break;
        case "event": apply(data.event); break;
        case "notice": if (notices[data.notice.kind]) notices[data.notice.kind](data.notice); break;
        case "presence.roster": presence.clear(); for (const m of data.members) presence.set(m.conn, { user: m.user }); renderPresence(); break;
        case "presence.join": presence.set(data.conn, { user: data.user }); renderPresence(); break;
        case "presence.leave": presence.delete(data.conn); renderPresence(); break;
        case "project.deleted": closedForGood = true; alert("This project was deleted."); window.location = "/projects/"; break;
        case "ack": case "pong": settle(data.ref, null, data); break;
        case "error": settle(data.ref, new Error(data.message)); if (data.ref == null) flash(data.message); break;
      }
    };
    socket.onclose = closed;
  }

  function closed(event) {
    for (const { reject } of pending.values()) reject(new Error("The connection dropped; try again."));
    pending.clear();
    presence.clear();
    renderPresence();
    if (closedForGood || event.code === 4403) {
      setConn("closed", "Disconnected: you no longer have access to this project.");
      return;
    }
    const delay = Math.min(10000, 500 * 2 ** retry++) * (0.75 + Math.random() / 2);
    setConn("reconnecting", "Reconnecting…");
    reconnectTimer = setTimeout(connect, delay);
  }

  // Give up on a socket that cannot be trusted any more: a dead or offline socket may take
  // minutes to report its close, so the page says so now and reconnects.
  function drop(dead) {
    dead.onclose = null;
    dead.close();
    if (dead === socket && !closedForGood) closed({ code: 1006 });
  }

  // The browser knows it went offline: no need to wait for the socket to notice.
  window.addEventListener("offline", () => {
    if (socket && socket.readyState !== WebSocket.CLOSED) drop(socket);
  });

  // Back online: reconnect now instead of waiting out the backoff.
  window.addEventListener("online", () => {
    const gone = !socket || socket.readyState === WebSocket.CLOSING || socket.readyState === WebSocket.CLOSED;
    if (reconnectTimer && gone) {
      clearTimeout(reconnectTimer);
      reconnectTimer = null;
      connect();
    }
  });

  // A socket that died without closing (a sleeping laptop, a dropped proxy) is found
  // by a ping that gets no answer, and replaced.
  setInterval(async () => {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    const probe = socket;
    const timeout = setTimeout(() => drop(probe), 10000);
    try { await request({ type: "ping" }); } catch { /* onclose handles it */ }
    clearTimeout(timeout);
  }, 25000);

  function settle(ref, error, data) {
    const waiter = pending.get(ref);
    if (!waiter) return;
    pending.delete(ref);
    if (error) waiter.reject(error); else waiter.resolve(data);
  }

  // The mixing part (suggestions, previews, mix settings) lives in mixing.js.
  const mixing = window.StudioMixing({ state, el, post, flash, request, can, projectId, formatTime, $ });
  Object.assign(handlers, mixing.handlers);
  // Mix versions (render, listen, compare) live in versions.js.
  const versions = window.StudioVersions({ state, el, post, flash, can, projectId, formatTime, $, request });
  Object.assign(handlers, versions.handlers);
  const notices = { "analysis.progress": progressNotice, ...versions.notices };
  // Share links and client feedback live in shares.js; a new version changes what can be shared.
  const shares = window.StudioShares({ state, el, post, flash, can, projectId, formatTime, $ });
  Object.assign(handlers, shares.handlers);
  // Arrangement ideas and the song's form live in ideas.js.
  const arranging = window.StudioIdeas({ state, el, post, flash, request, can, projectId, formatTime, $ });
  Object.assign(handlers, arranging.handlers);
  Object.assign(notices, arranging.notices);
  for (const type of Object.keys(versions.handlers)) {
    const handler = handlers[type];
    handlers[type] = (payload) => { handler(payload); shares.versionsChanged(); };
  }

  applyRole();
  renderMix();
  renderStems();
  renderMembers();
  renderComments();
  renderActivity();
  connect();
})();
