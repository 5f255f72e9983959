// The room's arrangement part: the song's form as the engine hears it (sections with
// labels, energy, chords on the bar grid), and arrangement ideas people ask the engine for.
// Each idea is labelled AI-generated, says why it fits, plays in time with the song (the
// idea over the mix and the idea alone, on one timeline, switched in place), exports as
// MIDI, gets variations, a thread and an editor's keep or discard. room.js calls
// StudioIdeas(room) and merges the handlers and notices this returns.
(() => {
  "use strict";

  const LABEL_COLOURS = ["#6366f1", "#f59e0b", "#10b981", "#ef4444", "#0ea5e9", "#a855f7", "#84cc16", "#f43f5e"];
  const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
  const OPTION_WORDS = { bars: "Bars", colour: "Colour", style: "Style", feel: "Feel", fill: "Fill at the end", drum_style: "Kick from", density: "Density", low: "Lowest note", high: "Highest note" };

  window.StudioIdeas = (room) => {
    const { state, el, post, flash, can, projectId, formatTime, $ } = room;
    state.ideas = state.ideas || [];
    const threads = window.StudioThreads(room, { field: "idea_id", prompt: "What do you think of this idea?" });
    const keepFocus = window.StudioThreads.keepFocus;
    const players = new Map(); // idea id -> {stamp, with_song, alone, showing}
    let form = null; // the mix analysis report's structure and chords, when there is one

    const url = (id, action) => `/projects/${projectId}/ideas/${id}/${action}/`;

    // --- The song's form ----------------------------------------------------------------

    async function loadForm() {
      const mix = state.analyses.find((a) => a.target === "mix" && a.status === "done");
      if (!mix) { form = null; renderForm(); return; }
      try {
        const response = await fetch(`/projects/${projectId}/analyses/${mix.id}/`, { headers: { Accept: "application/json" } });
        if (!response.ok) return;
        const data = await response.json();
        const report = data.report;
        form = report && report.structure ? { structure: report.structure, chords: report.chords, rhythm: report.rhythm, tonality: report.tonality, duration: report.duration_s } : null;
      } catch (error) { return; }
      renderForm();
    }

    function labelColour(label) {
      const letter = (label || "?").replace(/'+$/, "");
      return LABEL_COLOURS[(letter.charCodeAt(0) - 65 + LABEL_COLOURS.length * 8) % LABEL_COLOURS.length];
    }

    function drawForm(canvas) {
      const ratio = window.devicePixelRatio || 1;
      const width = canvas.clientWidth || 600, height = canvas.clientHeight || 150;
      canvas.width = Math.round(width * ratio); canvas.height = Math.round(height * ratio);
      const g = canvas.getContext("2d");
      g.setTransform(ratio, 0, 0, ratio, 0, 0);
      g.clearRect(0, 0, width, height);
      g.font = "11px system-ui, sans-serif";
      const { structure, chords, duration } = form;
      const x = (t) => 8 + (width - 16) * (t / Math.max(duration, 1e-6));
      // Sections: a coloured band each, the letter in it; primes mark varied repeats.
      for (const s of structure.sections) {
        g.fillStyle = labelColour(s.label); g.globalAlpha = 0.25;
        g.fillRect(x(s.start_s), 4, x(s.end_s) - x(s.start_s) - 1, 64);
        g.globalAlpha = 1; g.fillStyle = "#1c1e2b";
        g.fillText(`${s.label} · ${s.bars} bars`, x(s.start_s) + 4, 16);
      }
      // Energy over time, 0 (bottom of the band) to 1 (top).
      const curve = structure.energy_curve || { times_s: [], values: [] };
      g.strokeStyle = "#c2410c"; g.lineWidth = 1.5; g.beginPath();
      curve.times_s.forEach((t, i) => { const y = 66 - 44 * curve.values[i]; if (i) g.lineTo(x(t), y); else g.moveTo(x(t), y); });
      g.stroke();
      // Unchanged repeats: a bracket under the bands.
      g.strokeStyle = "#62667a"; g.lineWidth = 1;
      for (const r of structure.repeats || []) {
        if (!r.unchanged) continue;
        g.beginPath(); g.moveTo(x(r.start_s), 72); g.lineTo(x(r.start_s), 76); g.lineTo(x(r.end_s), 76); g.lineTo(x(r.end_s), 72); g.stroke();
      }
      // Chords on their beats.
      g.fillStyle = "#3b3f9e";
      let lastRight = -Infinity;
      for (const c of (chords && chords.chords) || []) {
        if (c.label === "N") continue;
        const left = x(c.start_s);
        g.fillRect(left, 84, Math.max(1, x(c.end_s) - left - 1), 3);
        if (left > lastRight + 4) { g.fillText(c.label, left, 100); lastRight = left + g.measureText(c.label).width; }
      }
      // Time ruler.
      g.fillStyle = "#62667a";
      const step = [5, 10, 15, 30, 60, 120].find((s) => duration / s <= 10) || 300;
      for (let t = 0; t <= duration; t += step) g.fillText(clock(t), x(t), height - 4);
    }

    function renderForm() {
      const has = Boolean(form);
      $("song-form").hidden = !has;
      $("ideas-waiting").hidden = has;
      $("idea-form").hidden = !has || !can("commenter");
      if (!has) return;
      const key = form.tonality && form.tonality.key ? form.tonality.key : "no clear key";
      const tempo = form.rhythm && form.rhythm.tempo_bpm ? `${Math.round(form.rhythm.tempo_bpm)} BPM` : "no clear tempo";
      const sections = form.structure.sections;
      $("song-form-words").textContent = `${key}, ${tempo}; ${sections.length} section${sections.length === 1 ? "" : "s"}: ${sections.map((s) => s.label).join(" ")}.`;
      const repeats = (form.structure.repeats || []).filter((r) => r.unchanged);
      $("song-form-repeats").textContent = repeats.length ? `Repeats unchanged: ${repeats.map((r) => `${r.of_label} ×${r.times} from ${clock(r.start_s)}`).join("; ")}.` : "";
      drawForm($("plot-song-form"));
      const select = $("idea-section");
      const chosen = select.value;
      select.replaceChildren(
        ...sections.map((s, i) => el("option", { value: String(i) }, `${i + 1}. ${s.label} (${clock(s.start_s)}–${clock(s.end_s)}, ${s.bars} bars)`)),
        el("option", { value: "" }, "A new section after the end"));
      if (chosen !== "" && Number(chosen) < sections.length) select.value = chosen;
    }

    // --- Asking -------------------------------------------------------------------------

    const kindOf = (kind) => state.idea_kinds.find((k) => k.kind === kind);

    function renderOptions() {
      const kind = kindOf($("idea-kind").value);
      const fields = Object.entries(kind ? kind.options : {}).map(([name, spec]) => {
        let input;
        if (spec.choices && spec.choices.every((c) => typeof c === "boolean")) {
          input = el("input", { type: "checkbox", name, checked: spec.default === true });
        } else if (spec.choices) {
          input = el("select", { name }, ...spec.choices.map((c) => el("option", { value: String(c), selected: c === spec.default }, String(c))));
          if (name === "drum_style") input.prepend(el("option", { value: "", selected: true }, "from the section's energy"));
        } else {
          input = el("input", { type: "number", name, value: spec.default ?? "", min: 36, max: 96, step: 1 });
        }
        input.dataset.option = name;
        return el("label", { class: "inline" }, `${OPTION_WORDS[name] || name} `, input);
      });
      $("idea-options").replaceChildren(...fields);
    }

    function chosenOptions() {
      const kind = kindOf($("idea-kind").value);
      const options = {};
      for (const input of $("idea-options").querySelectorAll("[data-option]")) {
        const spec = kind.options[input.dataset.option];
        if (input.type === "checkbox") options[input.dataset.option] = input.checked;
        else if (!spec.choices) options[input.dataset.option] = Number(input.value);
        else if (input.value === "") continue;
        else options[input.dataset.option] = typeof spec.choices[0] === "number" ? Number(input.value) : input.value;
      }
      return options;
    }

    async function ask(event) {
      event.preventDefault();
      $("idea-error").hidden = true;
      const section = $("idea-section").value;
      const seed = $("idea-seed").value;
      try {
        await post(`/projects/${projectId}/ideas/`, {
          kind: $("idea-kind").value,
          section: section === "" ? null : Number(section),
          options: chosenOptions(),
          seed: seed === "" ? null : Number(seed),
        });
      } catch (error) { $("idea-error").textContent = error.message; $("idea-error").hidden = false; }
    }

    // --- One idea -----------------------------------------------------------------------

    function statusLine(idea) {
      if (idea.status === "queued") return el("span", { class: "status muted" }, idea.attempts > 0 ? `queued again (attempt ${idea.attempts + 1}): its worker stopped` : "queued");
      if (idea.status === "running") return el("span", { class: "status" }, el("progress", { max: 100, value: Math.round(100 * idea.progress), "data-idea-progress": idea.id }), " writing…");
      if (idea.status === "failed") return el("span", { class: "status error" }, "failed");
      if (idea.decision === "open") return el("span", { class: "status" }, "open");
      const when = idea.decided_at ? ` · ${formatTime(idea.decided_at)}` : "";
      return el("span", { class: `status decided-${idea.decision}` }, `${idea.decision} by ${idea.decided_by || "someone"}${when}`);
    }

    // An idea fits the mix it was written from; once the stems change, the mix's analysis
    // is of other audio (its input_key changes as soon as it is queued again).
    function isStale(idea) {
      const mix = state.analyses.find((a) => a.target === "mix");
      return idea.status === "done" && Boolean(idea.based_on && mix && mix.input_key) && idea.based_on !== mix.input_key;
    }

    function ideaCard(idea) {
      const stale = isStale(idea);
      const card = el("article", { class: `idea decision-${idea.decision}`, "data-idea": idea.id, "data-status": idea.status, "data-decision": idea.decision, "data-kind": idea.kind, "data-stale": String(stale) });
      card.append(el("div", { class: "suggestion-head" },
        el("span", { class: "badge ai", title: "Written by the studio's engine, not by a person" }, "AI-generated idea"),
        el("span", { class: "chip" }, idea.kind_name),
        stale ? el("span", { class: "badge stale", title: "The stems have changed since this idea was written" }, "written for an earlier mix") : false,
        el("span", { class: "muted" }, `for ${idea.section === null ? "a new section" : `section ${idea.section + 1} (${idea.section_label})`} · seed ${idea.seed} · asked by ${idea.requested_by || "someone"}`),
        statusLine(idea)));
      if (stale) card.append(el("p", { class: "muted stale-note" }, "The stems have changed since the engine wrote this idea: its chords, timing and audition follow the mix as it was. Ask for a variation to fit the mix as it is now."));
      if (idea.status === "failed") card.append(el("p", { class: "error" }, idea.error));
      if (idea.status !== "done") { card.append(threads.thread({ ...idea, title: idea.kind_name })); return card; }
      const content = idea.content || {};
      card.append(el("h3", {}, idea.title), el("p", { class: "reason" }, idea.reasoning));
      if ((content.chords || []).length) {
        card.append(el("p", { class: "chords-line" }, el("span", { class: "muted" }, "Chords: "),
          ...content.chords.map((c) => el("span", { class: `chord source-${c.source}`, title: `${c.numeral} (${c.source})` }, `${c.symbol} `))));
      }
      if ((content.moves || []).length) {
        card.append(el("ol", { class: "moves" }, ...content.moves.map((m) =>
          el("li", {}, el("strong", {}, `bars ${m.start_bar + 1}–${m.end_bar}`), ` (${clock(m.start_s)}–${clock(m.end_s)}): ${m.message}`))));
      }
      const nothingToHear = idea.kind === "moves" && !(content.moves || []).length;
      if (!nothingToHear) card.append(player(idea));
      card.append(actions(idea), threads.thread(idea));
      return card;
    }

    function player(idea) {
      const stamp = encodeURIComponent(idea.audio.version);
      let audio = players.get(idea.id);
      if (!audio || audio.stamp !== stamp) {
        audio = {
          stamp,
          with_song: window.studioAudio.keepFresh(new Audio(`${url(idea.id, "audio")}with_song/?v=${stamp}`)),
          alone: window.studioAudio.keepFresh(new Audio(`${url(idea.id, "audio")}alone/?v=${stamp}`)),
          showing: "with_song",
        };
        audio.with_song.preload = audio.alone.preload = "auto";
        audio.alone.muted = true;
        players.set(idea.id, audio);
      }
      const info = idea.audio.info || {};
      const moves = idea.kind === "moves";
      // A moves idea plays one move (info.move, from 0) with and without it; null: none of
      // its moves is a mute the studio can play, so both files are the passage as it is.
      const heard = moves ? info.move : undefined;
      const silentMoves = moves && heard === null;
      const moveName = typeof heard === "number" ? `move ${heard + 1}` : "the move";
      const words = { with_song: moves ? (silentMoves ? "Hearing: the passage as it is" : `Hearing: with ${moveName}`) : "Hearing: the idea with the song", alone: moves ? "Hearing: as it is now" : "Hearing: the idea alone" };
      const side = el("button", { type: "button", class: "ab", "data-idea-side": idea.id }, words[audio.showing]);
      side.addEventListener("click", () => {
        audio.showing = audio.showing === "with_song" ? "alone" : "with_song";
        const [on, off] = audio.showing === "with_song" ? [audio.with_song, audio.alone] : [audio.alone, audio.with_song];
        on.currentTime = off.currentTime; // the same place in the song
        on.muted = false; off.muted = true;
        side.textContent = words[audio.showing];
      });
      const where = el("span", { class: "clock", "data-idea-clock": idea.id, "data-start": clock(info.start_s || 0) }, clock(info.start_s || 0));
      const play = el("button", { type: "button", class: "play", "data-idea-play": idea.id }, audio.with_song.paused ? "Play" : "Pause");
      audio.with_song.ontimeupdate = () => { where.textContent = clock((info.start_s || 0) + audio.with_song.currentTime); };
      play.addEventListener("click", async () => {
        if (audio.with_song.paused) {
          audio.with_song.muted = audio.showing !== "with_song";
          audio.alone.muted = audio.showing !== "alone";
          audio.alone.currentTime = audio.with_song.currentTime;
          try {
            await Promise.all([audio.with_song.play(), audio.alone.play()]);
            play.textContent = "Pause";
          } catch (error) { flash(`Cannot play the idea: ${error.message}`); }
        } else {
          audio.with_song.pause(); audio.alone.pause();
          play.textContent = "Play";
        }
      });
      audio.with_song.onended = () => { play.textContent = "Play"; audio.alone.pause(); };
      return el("div", { class: "player" }, play, silentMoves ? false : side, where, el("span", { class: "muted" }, leadLine(idea, info, heard, moveName)));
    }

    // What the player plays, in words.
    function leadLine(idea, info, heard, moveName) {
      if (idea.kind !== "moves") return `Two bars of the song lead in; the idea starts at ${clock((info.start_s || 0) + (info.idea_at_s || 0))}.`;
      if (heard === null) return "None of these moves can be played for you (the song has no stems they would take out): this is the passage the first one is about.";
      const played = typeof heard === "number" && (idea.content.moves || [])[heard];
      if (!played) return "";
      if (info.cut_s) return `Plays ${moveName}: the song to ${clock(info.cut_s[0])}, then on from ${clock(info.cut_s[1])}; “as it is now” plays straight through. Both start at the top.`;
      return `Plays ${moveName} (bars ${played.start_bar + 1}–${played.end_bar}) with two bars before it.`;
    }

    function actions(idea) {
      const box = el("div", { class: "decide" });
      if (idea.kind !== "moves") box.append(el("a", { class: "button small", href: url(idea.id, "midi"), download: "" }, "Download MIDI"));
      if (can("commenter")) {
        box.append(el("button", { type: "button", class: "small", onclick: async () => {
          try { await post(url(idea.id, "regenerate"), {}); } catch (error) { flash(error.message); }
        } }, "Variation"));
      }
      if (can("editor") && idea.decision === "open") {
        const decide = (decision) => async () => {
          try { await post(url(idea.id, "decide"), { decision }); } catch (error) { flash(error.message); }
        };
        box.append(el("button", { type: "button", class: "primary", onclick: decide("keep") }, "Keep"),
          el("button", { type: "button", onclick: decide("discard") }, "Discard"));
      }
      return box;
    }

    // --- The list -----------------------------------------------------------------------

    function renderIdeas() {
      const shown = state.ideas.filter((i) => i.decision !== "discarded");
      const discarded = state.ideas.filter((i) => i.decision === "discarded");
      keepFocus(() => {
        $("ideas").replaceChildren(...shown.slice().reverse().map(ideaCard));
        $("ideas-discarded").replaceChildren(...discarded.slice().reverse().map(ideaCard));
      });
      $("ideas-empty").hidden = shown.length > 0;
      $("ideas-discarded-box").hidden = !discarded.length;
      $("ideas-discarded-count").textContent = discarded.length;
    }

    function ideaChanged(p) {
      const old = state.ideas.find((i) => i.id === p.idea.id);
      const next = { ...p.idea, comments: old ? old.comments : [] };
      state.ideas = state.ideas.filter((i) => i.id !== next.id).concat([next]).sort((a, b) => a.id - b.id);
      renderIdeas();
    }

    function commentOnIdea(comment) {
      if (threads.add(state.ideas, comment)) renderIdeas();
    }

    function progressNotice(notice) {
      const idea = state.ideas.find((i) => i.id === notice.id);
      if (idea) idea.progress = notice.progress;
      const bar = document.querySelector(`[data-idea-progress="${notice.id}"]`);
      if (bar) bar.value = Math.round(100 * notice.progress);
    }

    $("idea-kind").replaceChildren(...state.idea_kinds.map((k) => el("option", { value: k.kind }, k.name)));
    $("idea-kind").addEventListener("change", renderOptions);
    $("idea-form").addEventListener("submit", ask);
    $("ideas-originality").textContent = state.originality;
    renderOptions();
    renderIdeas();
    loadForm();
    window.addEventListener("resize", () => { if (form) drawForm($("plot-song-form")); });

    const handlers = {
      "idea.requested": ideaChanged,
      "idea.queued": ideaChanged,
      "idea.started": ideaChanged,
      "idea.done": ideaChanged,
      "idea.failed": ideaChanged,
      "idea.decided": ideaChanged,
    };
    return {
      handlers,
      notices: { "idea.progress": progressNotice },
      commentOnIdea,
      analysesChanged: () => { loadForm(); renderIdeas(); },
    };
  };
})();
