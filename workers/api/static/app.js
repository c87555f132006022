"use strict";

// The search page of mmindex: one file, no framework, no build step.
// Everything that comes from the API reaches the page through textContent or
// attributes set one by one, never through innerHTML.
(() => {
  const KEY_STORAGE = "mmindex.key";
  const DEFAULT_MODALITIES = ["image", "video", "audio", "text"];
  const POLL_MS = 5000;
  const WORDS_MAX = 200;

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- helpers

  /** Seconds as m:ss, or h:mm:ss from an hour on. */
  function formatTime(seconds) {
    const value = Number(seconds);
    if (seconds == null || !Number.isFinite(value)) return "";
    const total = Math.max(0, Math.floor(value));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = String(total % 60).padStart(2, "0");
    return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
  }

  /** A hit's time span: "1:05–1:12", "1:05" when it has no end, "" when it has no start. */
  function formatSpan(start, end) {
    if (start == null) return "";
    const from = formatTime(start);
    const to = end == null ? "" : formatTime(end);
    return to && to !== from ? `${from}\u2013${to}` : from;
  }

  /** A duration in words: "12 s", "3 min 20 s", "2 h 5 min". */
  function formatDuration(seconds) {
    const total = Math.max(0, Math.round(Number(seconds) || 0));
    if (total < 60) return `${total} s`;
    if (total < 3600) {
      const s = total % 60;
      return s ? `${Math.floor(total / 60)} min ${s} s` : `${total / 60} min`;
    }
    const m = Math.floor((total % 3600) / 60);
    return m ? `${Math.floor(total / 3600)} h ${m} min` : `${total / 3600} h`;
  }

  function formatScore(score) {
    const value = Number(score);
    return score == null || !Number.isFinite(value) ? "" : value.toFixed(3);
  }

  function truncate(text, max) {
    const flat = String(text).replace(/\s+/g, " ").trim();
    if (flat.length <= max) return flat;
    let cut = flat.slice(0, max);
    const space = cut.lastIndexOf(" ");
    if (space > max - 40) cut = cut.slice(0, space);
    return `${cut.replace(/[\s.,;:!?-]+$/, "")}\u2026`;
  }

  function oneLine(text) {
    return String(text).replace(/\s+/g, " ").trim();
  }

  function nameFromUri(uri) {
    if (!uri) return "";
    const last = String(uri).replace(/\/+$/, "").split("/").pop() || "";
    try {
      return decodeURIComponent(last);
    } catch {
      return last;
    }
  }

  /** A URL from the API, kept only when it is http(s) or blob: no javascript: or data: links in the page. */
  function safeUrl(url) {
    if (!url || typeof url !== "string") return null;
    try {
      const parsed = new URL(url, window.location.href);
      return ["http:", "https:", "blob:"].includes(parsed.protocol) ? url : null;
    } catch {
      return null;
    }
  }

  /** createElement with attributes and children; strings become text nodes. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [name, value] of Object.entries(attrs)) {
        if (value == null || value === false) continue;
        if (name === "class") node.className = value;
        else node.setAttribute(name, value === true ? "" : String(value));
      }
    }
    for (const child of children) {
      if (child == null || child === false) continue;
      node.append(child);
    }
    return node;
  }

  function isImageFile(file) {
    if (!file) return false;
    if (file.type) return file.type.startsWith("image/");
    return /\.(png|jpe?g|gif|webp|bmp|tiff?|heic|heif|avif)$/i.test(file.name || "");
  }

  function isRecordingFile(file) {
    if (!file) return false;
    if (file.type) return file.type.startsWith("audio/") || file.type.startsWith("video/");
    return /\.(mp3|wav|m4a|aac|ogg|oga|opus|flac|webm|mp4|mov|mkv|avi)$/i.test(file.name || "");
  }

  function extensionFor(type) {
    const sub = (type || "").split("/")[1] || "";
    if (sub === "jpeg" || sub === "pjpeg") return "jpg";
    return /^[a-z0-9]+$/.test(sub) ? sub : "jpg";
  }

  // ---------------------------------------------------------------- key

  let memoryKey = null; // when localStorage is unavailable (private mode, file policies)

  function getKey() {
    try {
      return window.localStorage.getItem(KEY_STORAGE) || memoryKey;
    } catch {
      return memoryKey;
    }
  }

  function setKey(key) {
    memoryKey = key;
    try {
      window.localStorage.setItem(KEY_STORAGE, key);
    } catch {
      /* kept in memory for this page only */
    }
  }

  function clearKey() {
    memoryKey = null;
    try {
      window.localStorage.removeItem(KEY_STORAGE);
    } catch {
      /* nothing stored */
    }
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.name = "ApiError";
      this.status = status;
    }
  }

  async function api(path, { method = "GET", body = null, signal = null } = {}) {
    const headers = { Accept: "application/json" };
    const key = getKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    let response;
    let text;
    try {
      response = await fetch(path, { method, body, headers, signal, credentials: "same-origin" });
      text = await response.text();
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw new ApiError(0, "could not reach the server");
    }
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      const message =
        data && typeof data.error === "string" && data.error.trim()
          ? oneLine(data.error)
          : `the server answered ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
      if (response.status === 401) onUnauthorized(message);
      throw new ApiError(response.status, message);
    }
    if (data === null || typeof data !== "object") {
      throw new ApiError(response.status, "the server's answer is not JSON");
    }
    return data;
  }

  // ---------------------------------------------------------------- state and elements

  const state = {
    auth: false,
    lastQuery: null, // {kind: "text", text} or {kind: "image"|"audio", file, filename, describe}
    pendingQuery: null, // waiting for a key
    controller: null, // the search in flight
    hitsByCard: new WeakMap(),
    opener: null, // what to focus again when the dialog closes
    pollTimer: null,
    operatorBusy: false,
    operatorAgain: false,
    previewUrl: null,
  };

  let ui = {};

  function setStatus(message, isError = false) {
    ui.status.textContent = message;
    ui.status.classList.toggle("error", Boolean(isError));
  }

  // ---------------------------------------------------------------- key form

  function showKeyForm(message) {
    ui.keyForm.hidden = false;
    ui.keyError.textContent = message || "";
    ui.keyError.hidden = !message;
    updateForget();
    ui.keyInput.focus();
  }

  function hideKeyForm() {
    ui.keyForm.hidden = true;
    ui.keyError.textContent = "";
    ui.keyError.hidden = true;
  }

  function updateForget() {
    ui.forget.hidden = !getKey();
  }

  function onUnauthorized(message) {
    state.auth = true; // the server asks for a key, whatever /v1/info said
    clearKey();
    showKeyForm(message);
  }

  function needsKey() {
    return state.auth && !getKey();
  }

  // ---------------------------------------------------------------- filters

  function buildModalities(modalities) {
    const checked = new Set(
      Array.from(ui.modalityOptions.querySelectorAll("input:checked"), (input) => input.value),
    );
    const options = modalities.map((modality) => {
      const id = `modality-${modality}`;
      const input = el("input", { type: "checkbox", id, name: "modality", value: modality });
      input.checked = checked.has(modality);
      return el("div", { class: "check" }, input, el("label", { for: id }, modality));
    });
    ui.modalityOptions.replaceChildren(...options);
  }

  function currentFilters() {
    const modalities = Array.from(
      ui.modalityOptions.querySelectorAll("input[name=modality]:checked"),
      (input) => input.value,
    );
    return { k: ui.k.value || "24", modalities, prefix: ui.prefix.value.trim() };
  }

  // ---------------------------------------------------------------- search

  function setPreview(blob) {
    if (state.previewUrl && typeof URL.revokeObjectURL === "function") URL.revokeObjectURL(state.previewUrl);
    state.previewUrl = null;
    if (blob && typeof URL.createObjectURL === "function") {
      state.previewUrl = URL.createObjectURL(blob);
      ui.preview.src = state.previewUrl;
      ui.preview.alt = "the image being searched with";
      ui.preview.hidden = false;
    } else {
      ui.preview.removeAttribute("src");
      ui.preview.alt = "";
      ui.preview.hidden = true;
    }
  }

  function describe(query) {
    return query.kind === "text" ? `\u201c${query.text}\u201d` : query.describe;
  }

  async function runSearch(query) {
    state.lastQuery = query;
    if (needsKey()) {
      state.pendingQuery = query;
      showKeyForm("");
      setStatus("an API key is needed to search");
      return;
    }
    state.pendingQuery = null;
    if (state.controller) state.controller.abort();
    const controller = new AbortController();
    state.controller = controller;

    const filters = currentFilters();
    setStatus(`searching for ${describe(query)}\u2026`);
    ui.results.setAttribute("aria-busy", "true");
    try {
      let answer;
      if (query.kind === "text") {
        const params = new URLSearchParams();
        params.set("q", query.text);
        params.set("k", filters.k);
        for (const modality of filters.modalities) params.append("modality", modality);
        if (filters.prefix) params.set("prefix", filters.prefix);
        answer = await api(`/v1/search?${params}`, { signal: controller.signal });
      } else {
        const form = new FormData();
        form.set("k", filters.k);
        for (const modality of filters.modalities) form.append("modality", modality);
        if (filters.prefix) form.set("prefix", filters.prefix);
        form.set(query.kind, query.file, query.filename);
        answer = await api("/v1/search", { method: "POST", body: form, signal: controller.signal });
      }
      if (controller !== state.controller) return;
      const hits = Array.isArray(answer.hits) ? answer.hits : [];
      renderHits(hits);
      if (hits.length === 0) {
        setStatus("no hits: nothing matches well enough");
      } else {
        const took = Number(answer.took_ms);
        const count = `${hits.length} ${hits.length === 1 ? "hit" : "hits"}`;
        setStatus(Number.isFinite(took) ? `${count} in ${Math.round(took)} ms` : count);
      }
    } catch (err) {
      if (err && err.name === "AbortError") return;
      if (controller !== state.controller) return;
      if (err && err.status === 401) state.pendingQuery = query;
      setStatus(err && err.message ? err.message : "the search failed", true);
    } finally {
      if (controller === state.controller) {
        state.controller = null;
        ui.results.setAttribute("aria-busy", "false");
      }
    }
  }

  function searchText(text) {
    setPreview(null);
    try {
      const url = new URL(window.location.href);
      url.searchParams.set("q", text);
      window.history.replaceState(null, "", url);
    } catch {
      /* the address bar keeps its old query */
    }
    runSearch({ kind: "text", text });
  }

  // A search by a picture or a recording is not a search by the words in the box: empty it, and the address's ?q=.
  function clearTextQuery() {
    $("q").value = "";
    try {
      const url = new URL(window.location.href);
      url.searchParams.delete("q");
      window.history.replaceState(null, "", url);
    } catch {
      /* the address bar keeps its old query */
    }
  }

  function searchWithImage(file, label) {
    if (!isImageFile(file)) {
      setStatus("that is not an image: choose a picture file (PNG, JPEG, WebP\u2026)", true);
      return;
    }
    clearTextQuery();
    setPreview(file);
    const filename = file.name || `image.${extensionFor(file.type)}`;
    runSearch({ kind: "image", file, filename, describe: `pictures like ${label || filename}` });
  }

  function searchWithRecording(file) {
    if (!isRecordingFile(file)) {
      setStatus("that is not a recording: choose an audio or video file", true);
      return;
    }
    clearTextQuery();
    setPreview(null);
    const filename = file.name || "recording";
    runSearch({ kind: "audio", file, filename, describe: `what is said in ${filename}` });
  }

  async function moreLikeThis(hit) {
    const url = safeUrl(hit.thumbnail_url);
    const name = hit.name || nameFromUri(hit.uri) || "this hit";
    if (!url) return;
    setStatus(`fetching the picture of ${name}\u2026`);
    let blob;
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) throw new Error(String(response.status));
      blob = await response.blob();
    } catch {
      setStatus(`could not fetch the picture of ${name}`, true);
      return;
    }
    clearTextQuery();
    setPreview(blob);
    const stem = name.replace(/\.[^.]*$/, "") || "thumbnail";
    runSearch({
      kind: "image",
      file: blob,
      filename: `${stem}.${extensionFor(blob.type)}`,
      describe: `more like ${name}`,
    });
  }

  function rerun() {
    if (state.lastQuery) runSearch(state.lastQuery);
  }

  // ---------------------------------------------------------------- results

  function placeholder(modality) {
    return el("div", { class: "thumb placeholder", "aria-hidden": "true" }, modality);
  }

  function buildCard(hit, index) {
    const name = hit.name || nameFromUri(hit.uri) || "untitled";
    const modality = hit.modality || "unknown";
    const card = el("li", {
      class: "hit",
      tabindex: "-1",
      "data-uri": hit.uri == null ? "" : hit.uri,
      "data-modality": modality,
    });

    const thumbUrl = safeUrl(hit.thumbnail_url) || (modality === "image" ? safeUrl(hit.media_url) : null);
    if (thumbUrl) {
      const img = el("img", { class: "thumb", src: thumbUrl, alt: name, loading: "lazy", decoding: "async" });
      img.addEventListener("error", () => img.replaceWith(placeholder(modality)), { once: true });
      card.append(el("div", { class: "thumb-box" }, img));
    } else if (modality === "text") {
      card.classList.add("text-only");
    } else {
      card.append(el("div", { class: "thumb-box" }, placeholder(modality)));
    }

    const metaId = `hit-${index}-meta`;
    const meta = el(
      "p",
      { class: "hit-meta", id: metaId },
      el("span", { class: "hit-modality" }, modality),
    );
    const score = formatScore(hit.relevance ?? hit.score);
    if (score) {
      meta.append(
        el("span", { class: "sep", "aria-hidden": "true" }, "\u00b7"),
        el("span", { class: "visually-hidden" }, "relevance "),
        el("span", { class: "hit-score", title: "relevance, 0 to 1" }, score),
      );
    }
    if (hit.start_s != null) {
      meta.append(
        el("span", { class: "sep", "aria-hidden": "true" }, "\u00b7"),
        el("span", { class: "hit-span" }, formatSpan(hit.start_s, hit.end_s)),
      );
    }

    const body = el(
      "div",
      { class: "hit-body" },
      el(
        "h3",
        { class: "hit-name" },
        el("button", { type: "button", class: "hit-open", "aria-describedby": metaId }, name),
      ),
      meta,
    );
    if (hit.text) {
      const words = String(hit.text);
      body.append(el("p", { class: "hit-words", title: words }, truncate(words, WORDS_MAX)));
    }
    if (safeUrl(hit.thumbnail_url)) {
      body.append(
        el(
          "button",
          { type: "button", class: "more-like-this", "aria-label": `More like this: ${name}` },
          "More like this",
        ),
      );
    }
    card.append(body);
    state.hitsByCard.set(card, hit);
    return card;
  }

  function renderHits(hits) {
    const fragment = document.createDocumentFragment();
    hits.forEach((hit, index) => fragment.append(buildCard(hit || {}, index)));
    ui.results.replaceChildren(fragment);
  }

  function onResultsClick(event) {
    const card = event.target.closest(".hit");
    if (!card || !ui.results.contains(card)) return;
    const hit = state.hitsByCard.get(card);
    if (!hit) return;
    if (event.target.closest(".more-like-this")) {
      moreLikeThis(hit);
      return;
    }
    if (event.target.closest("a")) return;
    if (!event.target.closest(".hit-open")) {
      // Selecting words on a card is not opening it.
      const selection = window.getSelection();
      if (selection && !selection.isCollapsed && card.contains(selection.anchorNode)) return;
    }
    openHit(hit, card.querySelector(".hit-open"));
  }

  function onResultsKeydown(event) {
    if (event.key !== "Enter") return;
    const target = event.target;
    if (!target.classList || !target.classList.contains("hit")) return; // buttons handle their own Enter
    const hit = state.hitsByCard.get(target);
    if (!hit) return;
    event.preventDefault();
    openHit(hit, target.querySelector(".hit-open"));
  }

  // ---------------------------------------------------------------- player dialog

  function stopPlayer() {
    const player = $("player");
    if (player && typeof player.pause === "function") {
      player.pause();
      player.removeAttribute("src");
      player.load(); // stops the download
    }
    ui.playerBody.replaceChildren();
  }

  function fileLink(url, label) {
    if (!url) return null;
    return el(
      "p",
      { class: "player-link" },
      el("a", { href: url, target: "_blank", rel: "noopener" }, label),
    );
  }

  function openHit(hit, opener) {
    stopPlayer();
    const name = hit.name || nameFromUri(hit.uri) || "untitled";
    const modality = hit.modality || "unknown";
    const src = safeUrl(hit.media_url);
    const span = hit.start_s != null ? formatSpan(hit.start_s, hit.end_s) : "";

    ui.playerTitle.textContent = name;
    ui.playerMeta.textContent = [modality, span, hit.uri].filter(Boolean).join(" \u00b7 ");

    if (modality === "video" || modality === "audio") {
      const player = el(modality, { id: "player", controls: true, preload: "metadata" });
      if (modality === "video") {
        player.setAttribute("playsinline", "");
        const poster = safeUrl(hit.thumbnail_url);
        if (poster) player.poster = poster;
      }
      const start = Number(hit.start_s);
      player.addEventListener(
        "loadedmetadata",
        () => {
          if (hit.start_s != null && Number.isFinite(start) && start > 0) {
            try {
              player.currentTime = start;
            } catch {
              /* not seekable: it plays from the start */
            }
          }
          const playing = player.play();
          if (playing && typeof playing.catch === "function") {
            playing.catch(() => {
              /* autoplay refused: the controls are there */
            });
          }
        },
        { once: true },
      );
      player.addEventListener(
        "error",
        () => {
          if (!player.getAttribute("src")) return; // emptied on close
          ui.playerBody.append(el("p", { class: "player-error" }, "this file could not be played here"));
        },
        { once: true },
      );
      if (src) player.src = src;
      ui.playerBody.append(player);
      if (hit.text) ui.playerBody.append(el("p", { class: "player-words" }, String(hit.text)));
      ui.playerBody.append(fileLink(src, "Open the file"));
    } else if (modality === "image") {
      if (src) ui.playerBody.append(el("img", { class: "player-image", src, alt: name }));
      if (hit.text) ui.playerBody.append(el("p", { class: "player-words" }, String(hit.text)));
      ui.playerBody.append(fileLink(src, "Open the file"));
    } else {
      ui.playerBody.append(
        el("div", { class: "player-text", tabindex: "0", role: "region", "aria-label": "Full text" }, hit.text ? String(hit.text) : "(no words)"),
      );
      ui.playerBody.append(fileLink(src, "Open the document"));
    }

    state.opener = opener || document.activeElement;
    const dialog = ui.dialog;
    if (!dialog.open) {
      if (typeof dialog.showModal === "function") dialog.showModal();
      else dialog.setAttribute("open", "");
    }
    ui.playerClose.focus();
  }

  function closeDialog() {
    const dialog = ui.dialog;
    if (typeof dialog.close === "function") {
      if (dialog.open) dialog.close();
    } else if (dialog.hasAttribute("open")) {
      dialog.removeAttribute("open");
      onDialogClosed();
    }
  }

  function onDialogClosed() {
    stopPlayer();
    const opener = state.opener;
    state.opener = null;
    if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
  }

  // ---------------------------------------------------------------- operator panel

  function operatorMessage(message, isError = false) {
    ui.operatorMessage.textContent = message || "";
    ui.operatorMessage.classList.toggle("error", Boolean(message) && isError);
    ui.operatorMessage.dataset.kind = isError ? "error" : "info";
  }

  function etaText(status) {
    let pending = Number(status.pending);
    if (status.pending == null || !Number.isFinite(pending)) {
      const counts = status.counts || {};
      pending = ["queued", "decoding", "embedding", "indexing"].reduce(
        (sum, name) => sum + (Number(counts[name]) || 0),
        0,
      );
    }
    if (pending <= 0) return "idle";
    const eta = Number(status.eta_s);
    if (status.eta_s == null || !Number.isFinite(eta)) return "unknown";
    return `done in ${formatDuration(Math.max(1, eta))}`;
  }

  function renderOperator(status) {
    const counts = status.counts && typeof status.counts === "object" ? status.counts : {};
    ui.counts.replaceChildren(
      ...Object.entries(counts).map(([name, value]) => {
        const n = Number(value) || 0;
        const alert = (name === "failed" || name === "dead") && n > 0;
        return el(
          "div",
          { class: `count${alert ? " alert" : ""}`, "data-state": name },
          el("dt", null, name),
          el("dd", null, String(n)),
        );
      }),
    );

    ui.eta.textContent = etaText(status);
    const parts = [];
    if (status.pending != null) parts.push(`${status.pending} pending`);
    const rate = Number(status.finished_per_minute);
    if (status.finished_per_minute != null && Number.isFinite(rate)) {
      parts.push(`${rate.toFixed(rate < 10 ? 1 : 0)} finished a minute`);
    }
    ui.throughput.textContent = parts.length ? ` (${parts.join(", ")})` : "";

    const failed = Array.isArray(status.failed) ? status.failed : [];
    ui.failures.replaceChildren(
      ...failed.map((failure) => {
        const item = failure || {};
        return el(
          "li",
          { class: "failure", "data-uri": item.uri == null ? "" : item.uri, "data-state": item.state || "" },
          el("code", { class: "failure-uri" }, String(item.uri == null ? "" : item.uri)),
          item.state ? el("span", { class: "failure-state" }, item.state) : null,
          el("span", { class: "failure-error" }, item.error ? oneLine(item.error) : "no reason given"),
        );
      }),
    );
    ui.failuresEmpty.hidden = failed.length > 0;
  }

  function operatorError(err) {
    if (err && err.status === 403) {
      operatorMessage("an admin key is needed for this panel", true);
      stopPolling();
    } else if (err && err.status === 401) {
      operatorMessage(err.message, true);
      stopPolling();
    } else {
      operatorMessage(err && err.message ? err.message : "the status could not be read", true);
    }
  }

  async function refreshOperator() {
    if (state.operatorBusy) {
      state.operatorAgain = true;
      return;
    }
    if (needsKey()) {
      operatorMessage("an admin key is needed for this panel", true);
      showKeyForm("");
      stopPolling();
      return;
    }
    state.operatorBusy = true;
    try {
      const status = await api("/v1/status");
      renderOperator(status);
      if (ui.operatorMessage.dataset.kind === "error") operatorMessage("");
    } catch (err) {
      operatorError(err);
    } finally {
      state.operatorBusy = false;
      if (state.operatorAgain) {
        state.operatorAgain = false;
        if (ui.operatorDetails.open) refreshOperator();
      }
    }
  }

  function startPolling() {
    stopPolling();
    state.pollTimer = window.setInterval(() => {
      if (!document.hidden && ui.operatorDetails.open) refreshOperator();
    }, POLL_MS);
  }

  function stopPolling() {
    if (state.pollTimer !== null) window.clearInterval(state.pollTimer);
    state.pollTimer = null;
  }

  function openOperator() {
    refreshOperator();
    startPolling();
  }

  async function retryFailed() {
    if (needsKey()) {
      operatorMessage("an admin key is needed for this panel", true);
      showKeyForm("");
      return;
    }
    ui.retry.disabled = true;
    operatorMessage("retrying the failed sources\u2026");
    try {
      const answer = await api("/v1/retry", { method: "POST" });
      const count = (list) => (Array.isArray(list) ? list.length : 0);
      const parts = [
        `${count(answer.indexed)} indexed`,
        `${count(answer.failed)} failed again`,
        `${count(answer.skipped)} skipped`,
      ];
      if (answer.queued != null) parts.push(`${count(answer.queued)} queued`);
      operatorMessage(`retried: ${parts.join(", ")}`);
      ui.retry.disabled = false;
      await refreshOperator();
      if (ui.operatorDetails.open && state.pollTimer === null) startPolling();
    } catch (err) {
      operatorError(err);
    } finally {
      ui.retry.disabled = false;
    }
  }

  // ---------------------------------------------------------------- drag, drop, paste

  function hasFiles(event) {
    const types = event.dataTransfer ? Array.from(event.dataTransfer.types || []) : [];
    return types.includes("Files");
  }

  function firstImage(files) {
    return Array.from(files || []).find(isImageFile) || null;
  }

  function wireDropAndPaste() {
    const zone = ui.dropZone;
    let depth = 0;

    zone.addEventListener("dragenter", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      depth += 1;
      zone.classList.add("dragover");
    });
    zone.addEventListener("dragover", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    zone.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) zone.classList.remove("dragover");
    });

    // A file dropped anywhere is taken the same way, so that a near miss does not open it in place of the page.
    document.addEventListener("dragover", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    document.addEventListener("drop", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      depth = 0;
      zone.classList.remove("dragover");
      const image = firstImage(event.dataTransfer.files);
      if (image) searchWithImage(image, image.name || "the dropped image");
      else setStatus("drop an image file (PNG, JPEG, WebP\u2026) to search with it", true);
    });

    document.addEventListener("paste", (event) => {
      const data = event.clipboardData;
      if (!data) return;
      let image = null;
      for (const item of Array.from(data.items || [])) {
        if (item.kind === "file" && item.type.startsWith("image/")) {
          image = item.getAsFile();
          if (image) break;
        }
      }
      if (!image) image = firstImage(data.files);
      if (!image) return; // text pastes go where they were going
      event.preventDefault();
      searchWithImage(image, "the pasted image");
    });
  }

  // ---------------------------------------------------------------- start

  function wire() {
    ui.searchForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = ui.q.value.trim();
      if (!text) {
        setStatus("type something to search for");
        ui.q.focus();
        return;
      }
      searchText(text);
    });

    ui.imageInput.addEventListener("change", () => {
      const file = ui.imageInput.files && ui.imageInput.files[0];
      if (file) searchWithImage(file, file.name);
      ui.imageInput.value = ""; // choosing the same file again searches again
    });
    ui.audioInput.addEventListener("change", () => {
      const file = ui.audioInput.files && ui.audioInput.files[0];
      if (file) searchWithRecording(file);
      ui.audioInput.value = "";
    });

    ui.filters.addEventListener("submit", (event) => {
      event.preventDefault();
      if (state.lastQuery) {
        rerun();
        return;
      }
      const text = ui.q.value.trim();
      if (text) searchText(text);
      else setStatus("type something to search for");
    });
    ui.modalityOptions.addEventListener("change", rerun);
    ui.k.addEventListener("change", rerun);

    ui.results.addEventListener("click", onResultsClick);
    ui.results.addEventListener("keydown", onResultsKeydown);

    ui.playerClose.addEventListener("click", closeDialog);
    ui.dialog.addEventListener("close", onDialogClosed);
    ui.dialog.addEventListener("click", (event) => {
      if (event.target === ui.dialog) closeDialog(); // a click on the backdrop
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && (ui.dialog.open || ui.dialog.hasAttribute("open"))) {
        event.preventDefault();
        closeDialog();
      }
    });

    ui.keyForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const key = ui.keyInput.value.trim();
      if (!key) {
        showKeyForm("type the key first");
        return;
      }
      setKey(key);
      ui.keyInput.value = "";
      hideKeyForm();
      updateForget();
      setStatus("key saved");
      const pending = state.pendingQuery;
      state.pendingQuery = null;
      if (pending) runSearch(pending);
      if (ui.operatorDetails.open) openOperator();
    });
    ui.forget.addEventListener("click", () => {
      clearKey();
      updateForget();
      setStatus("key forgotten");
      if (state.auth) showKeyForm("");
      else ui.q.focus();
    });

    ui.operatorDetails.addEventListener("toggle", () => {
      if (ui.operatorDetails.open) openOperator();
      else stopPolling();
    });
    ui.retry.addEventListener("click", retryFailed);

    wireDropAndPaste();
  }

  async function start() {
    ui = {
      searchForm: $("search-form"),
      q: $("q"),
      imageInput: $("image-input"),
      audioInput: $("audio-input"),
      dropZone: $("drop-zone"),
      preview: $("query-preview"),
      filters: $("filters"),
      modalityOptions: $("modality-options"),
      prefix: $("prefix"),
      k: $("k"),
      status: $("status"),
      results: $("results"),
      keyForm: $("key-form"),
      keyInput: $("key"),
      keyError: $("key-error"),
      forget: $("forget-key"),
      dialog: $("player-dialog"),
      playerTitle: $("player-title"),
      playerMeta: $("player-meta"),
      playerBody: $("player-body"),
      playerClose: $("player-close"),
      operatorDetails: $("operator-details"),
      operatorMessage: $("operator-message"),
      counts: $("counts"),
      eta: $("eta"),
      throughput: $("throughput"),
      failures: $("failures"),
      failuresEmpty: $("failures-empty"),
      retry: $("retry"),
    };

    buildModalities(DEFAULT_MODALITIES);
    wire();
    updateForget();

    try {
      const info = await api("/v1/info");
      state.auth = state.auth || Boolean(info.auth);
      const modalities = Array.isArray(info.modalities)
        ? info.modalities.filter((m) => typeof m === "string" && m)
        : [];
      if (modalities.length) buildModalities(modalities);
    } catch (err) {
      setStatus(`could not read the server's settings: ${err.message}`, true);
    }

    if (needsKey()) {
      showKeyForm("");
      setStatus("enter an API key to search");
    }

    let initial = "";
    try {
      initial = (new URLSearchParams(window.location.search).get("q") || "").trim();
    } catch {
      initial = "";
    }
    if (initial) {
      ui.q.value = initial;
      runSearch({ kind: "text", text: initial });
    }
    if (ui.operatorDetails.open) openOperator();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
