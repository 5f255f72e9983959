// The room's mix versions: ask for a render, watch it progress, listen with the waveform,
// download, read what made it, and compare two versions A/B at the same playhead, matched
// in loudness. room.js calls StudioVersions(room) and merges the handlers this returns.
(() => {
  "use strict";

  window.StudioVersions = (room) => {
    const { state, el, post, flash, can, projectId, formatTime, $, request } = room;
    state.versions = state.versions || [];
    const base = (v) => `/projects/${projectId}/versions/${v.id}`;
    const fixed = (value, digits, unit) => (value === null || value === undefined ? null : `${Number(value).toFixed(digits)} ${unit}`);

    // --- Asking for a version ----------------------------------------------------------

    $("version-form").hidden = !can("editor");
    $("version-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const formats = [...document.querySelectorAll("#version-form input[name=formats]:checked")].map((box) => box.value);
      $("version-error").hidden = true;
      try {
        await post(`/projects/${projectId}/versions/`, { name: $("version-name").value, notes: $("version-notes").value, formats });
        $("version-name").value = "";
        $("version-notes").value = "";
      } catch (error) {
        $("version-error").textContent = error.message;
        $("version-error").hidden = false;
      }
    });

    // --- The list ----------------------------------------------------------------------

    function statusLine(v) {
      const line = el("div", { class: "version-status" });
      if (v.status === "queued") {
        const again = v.attempts > 0 ? ` Its worker stopped: trying again (attempt ${v.attempts + 1}).` : "";
        line.append(el("span", { class: "muted", "data-retry": v.attempts > 0 ? "true" : null }, `Waiting to render…${again}`));
      }
      if (v.status === "running") {
        const percent = Math.round(100 * v.progress);
        line.append(el("progress", { max: 100, value: percent, "aria-label": `Render of ${v.label}` }), el("span", { class: "muted percent" }, `rendering ${percent}%`));
      }
      if (v.status === "failed") {
        line.append(el("span", { class: "error", role: "alert" }, `The render failed: ${v.error}`));
        if (can("editor")) {
          line.append(el("button", { type: "button", class: "small", onclick: async () => {
            try { await post(`${base(v)}/retry/`, {}); } catch (error) { flash(error.message); }
          } }, "Retry"));
        }
      }
      return line;
    }

    function versionCard(v) {
      const card = el("article", { class: "version", "data-version": v.id, "data-status": v.status },
        el("h3", {}, el("span", { class: "version-label" }, v.label), " ", v.name),
        el("p", { class: "meta muted" }, `by ${v.created_by || "someone"} · ${formatTime(v.created_at)}`,
          v.ai_moves ? [" · ", el("span", { class: "badge ai small" }, `${v.ai_moves} AI move${v.ai_moves === 1 ? "" : "s"}`)] : null),
        v.notes ? el("p", { class: "notes" }, v.notes) : null,
        statusLine(v));
      if (v.status === "done") {
        card.append(
          el("div", { class: "chips" }, ...[fixed(v.integrated_lufs, 1, "LUFS"), fixed(v.true_peak_dbtp, 1, "dBTP"),
            v.duration_s ? `${Math.floor(v.duration_s / 60)}:${String(Math.round(v.duration_s % 60)).padStart(2, "0")}` : null]
            .filter(Boolean).map((text) => el("span", { class: "chip" }, text)),
            v.clipped_samples ? el("span", { class: "chip warn" }, `${v.clipped_samples} clipped samples`) : null),
          el("canvas", { class: "plot version-wave", "data-wave": v.id, role: "img", "aria-label": `Waveform of ${v.label}` }),
          el("audio", { controls: true, preload: "none", src: `${base(v)}/listen/`, "aria-label": `Listen to ${v.label}` }),
          el("p", { class: "downloads" }, "Download ", ...v.available.map((fmt) => el("a", { class: "button small", href: `${base(v)}/download/${fmt}/` }, fmt.toUpperCase())),
            " · ", el("a", { href: `${base(v)}/manifest/` }, "What made this mix"),
            " · ", el("button", { type: "button", class: "small", onclick: () => startTogether(v) }, "Listen together")));
        drawWave(v);
      }
      return card;
    }

    const waves = new Map(); // version id -> peaks
    async function drawWave(v) {
      if (!waves.has(v.id)) {
        const response = await fetch(`${base(v)}/`, { headers: { Accept: "application/json" } });
        const body = await response.json().catch(() => ({}));
        if (!response.ok || !body.peaks) return;
        waves.set(v.id, body.peaks);
      }
      requestAnimationFrame(() => {
        const canvas = document.querySelector(`canvas[data-wave="${v.id}"]`);
        if (canvas) StudioPlots.waveform(canvas, waves.get(v.id), v.duration_s);
      });
    }

    function render() {
      const sorted = [...state.versions].sort((a, b) => b.number - a.number);
      $("versions").replaceChildren(...sorted.map(versionCard));
      $("versions-empty").hidden = state.versions.length > 0;
      renderCompare();
    }

    function changed(p) {
      state.versions = state.versions.filter((v) => v.id !== p.version.id).concat([p.version]);
      const old = document.querySelector(`.version[data-version="${p.version.id}"]`);
      if (old) { old.replaceWith(versionCard(p.version)); renderCompare(); } else render();
    }

    function progress(notice) {
      const v = state.versions.find((x) => x.id === notice.id);
      if (!v || v.status !== "running") return;
      v.progress = notice.progress;
      const line = document.querySelector(`.version[data-version="${v.id}"] .version-status`);
      if (!line) return;
      const bar = line.querySelector("progress"), text = line.querySelector(".percent");
      if (bar) bar.value = Math.round(100 * notice.progress);
      if (text) text.textContent = `rendering ${Math.round(100 * notice.progress)}%`;
    }

    // --- A/B: two versions, one playhead, the same loudness --------------------------------

    const compare = { a: null, b: null, showing: "a" };

    function renderCompare() {
      const done = state.versions.filter((v) => v.status === "done").sort((a, b) => a.number - b.number);
      $("compare-box").hidden = done.length < 2;
      if (done.length < 2) return;
      for (const side of ["a", "b"]) {
        const select = $(`compare-${side}`);
        const chosen = select.value || String(side === "a" ? done[done.length - 2].id : done[done.length - 1].id);
        select.replaceChildren(...done.map((v) => el("option", { value: v.id, selected: String(v.id) === chosen }, `${v.label} ${v.name}`)));
      }
    }

    function loadCompare() {
      for (const player of [compare.a, compare.b]) if (player) player.audio.pause();
      const pick = (side) => state.versions.find((v) => String(v.id) === $(`compare-${side}`).value);
      const [a, b] = [pick("a"), pick("b")];
      if (!a || !b) return false;
      // The louder one is turned down to the quieter's integrated loudness.
      const quieter = Math.min(a.integrated_lufs ?? 0, b.integrated_lufs ?? 0);
      const make = (v) => {
        const audio = window.studioAudio.keepFresh(new Audio(`${base(v)}/listen/`));
        audio.preload = "auto";
        audio.volume = Math.min(1, 10 ** ((quieter - (v.integrated_lufs ?? quieter)) / 20));
        return { version: v, audio };
      };
      compare.a = make(a);
      compare.b = make(b);
      compare.showing = "a";
      compare.b.audio.muted = true;
      $("compare-now").textContent = `Hearing A: ${a.label} (${b.label} is B)`;
      $("compare-gain").textContent = `Matched in loudness: ${a.label} ${(20 * Math.log10(compare.a.audio.volume)).toFixed(1)} dB, ${b.label} ${(20 * Math.log10(compare.b.audio.volume)).toFixed(1)} dB.`;
      return true;
    }

    $("compare-play").addEventListener("click", async () => {
      if (!compare.a || compare.a.version.id !== Number($("compare-a").value) || compare.b.version.id !== Number($("compare-b").value)) {
        if (!loadCompare()) return;
      }
      const { a, b } = compare;
      if (a.audio.paused) {
        b.audio.currentTime = a.audio.currentTime;
        try {
          await Promise.all([a.audio.play(), b.audio.play()]);
          $("compare-play").textContent = "Pause";
        } catch (error) { flash(`Cannot play: ${error.message}`); }
      } else {
        a.audio.pause(); b.audio.pause();
        $("compare-play").textContent = "Play";
      }
    });

    $("compare-switch").addEventListener("click", () => {
      if (!compare.a) return;
      compare.showing = compare.showing === "a" ? "b" : "a";
      const [on, off] = compare.showing === "a" ? [compare.a, compare.b] : [compare.b, compare.a];
      on.audio.currentTime = off.audio.currentTime; // the same place in the song
      on.audio.muted = false; off.audio.muted = true;
      $("compare-now").textContent = `Hearing ${compare.showing.toUpperCase()}: ${on.version.label}`;
    });

    // --- Listening together: one transport for everyone --------------------------------------

    const together = { session: null, joined: false, offsetMs: 0, markStart: null };
    const audio = window.studioAudio.keepFresh($("together-audio"));
    const clockOf = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;

    async function startTogether(v) {
      together.joined = true; // the click that starts it is the gesture that lets it play
      try { await request({ type: "listen.start", version_id: v.id }); } catch (error) { flash(error.message); }
    }

    function targetPosition(session) {
      if (!session.playing) return session.position_s;
      const since = (Date.now() + together.offsetMs - session.at_ms) / 1000;
      return Math.min(session.position_s + Math.max(0, since), session.duration_s || Infinity);
    }

    function applySession() {
      const session = together.session;
      $("together").hidden = !session;
      $("together").dataset.playing = session && session.playing ? "true" : "false";
      if (!session) { audio.pause(); return; }
      $("together-what").textContent = `${session.version_label} ${session.version_name}`;
      $("together-who").textContent = `started by ${session.started_by || "someone"}${session.moved_by ? `, last moved by ${session.moved_by}` : ""}`;
      $("together-seek").max = String(session.duration_s || 0);
      $("together-join").hidden = together.joined;
      $("together-comment").hidden = !can("commenter");
      $("together-play").hidden = !together.joined;
      $("together-play").textContent = session.playing ? "Pause" : "Play";
      const src = `/projects/${projectId}/versions/${session.version_id}/listen/`;
      if (!audio.src.endsWith(src)) audio.src = src;
      if (!together.joined) return;
      const target = targetPosition(session);
      if (Math.abs(audio.currentTime - target) > 0.15) audio.currentTime = target;
      if (session.playing && audio.paused) audio.play().catch((error) => flash(`Cannot play: ${error.message}`));
      if (!session.playing && !audio.paused) audio.pause();
    }

    async function move(action, position) {
      try { await request({ type: "listen.move", action, position_s: Math.round(position * 1000) / 1000 }); }
      catch (error) { flash(error.message); }
    }

    // Drift: every two seconds a follower checks it is still where the session says.
    setInterval(() => { if (together.session && together.session.playing && together.joined) applySession(); }, 2000);

    $("together-join").addEventListener("click", () => { together.joined = true; applySession(); });
    $("together-play").addEventListener("click", () => {
      if (!together.session) return;
      move(together.session.playing ? "pause" : "play", audio.currentTime);
    });
    $("together-seek").addEventListener("change", () => move("seek", Number($("together-seek").value)));
    $("together-stop").addEventListener("click", async () => {
      try { await request({ type: "listen.stop" }); } catch (error) { flash(error.message); }
    });
    audio.addEventListener("timeupdate", () => {
      $("together-clock").textContent = clockOf(audio.currentTime);
      if (document.activeElement !== $("together-seek")) $("together-seek").value = String(audio.currentTime);
    });
    $("together-mark").addEventListener("click", () => {
      together.markStart = audio.currentTime;
      $("together-mark").textContent = `From ${clockOf(together.markStart)}`;
    });
    $("together-comment").addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!together.session) return;
      const now = audio.currentTime;
      const range = together.markStart !== null && now > together.markStart;
      try {
        await request({
          type: "comment.post",
          body: $("together-body").value,
          version_id: together.session.version_id,
          at_s: Math.round((range ? together.markStart : now) * 10) / 10,
          end_s: range ? Math.round(now * 10) / 10 : null,
        });
        $("together-body").value = "";
        together.markStart = null;
        $("together-mark").textContent = "Mark start";
      } catch (error) { flash(error.message); }
    });

    render();
    return {
      together: {
        hello: (data) => {
          together.offsetMs = data.server_ms - Date.now();
          together.session = data.session;
          applySession();
        },
      },
      handlers: {
        "version.created": changed,
        "version.queued": changed,
        "version.started": changed,
        "version.done": changed,
        "version.failed": changed,
      },
      notices: {
        "version.progress": progress,
        "listen.state": (notice) => { together.session = notice.session; applySession(); },
      },
    };
  };
})();
