// Players that outlive a signed storage URL. On S3 the studio answers a file request with a
// redirect to a URL the storage server honours for a few minutes only; a player that later
// needs more bytes is then refused. It asks the studio's checked door again (which checks
// who is asking and signs a fresh URL) and carries on from where it was.
(() => {
  "use strict";

  const RETRY_GAP_MS = 5000; // a door that refuses twice in a row stays refused

  function keepFresh(audio) {
    let lastTry = 0, playing = false;
    audio.addEventListener("play", () => { playing = true; });
    audio.addEventListener("pause", () => { playing = false; });
    audio.addEventListener("error", () => {
      const door = audio.getAttribute("src");
      if (!door || Date.now() - lastTry < RETRY_GAP_MS) return;
      lastTry = Date.now();
      const at = audio.currentTime, resume = playing;
      audio.addEventListener("loadedmetadata", () => {
        if (at) audio.currentTime = at;
        if (resume) audio.play().catch(() => {});
      }, { once: true });
      audio.src = door;
      audio.load();
    });
    return audio;
  }

  window.studioAudio = { keepFresh };
})();
