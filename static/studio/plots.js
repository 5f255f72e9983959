// Small canvas plots for the engine's reports: waveform, loudness over time, spectrum
// against the reference curve, chromagram. No library: each draws one picture.
(() => {
  "use strict";

  const ink = "#1c1e2b", muted = "#62667a", grid = "#e1e3ec", accent = "#3b3f9e", warm = "#c2410c";

  function setup(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 600, height = canvas.clientHeight || 160;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    g.font = "11px system-ui, sans-serif";
    return { g, width, height };
  }

  function axisLabel(g, text, x, y, align = "left") {
    g.fillStyle = muted;
    g.textAlign = align;
    g.fillText(text, x, y);
  }

  const clock = (seconds) => `${Math.floor(seconds / 60)}:${String(Math.floor(seconds % 60)).padStart(2, "0")}`;

  function timeAxis(g, { left, right, bottom, duration }) {
    const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600];
    const step = steps.find((s) => duration / s <= 8) || 1200;
    g.strokeStyle = grid;
    for (let t = 0; t <= duration; t += step) {
      const x = left + ((right - left) * t) / duration;
      g.beginPath(); g.moveTo(x, 4); g.lineTo(x, bottom); g.stroke();
      axisLabel(g, clock(t), Math.max(x, left + 12), bottom + 12, "center");
    }
  }

  // The waveform from the coarsest peak level that still has a peak per pixel.
  function waveform(canvas, peaks, durationS) {
    const { g, width, height } = setup(canvas);
    if (!peaks || !peaks.levels || !peaks.levels.length) return;
    const levels = [...peaks.levels].sort((a, b) => b.samples_per_peak - a.samples_per_peak);
    const level = levels.find((l) => l.max[0].length >= width) || levels[levels.length - 1];
    const channels = level.max.length;
    const bandHeight = (height - 14) / channels;
    for (let c = 0; c < channels; c++) {
      const mid = bandHeight * c + bandHeight / 2;
      const n = level.max[c].length;
      g.fillStyle = accent;
      for (let x = 0; x < width; x++) {
        const from = Math.floor((x * n) / width), to = Math.max(from + 1, Math.floor(((x + 1) * n) / width));
        let hi = -128, lo = 127;
        for (let i = from; i < to && i < n; i++) { hi = Math.max(hi, level.max[c][i]); lo = Math.min(lo, level.min[c][i]); }
        if (hi < lo) continue;
        const top = mid - (hi / 127) * (bandHeight / 2 - 2), bottom = mid - (lo / 127) * (bandHeight / 2 - 2);
        g.fillRect(x, top, 1, Math.max(1, bottom - top));
      }
    }
    if (durationS) timeAxis(g, { left: 0, right: width, bottom: height - 14, duration: durationS });
  }

  function series(g, values, { left, right, top, bottom, lo, hi, color, widthPx = 1.5 }) {
    g.strokeStyle = color;
    g.lineWidth = widthPx;
    g.beginPath();
    let drawing = false;
    values.forEach((v, i) => {
      if (v === null || v === undefined || v < lo) { drawing = false; return; }
      const x = left + ((right - left) * i) / Math.max(1, values.length - 1);
      const y = bottom - ((Math.min(v, hi) - lo) / (hi - lo)) * (bottom - top);
      if (drawing) g.lineTo(x, y); else g.moveTo(x, y);
      drawing = true;
    });
    g.stroke();
    g.lineWidth = 1;
  }

  // Momentary and short-term loudness over time, with the integrated loudness.
  function loudness(canvas, report) {
    const { g, width, height } = setup(canvas);
    if (!report) return;
    const left = 34, right = width - 6, top = 6, bottom = height - 16, lo = -60, hi = 0;
    g.strokeStyle = grid;
    for (let v = lo; v <= hi; v += 10) {
      const y = bottom - ((v - lo) / (hi - lo)) * (bottom - top);
      g.beginPath(); g.moveTo(left, y); g.lineTo(right, y); g.stroke();
      axisLabel(g, String(v), left - 4, y + 3, "right");
    }
    const duration = (report.momentary_lufs || []).length * (report.hop_s || 0.1);
    if (duration) timeAxis(g, { left, right, bottom, duration });
    series(g, report.momentary_lufs || [], { left, right, top, bottom, lo, hi, color: "rgba(59,63,158,.35)", widthPx: 1 });
    series(g, report.short_term_lufs || [], { left, right, top, bottom, lo, hi, color: accent, widthPx: 2 });
    if (report.integrated_lufs !== null && report.integrated_lufs !== undefined) {
      const y = bottom - ((report.integrated_lufs - lo) / (hi - lo)) * (bottom - top);
      g.setLineDash([4, 3]); g.strokeStyle = warm;
      g.beginPath(); g.moveTo(left, y); g.lineTo(right, y); g.stroke(); g.setLineDash([]);
      axisLabel(g, `integrated ${report.integrated_lufs.toFixed(1)} LUFS`, right - 4, y - 4, "right");
    }
  }

  // Band levels against the reference tonal-balance curve, on a log-frequency axis.
  function spectrum(canvas, report) {
    const { g, width, height } = setup(canvas);
    if (!report || !report.band_centres_hz) return;
    const centres = report.band_centres_hz, levels = report.band_levels_db, reference = report.reference_db || [];
    const finite = [...levels, ...reference].filter((v) => v !== null && Number.isFinite(v));
    const hi = Math.ceil(Math.max(...finite) / 10) * 10 + 5, lo = hi - 70;
    const left = 34, right = width - 6, top = 6, bottom = height - 16;
    const fx = (f) => left + ((Math.log10(f) - Math.log10(20)) / (Math.log10(20000) - Math.log10(20))) * (right - left);
    g.strokeStyle = grid;
    for (const f of [50, 100, 200, 500, 1000, 2000, 5000, 10000]) {
      g.beginPath(); g.moveTo(fx(f), top); g.lineTo(fx(f), bottom); g.stroke();
      axisLabel(g, f >= 1000 ? `${f / 1000}k` : String(f), fx(f), bottom + 12, "center");
    }
    for (let v = lo; v <= hi; v += 10) {
      const y = bottom - ((v - lo) / (hi - lo)) * (bottom - top);
      axisLabel(g, String(v), left - 4, y + 3, "right");
    }
    const y = (v) => bottom - ((Math.max(lo, Math.min(hi, v)) - lo) / (hi - lo)) * (bottom - top);
    g.fillStyle = "rgba(59,63,158,.75)";
    centres.forEach((f, i) => {
      if (levels[i] === null) return;
      const w = Math.max(2, fx(f * 1.12) - fx(f / 1.12) - 1);
      g.fillRect(fx(f) - w / 2, y(levels[i]), w, bottom - y(levels[i]));
    });
    if (reference.length) {
      g.strokeStyle = warm; g.lineWidth = 2; g.beginPath();
      centres.forEach((f, i) => (i ? g.lineTo(fx(f), y(reference[i])) : g.moveTo(fx(f), y(reference[i]))));
      g.stroke(); g.lineWidth = 1;
      axisLabel(g, "reference", right - 4, 16, "right");
    }
  }

  // Twelve pitch classes over time, darker where stronger.
  function chroma(canvas, report) {
    const { g, width, height } = setup(canvas);
    const columns = report && report.chroma;
    if (!columns || !columns.length || !columns[0].length) return;
    const names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
    const left = 26, rowHeight = (height - 4) / 12, n = columns[0].length;
    const cellWidth = (width - left) / n;
    for (let p = 0; p < 12; p++) {
      axisLabel(g, names[p], left - 4, height - 2 - p * rowHeight - rowHeight / 2 + 4, "right");
      for (let t = 0; t < n; t++) {
        const v = columns[p][t];
        g.fillStyle = `rgba(59,63,158,${Math.max(0, Math.min(1, v)).toFixed(3)})`;
        g.fillRect(left + t * cellWidth, height - 2 - (p + 1) * rowHeight, Math.ceil(cellWidth), Math.ceil(rowHeight));
      }
    }
  }

  // Masking map: one strip per stem (low bands at the bottom), time left to right; the
  // colour says how far the other stems together sit above (red) or below (clear) it, dB.
  function masking(canvas, map) {
    const rows = map.stems.length;
    canvas.style.height = `${Math.max(80, rows * 46 + 18)}px`;
    const { g, width, height } = setup(canvas);
    const left = 90, right = width - 4, top = 2, bottom = height - 16;
    const strip = (bottom - top) / rows;
    const bands = map.band_centres_hz.length;
    map.stems.forEach((stem, r) => {
      const y0 = top + r * strip;
      axisLabel(g, stem.name.slice(0, 14), left - 6, y0 + strip / 2, "right");
      axisLabel(g, stem.role, left - 6, y0 + strip / 2 + 11, "right");
      const columns = stem.db[0] ? stem.db[0].length : 0;
      const cell = (right - left) / Math.max(1, columns);
      const bandHeight = (strip - 3) / bands;
      for (let b = 0; b < bands; b++) {
        for (let t = 0; t < columns; t++) {
          const v = stem.db[b][t];
          if (v === null) continue;
          const alpha = Math.max(0, Math.min(1, (v + 12) / 24)); // -12 dB clear .. +12 dB full
          g.fillStyle = `rgba(194,65,12,${alpha.toFixed(3)})`;
          g.fillRect(left + t * cell, y0 + strip - 3 - (b + 1) * bandHeight, Math.ceil(cell), Math.ceil(bandHeight));
        }
      }
      g.strokeStyle = grid;
      g.strokeRect(left, y0, right - left, strip - 3);
    });
    const columns = map.stems[0].db[0] ? map.stems[0].db[0].length : 0;
    const duration = columns * (map.time_hop_s || 0);
    if (duration) timeAxis(g, { left, right, bottom, duration });
  }

  window.StudioPlots = { waveform, loudness, spectrum, chroma, masking };
})();
