// The room's mixing part: the engine's suggestions (each labelled as AI, with its measured
// effect, a loudness-matched preview, a decision and a thread), the project's mix settings
// (edit and undo) and the masking map. room.js calls StudioMixing(room) with its helpers and
// merges the event handlers this returns.
(() => {
  "use strict";

  const KIND_NAMES = {
    masking: "Masking", balance: "Balance", tonal: "Tone", stereo: "Stereo",
    dynamics: "Dynamics", loudness: "Loudness", cleanup: "Cleanup",
  };

  window.StudioMixing = (room) => {
    const { state, el, post, flash, request, can, projectId, formatTime, $ } = room;
    state.suggestions = state.suggestions || [];
    const previewAudio = new Map(); // suggestion id -> {before, after, showing}
    const threads = window.StudioThreads(room, { field: "suggestion_id", prompt: "What do you think of this move?" });
    const amounts = new Map(); // suggestion id -> the amount someone set on the slider

    const url = (id, action) => `/projects/${projectId}/suggestions/${id}/${action}/`;
    const stemName = (id) => (state.stems.find((s) => s.id === Number(id)) || { name: `stem ${id}` }).name;
    const number = (value, digits = 1) => (value === null || value === undefined ? "—" : Number(value).toFixed(digits));

    // --- One suggestion ----------------------------------------------------------------

    function moveWords(op) {
      const on = op.stem ? `${stemName(op.stem)}: ` : "Mix bus: ";
      switch (op.op) {
        case "eq": return `${on}EQ ${op.gain_db > 0 ? "+" : ""}${op.gain_db} dB at ${op.freq_hz >= 1000 ? `${(op.freq_hz / 1000).toFixed(1)} kHz` : `${Math.round(op.freq_hz)} Hz`}, Q ${op.q}`;
        case "gain": return `${on}gain ${op.gain_db > 0 ? "+" : ""}${op.gain_db} dB`;
        case "highpass": return `${on}high-pass at ${Math.round(op.freq_hz)} Hz (12 dB/oct)`;
        case "mono_below": return `${on}mono below ${Math.round(op.freq_hz)} Hz`;
        case "width": return `${on}stereo width ×${op.factor}`;
        case "compressor": return `${on}compressor ${op.ratio}:1 above ${op.threshold_db} dBFS, attack ${op.attack_ms} ms, release ${op.release_ms} ms, make-up ${op.makeup_db} dB`;
        case "gate": return `${on}gate below ${op.threshold_db} dBFS, ratio ${op.ratio}:1`;
        case "bus": return `${on}gain ${op.gain_db > 0 ? "+" : ""}${op.gain_db} dB into a true-peak limiter at ${op.ceiling_dbtp} dBTP`;
        case "advice": return `${on}re-record at ${op.times_s.slice(0, 8).map(([a]) => `${Math.floor(a / 60)}:${String(Math.floor(a % 60)).padStart(2, "0")}`).join(", ")}`;
        default: return op.op;
      }
    }

    function measureLine(measure) {
      const after = measure.after === null ? "needs a person (no processing can do it)" : `${number(measure.after)} ${measure.unit}`;
      return el("p", { class: "measure" },
        el("span", { class: "muted" }, `${measure.label}: `),
        el("strong", { class: "before" }, `${number(measure.before)} ${measure.unit}`), " → ",
        el("strong", { class: "after" }, after),
        el("span", { class: "muted" }, measure.after === null ? "" : " (measured on the engine's render)"));
    }

    function suggestionCard(s) {
      const card = el("article", { class: `suggestion status-${s.status}`, "data-suggestion": s.id, "data-status": s.status, "data-code": s.code });
      const head = el("div", { class: "suggestion-head" },
        el("span", { class: "badge ai", title: "Proposed by the studio's audio engine, not by a person" }, "AI suggestion"),
        el("span", { class: "chip" }, KIND_NAMES[s.kind] || s.kind),
        el("span", { class: "muted" }, `confidence ${Math.round(100 * s.confidence)}%`),
        statusLine(s));
      card.append(head, el("h3", {}, s.title), measureLine(s.measure), el("p", { class: "reason" }, s.reason),
        el("ul", { class: "move" }, ...s.move.map((op) => el("li", {}, moveWords(op)))));
      if (s.status === "proposed") card.append(controls(s));
      card.append(threads.thread(s));
      return card;
    }

    function statusLine(s) {
      if (s.status === "proposed") return el("span", { class: "status" }, "open");
      if (s.status === "superseded") return el("span", { class: "status muted" }, "superseded: the stems changed");
      const who = s.decided_by || "someone";
      const when = s.decided_at ? ` · ${formatTime(s.decided_at)}` : "";
      const amount = s.status === "accepted" && s.amount !== 100 ? ` at ${s.amount}%` : "";
      return el("span", { class: `status decided-${s.status}` }, `${s.status} by ${who}${amount}${when}`);
    }

    function controls(s) {
      const box = el("div", { class: "suggestion-controls" });
      const chosen = amounts.has(s.id) ? amounts.get(s.id) : s.amount;
      const slider = el("input", { type: "range", min: 0, max: 100, step: 5, value: chosen, "aria-label": `Amount of “${s.title}”`, class: "amount" });
      const shown = el("output", {}, `${chosen}%`);
      slider.addEventListener("input", () => { shown.textContent = `${slider.value}%`; amounts.set(s.id, Number(slider.value)); });
      const amount = () => Number(slider.value);
      if (s.preview.possible && can("commenter")) {
        box.append(el("label", { class: "inline" }, "Amount ", slider, " ", shown), previewBox(s, amount));
      } else if (can("editor")) {
        box.append(el("label", { class: "inline" }, "Amount ", slider, " ", shown));
      }
      if (can("editor")) {
        box.append(el("div", { class: "decide" },
          el("button", { type: "button", class: "primary", onclick: () => decide(s, "accept", amount()) }, "Accept"),
          el("button", { type: "button", onclick: () => decide(s, "reject", amount()) }, "Reject")));
      } else if (can("commenter")) {
        box.append(el("p", { class: "muted" }, "Editors decide; you can listen and discuss."));
      }
      return box;
    }

    async function decide(s, decision, amount) {
      try { await post(url(s.id, "decide"), { decision, amount }); } catch (error) { flash(error.message); }
    }

    // --- Preview: the original and the move, matched in loudness, switched in place --------

    function previewBox(s, amount) {
      const box = el("div", { class: "preview", "data-preview": s.id });
      const p = s.preview;
      const askButton = el("button", { type: "button", onclick: async () => {
        try { await post(url(s.id, "preview"), { amount: amount() }); } catch (error) { flash(error.message); }
      } }, p.status === "done" ? "Render again at this amount" : "Preview");
      if (p.status === "queued" || p.status === "running") {
        box.append(el("span", { class: "muted rendering" }, `Rendering the preview at ${p.amount}%…`));
      } else if (p.status === "failed") {
        box.append(el("span", { class: "error" }, `The preview failed: ${p.error}`), askButton);
      } else if (p.status === "done") {
        box.append(player(s), askButton);
      } else {
        box.append(askButton);
      }
      return box;
    }

    function player(s) {
      const stamp = encodeURIComponent(s.preview.version);
      let audio = previewAudio.get(s.id);
      if (!audio || audio.stamp !== stamp) {
        if (audio) { audio.before.pause(); audio.after.pause(); }
        audio = {
          stamp,
          before: window.studioAudio.keepFresh(new Audio(`${url(s.id, "preview")}before/?v=${stamp}`)),
          after: window.studioAudio.keepFresh(new Audio(`${url(s.id, "preview")}after/?v=${stamp}`)),
          showing: "after",
        };
        audio.before.preload = audio.after.preload = "auto";
        audio.before.muted = true;
        previewAudio.set(s.id, audio);
      }
      const side = el("button", { type: "button", class: "ab", "aria-pressed": audio.showing === "after" ? "true" : "false" });
      const label = () => { side.textContent = audio.showing === "after" ? `Hearing: with the move (${s.preview.amount}%)` : "Hearing: original"; };
      label();
      side.addEventListener("click", () => {
        audio.showing = audio.showing === "after" ? "before" : "after";
        const [on, off] = audio.showing === "after" ? [audio.after, audio.before] : [audio.before, audio.after];
        on.currentTime = off.currentTime; // the same place in the music
        on.muted = false; off.muted = true;
        side.setAttribute("aria-pressed", audio.showing === "after" ? "true" : "false");
        label();
      });
      const play = el("button", { type: "button", class: "play" }, audio.after.paused ? "Play" : "Pause");
      play.addEventListener("click", async () => {
        if (audio.after.paused) {
          audio.after.muted = audio.showing !== "after";
          audio.before.muted = audio.showing !== "before";
          audio.before.currentTime = audio.after.currentTime;
          try {
            await Promise.all([audio.after.play(), audio.before.play()]);
            play.textContent = "Pause";
          } catch (error) { flash(`Cannot play the preview: ${error.message}`); }
        } else {
          audio.after.pause(); audio.before.pause();
          play.textContent = "Play";
        }
      });
      audio.after.onended = () => { play.textContent = "Play"; audio.before.pause(); };
      return el("div", { class: "player" }, play, side,
        el("span", { class: "muted" }, "Both versions play at the same loudness, so you judge the change, not the volume."));
    }

    // --- The list -----------------------------------------------------------------------

    const listOf = (s) => (s.status === "proposed" ? "suggestions-open" : s.status === "superseded" ? "suggestions-superseded" : "suggestions-decided");
    const openOrder = (a, b) => b.confidence - a.confidence || a.id - b.id;

    function renderCounts() {
      const count = (status) => state.suggestions.filter((s) => status.includes(s.status)).length;
      const open = count(["proposed"]), decided = count(["accepted", "rejected"]), superseded = count(["superseded"]);
      $("suggestions-count").textContent = open ? `${open} open` : "";
      $("suggestions-empty").hidden = open > 0;
      $("decided-box").hidden = !decided;
      $("superseded-box").hidden = !superseded;
      $("decided-count").textContent = decided;
      $("superseded-count").textContent = superseded;
    }

    function renderSuggestions() {
      for (const id of ["suggestions-open", "suggestions-decided", "suggestions-superseded"]) {
        const items = state.suggestions.filter((s) => listOf(s) === id);
        if (id === "suggestions-open") items.sort(openOrder);
        keepFocus(() => $(id).replaceChildren(...items.map(suggestionCard)));
      }
      renderCounts();
    }

    // Put one card in place (its list may have changed), keeping the caret where it was.
    function renderOne(s) {
      keepFocus(() => {
        const old = document.querySelector(`.suggestion[data-suggestion="${s.id}"]`);
        const card = suggestionCard(s);
        const list = $(listOf(s));
        if (old && old.parentElement === list) { old.replaceWith(card); return; }
        if (old) old.remove();
        const siblings = state.suggestions.filter((x) => listOf(x) === listOf(s) && x.id !== s.id);
        if (listOf(s) === "suggestions-open") siblings.sort(openOrder);
        const next = siblings.find((x) => (listOf(s) === "suggestions-open" ? openOrder(s, x) < 0 : x.id > s.id));
        const before = next && list.querySelector(`.suggestion[data-suggestion="${next.id}"]`);
        list.insertBefore(card, before || null);
      });
      renderCounts();
    }

    const keepFocus = window.StudioThreads.keepFocus;

    function suggestionChanged(p) {
      const old = state.suggestions.find((s) => s.id === p.suggestion.id);
      const next = { ...p.suggestion, comments: old ? old.comments : [] };
      state.suggestions = state.suggestions.filter((s) => s.id !== next.id);
      state.suggestions.push(next);
      renderOne(next);
    }

    function commentOnSuggestion(comment) {
      const s = threads.add(state.suggestions, comment);
      if (s) renderOne(s);
    }

    // --- Mix settings -------------------------------------------------------------------

    function renderMixSettings() {
      const mix = state.mix;
      if (!mix) return;
      $("mix-revision").textContent = mix.revision ? `revision ${mix.revision}` : "untouched";
      $("mix-last").textContent = mix.last_change || "";
      $("mix-undo").hidden = !can("editor") || !mix.can_undo;
      const rows = state.stems.map((stem) => stemSettingsRow(stem, mix.stems[String(stem.id)] || mix.default_stem));
      $("mix-stems").replaceChildren(...rows);
      $("mix-bus").replaceChildren(busForm(mix.bus));
    }

    function sourceTag(source) {
      if (source && source.startsWith("suggestion:")) return el("span", { class: "badge ai small" }, `AI #${source.slice(11)}`);
      return el("span", { class: "badge hand small" }, "by hand");
    }

    function stemSettingsRow(stem, settings) {
      const editable = can("editor");
      const input = (name, value, attrs) => el("input", { type: "number", name, value: value === null ? "" : value, step: "any", disabled: !editable, "aria-label": `${name} of ${stem.name}`, ...attrs });
      const gain = input("gain_db", settings.gain_db, { min: -60, max: 24 });
      const pan = input("pan", settings.pan, { min: -1, max: 1, step: 0.05 });
      const width = input("width", settings.width, { min: 0, max: 2, step: 0.05 });
      const hp = input("highpass_hz", settings.highpass_hz, { min: 20, max: 1000, placeholder: "off" });
      const mute = el("input", { type: "checkbox", checked: settings.mute, disabled: !editable, "aria-label": `Mute ${stem.name}` });
      let bands = [...settings.eq];
      const bandList = el("ul", { class: "bands eq-bands" });
      const drawBands = () => bandList.replaceChildren(...bands.map((b, i) => el("li", {},
        `${b.gain_db > 0 ? "+" : ""}${Number(b.gain_db).toFixed(1)} dB @ ${b.freq_hz >= 1000 ? `${(b.freq_hz / 1000).toFixed(1)} kHz` : `${Math.round(b.freq_hz)} Hz`} Q ${b.q} `,
        sourceTag(b.source),
        editable ? el("button", { type: "button", class: "small link", "aria-label": "Remove band", onclick: () => { bands = bands.filter((_, j) => j !== i); drawBands(); } }, "×") : null)));
      drawBands();
      // Compressor, gate and mono-below can be edited through the API; here they can be
      // taken out (×) or kept.
      const kept = { compressor: settings.compressor, gate: settings.gate, mono_below_hz: settings.mono_below_hz };
      const dynamicsList = el("ul", { class: "bands dynamics" });
      const describe = {
        compressor: (c) => `comp ${c.ratio.toFixed(1)}:1 @ ${c.threshold_db} dBFS, +${c.makeup_db} dB`,
        gate: (g) => `gate @ ${g.threshold_db} dBFS`,
        mono_below_hz: (f) => `mono < ${Math.round(f)} Hz`,
      };
      const drawDynamics = () => {
        const items = Object.entries(kept).filter(([, v]) => v !== null && v !== undefined);
        dynamicsList.replaceChildren(...(items.length ? items.map(([key, value]) => el("li", {}, describe[key](value), " ",
          editable ? el("button", { type: "button", class: "small link", "aria-label": `Remove ${key} of ${stem.name}`, onclick: () => { kept[key] = null; drawDynamics(); } }, "×") : null))
          : [el("li", { class: "muted" }, "—")]));
      };
      drawDynamics();
      const save = el("button", { type: "button", class: "small", hidden: !editable, "aria-label": `Apply the settings of ${stem.name}`, onclick: async () => {
        const value = (field) => (field.value === "" ? null : Number(field.value));
        const body = { ...settings, ...kept, gain_db: value(gain) ?? 0, pan: value(pan) ?? 0, width: value(width) ?? 1, highpass_hz: value(hp), mute: mute.checked, eq: bands };
        try { await post(`/projects/${projectId}/mix/stems/${stem.id}/`, body); } catch (error) { flash(error.message); }
      } }, "Apply");
      return el("tr", { "data-mix-stem": stem.id },
        el("th", { scope: "row" }, stem.name), el("td", {}, gain), el("td", {}, pan), el("td", {}, width), el("td", {}, hp),
        el("td", {}, mute), el("td", {}, bandList), el("td", {}, dynamicsList), el("td", {}, save));
    }

    function busForm(bus) {
      const editable = can("editor");
      const target = el("select", { disabled: !editable, "aria-label": "Loudness target" },
        ...[["", "no target"], ["streaming", "Streaming: -14 LUFS, -1 dBTP"], ["club", "Club: -8 LUFS, -0.3 dBTP"], ["broadcast", "Broadcast: -23 LUFS, -1 dBTP"]]
          .map(([v, t]) => el("option", { value: v, selected: (bus.target || "") === v }, t)));
      const gain = el("input", { type: "number", step: "any", value: bus.gain_db, disabled: !editable, "aria-label": "Bus gain (dB)" });
      const ceiling = el("input", { type: "number", step: "any", value: bus.ceiling_dbtp === null ? "" : bus.ceiling_dbtp, placeholder: "no limiter", disabled: !editable, "aria-label": "Limiter ceiling (dBTP)" });
      return el("div", { class: "row-form bus-form" },
        el("label", { class: "inline" }, "Target ", target),
        el("label", { class: "inline" }, "Gain dB ", gain),
        el("label", { class: "inline" }, "Limiter ceiling dBTP ", ceiling),
        editable ? el("button", { type: "button", class: "small", onclick: async () => {
          const body = { ...bus, target: target.value || null, gain_db: Number(gain.value || 0), ceiling_dbtp: ceiling.value === "" ? null : Number(ceiling.value) };
          try { await post(`/projects/${projectId}/mix/bus/`, body); } catch (error) { flash(error.message); }
        } }, "Apply") : null);
    }

    $("mix-undo").addEventListener("click", async () => {
      try { await post(`/projects/${projectId}/mix/undo/`, {}); } catch (error) { flash(error.message); }
    });

    // --- Masking map --------------------------------------------------------------------

    async function loadMasking() {
      const mixAnalysis = state.analyses.find((a) => a.target === "mix" && a.status === "done");
      if (!mixAnalysis) { $("masking-box").hidden = true; return; }
      const response = await fetch(`/projects/${projectId}/analyses/${mixAnalysis.id}/`, { headers: { Accept: "application/json" } });
      const body = await response.json().catch(() => ({}));
      if (!response.ok || !body.masking || !body.masking.stems.length) { $("masking-box").hidden = true; return; }
      $("masking-box").hidden = false;
      requestAnimationFrame(() => StudioPlots.masking($("plot-masking"), body.masking));
    }

    renderSuggestions();
    renderMixSettings();
    loadMasking();

    return {
      handlers: {
        "suggestion.created": suggestionChanged,
        "suggestion.updated": suggestionChanged,
        "suggestion.superseded": suggestionChanged,
        "suggestion.decided": suggestionChanged,
        "suggestion.preview": suggestionChanged,
        "mix.changed": (p) => { state.mix = p.mix; renderMixSettings(); },
        "mix.masking": () => loadMasking(),
      },
      commentOnSuggestion,
      stemsChanged: () => { renderMixSettings(); renderSuggestions(); },
    };
  };
})();
