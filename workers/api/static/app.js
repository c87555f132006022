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

  /** Where in its source a hit is: its time span, or a document's page ("page 2"); "" for neither. */
  function formatWhere(hit) {
    if (hit.start_s != null) return formatSpan(hit.start_s, hit.end_s);
    return hit.page != null ? `page ${hit.page}` : "";
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

  /** `headers` with the key, when there is one. */
  function authorized(headers) {
    const key = getKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    return headers;
  }

  /** The ApiError of an answer that is not a 2xx: its `{"error": ...}` in one line, or its status. A 401 asks for a key. */
  function apiError(response, data) {
    const message =
      data && typeof data.error === "string" && data.error.trim()
        ? oneLine(data.error)
        : `the server answered ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
    if (response.status === 401) onUnauthorized(message);
    return new ApiError(response.status, message);
  }

  function parseJson(text) {
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  }

  async function api(path, { method = "GET", body = null, signal = null } = {}) {
    const headers = authorized({ Accept: "application/json" });
    let response;
    let text;
    try {
      response = await fetch(path, { method, body, headers, signal, credentials: "same-origin" });
      text = await response.text();
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw new ApiError(0, "could not reach the server");
    }
    const data = parseJson(text);
    if (!response.ok) throw apiError(response, data);
    if (data === null || typeof data !== "object") {
      throw new ApiError(response.status, "the server's answer is not JSON");
    }
    return data;
  }

  // ---------------------------------------------------------------- state and elements

  const state = {
    auth: false,
    lastQuery: null, // {kind: "text", text} or {kind: "image"|"audio", file, filename, describe}
    pendingQuery: null, // waiting for a key; {kind: "ask", text} for a question
    controller: null, // the search in flight
    hitsByCard: new WeakMap(),
    ask: null, // the question being answered: {question, text, shown, citations: Map n -> citation, done}
    askController: null, // its request in flight
    citationsByNode: new WeakMap(), // a [n] or a source's button -> its citation
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
    if (formatWhere(hit)) {
      meta.append(
        el("span", { class: "sep", "aria-hidden": "true" }, "\u00b7"),
        el("span", { class: "hit-span" }, formatWhere(hit)),
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

  // ---------------------------------------------------------------- answers

  // POST /v1/ask, streamed as server-sent events read by hand (EventSource cannot POST): `sources` before a word,
  // `text` pieces as they are written, then `answer` (the whole of it) or `error`. Each [n] of the answer is a
  // button that opens its source's moment as a hit opens.

  const CITATION = /\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]/g;
  const LONGEST_MARK = 32; // characters after a "[" that may still become a citation

  /** Reads the server-sent events of `response`, calling onEvent(name, data) for each; returns when it ends. */
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    const dispatch = (block) => {
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      }
      if (data.length) onEvent(name, data.join("\n"));
    };
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      // Lines end in CRLF, LF or CR; a CR last in a chunk may be the first half of a CRLF.
      const held = !done && buffer.endsWith("\r") ? "\r" : "";
      if (held) buffer = buffer.slice(0, -1);
      buffer = buffer.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
      buffer += held;
      if (done) return; // an event left unfinished is dropped, as EventSource drops it
    }
  }

  /** What a [n] button is called: its own text first, then the source it opens. */
  function citationLabel(citation, text) {
    const span = formatWhere(citation);
    return `${text} ${[nameFromUri(citation.uri) || "untitled", span].filter(Boolean).join(", ")}`;
  }

  function citeButton(citation, text) {
    const label = citationLabel(citation, text);
    const button = el("button", { type: "button", class: "cite", "data-n": citation.n, "aria-label": label, title: label }, text);
    state.citationsByNode.set(button, citation);
    return button;
  }

  /** The nodes of `text`: words as text, each [n] naming a source a button that opens it. */
  function answerNodes(text) {
    const nodes = [];
    const citations = state.ask ? state.ask.citations : new Map();
    let from = 0;
    for (const match of text.matchAll(CITATION)) {
      if (match.index > from) nodes.push(document.createTextNode(text.slice(from, match.index)));
      from = match.index + match[0].length;
      const numbers = match[0].match(/\d+/g).map(Number);
      if (numbers.length === 1 && citations.has(numbers[0])) {
        nodes.push(citeButton(citations.get(numbers[0]), match[0]));
        continue;
      }
      // [1, 3]: each number its own button, the brackets and commas as written.
      const parts = match[0].split(/(\d+)/);
      let plain = "";
      for (const part of parts) {
        const n = /^\d+$/.test(part) ? Number(part) : null;
        if (n !== null && citations.has(n)) {
          if (plain) nodes.push(document.createTextNode(plain));
          plain = "";
          nodes.push(citeButton(citations.get(n), part));
        } else {
          plain += part;
        }
      }
      if (plain) nodes.push(document.createTextNode(plain));
    }
    if (from < text.length) nodes.push(document.createTextNode(text.slice(from)));
    return nodes;
  }

  /** Shows what has been written of the answer so far, holding back a "[" that may yet become a citation. */
  function showWritten(final = false) {
    const ask = state.ask;
    let upTo = ask.text.length;
    if (!final) {
      const open = ask.text.lastIndexOf("[");
      if (open >= ask.shown && open > ask.text.lastIndexOf("]") && ask.text.length - open <= LONGEST_MARK) upTo = open;
    }
    if (upTo > ask.shown) {
      ui.answerText.append(...answerNodes(ask.text.slice(ask.shown, upTo)));
      ask.shown = upTo;
    }
  }

  function askState(message) {
    ui.answerState.textContent = message || "";
  }

  function askError(message) {
    ui.answerError.textContent = oneLine(message);
    ui.answerError.hidden = false;
    askState("");
  }

  function renderSources(citations) {
    const list = Array.isArray(citations) ? citations.filter((c) => c && c.n != null) : [];
    state.ask.citations = new Map(list.map((citation) => [Number(citation.n), citation]));
    ui.answerSources.replaceChildren(
      ...list.map((citation) => {
        const name = nameFromUri(citation.uri) || "untitled";
        const modality = citation.modality || "unknown";
        const item = el("li", {
          class: `source${citation.cited ? " cited" : ""}`,
          "data-n": citation.n,
          "data-uri": citation.uri == null ? "" : citation.uri,
          "data-modality": modality,
        });
        const thumbUrl = safeUrl(citation.thumbnail_url);
        if (thumbUrl) {
          const img = el("img", { class: "source-thumb", src: thumbUrl, alt: "", loading: "lazy", decoding: "async" });
          img.addEventListener("error", () => img.remove(), { once: true });
          item.append(img);
        }
        const meta = el("p", { class: "source-meta" }, el("span", { class: "source-modality" }, modality));
        const add = (node) => meta.append(el("span", { class: "sep", "aria-hidden": "true" }, "\u00b7"), node);
        if (formatWhere(citation)) add(el("span", { class: "source-span" }, formatWhere(citation)));
        const score = formatScore(citation.relevance);
        if (score) add(el("span", { class: "source-score", title: "relevance, 0 to 1" }, `relevance ${score}`));
        if (citation.cited) add(el("span", { class: "source-cited" }, "cited"));
        const open = el("button", { type: "button", class: "source-open" }, name);
        state.citationsByNode.set(open, citation);
        const body = el(
          "div",
          { class: "source-body" },
          el("p", { class: "source-head" }, el("span", { class: "source-n" }, `[${citation.n}]`), " ", open),
          meta,
        );
        if (citation.text) {
          const words = String(citation.text);
          body.append(el("p", { class: "source-words", title: words }, truncate(words, WORDS_MAX)));
        }
        item.append(body);
        return item;
      }),
    );
    ui.answerNoSources.hidden = list.length > 0;
    ui.answerSourcesBox.hidden = false;
  }

  function modelName(model) {
    const text = String(model);
    return text.includes("/") ? nameFromUri(text) : text;
  }

  function finishAnswer(result) {
    const ask = state.ask;
    ask.done = true;
    renderSources(result.citations);
    const text = typeof result.answer === "string" ? result.answer.trim() : "";
    if (text !== ask.text.trim()) {
      // What was streamed is not the answer (or nothing was): the answer replaces it.
      ask.text = text;
      ask.shown = 0;
      ui.answerText.replaceChildren();
    }
    showWritten(true);

    const citations = Array.isArray(result.citations) ? result.citations : [];
    const parts = [];
    if (result.model == null && citations.length === 0) {
      ui.answerPanel.classList.add("nothing");
      parts.push(el("span", { class: "answer-nothing" }, "Nothing found: no source was relevant enough, so no model was asked."));
    } else {
      if (result.model != null) {
        parts.push(el("span", { class: "answer-model", title: String(result.model) }, `model ${modelName(result.model)}`));
      }
      parts.push(
        el(
          "span",
          {
            class: `answer-grounded ${result.grounded ? "yes" : "no"}`,
            title: result.grounded
              ? "the answer cites its sources, and only them"
              : "the answer cites no source, or cited a number that names none",
          },
          result.grounded ? "grounded" : "not grounded",
        ),
      );
      const took = Number(result.timings && result.timings.generation_s);
      if (Number.isFinite(took) && took > 0) parts.push(el("span", { class: "answer-took" }, `written in ${took.toFixed(1)} s`));
    }
    const meta = [];
    parts.forEach((part, index) => {
      if (index) meta.push(el("span", { class: "sep", "aria-hidden": "true" }, "\u00b7"));
      meta.push(part);
    });
    ui.answerMeta.replaceChildren(...meta);
    askState("");
  }

  function onAskEvent(name, data) {
    let value;
    try {
      value = JSON.parse(data);
    } catch {
      throw new ApiError(0, "the server sent an event that is not JSON");
    }
    if (name === "sources") {
      renderSources(value);
      askState(Array.isArray(value) && value.length ? "writing the answer\u2026" : "");
    } else if (name === "text") {
      const ask = state.ask;
      let piece = value && typeof value.text === "string" ? value.text : "";
      if (!ask.text) piece = piece.replace(/^\s+/, "");
      ask.text += piece;
      showWritten();
    } else if (name === "answer") {
      finishAnswer(value || {});
    } else if (name === "error") {
      state.ask.done = true;
      askError(value && typeof value.error === "string" && value.error.trim() ? value.error : "the answer failed");
    }
  }

  function resetAnswer(question) {
    state.ask = { question, text: "", shown: 0, citations: new Map(), done: false };
    ui.answerPanel.hidden = false;
    ui.answerPanel.classList.remove("nothing");
    ui.answerQuestion.textContent = `\u201c${question}\u201d`;
    ui.answerText.replaceChildren();
    ui.answerMeta.replaceChildren();
    ui.answerError.textContent = "";
    ui.answerError.hidden = true;
    ui.answerSources.replaceChildren();
    ui.answerNoSources.hidden = true;
    ui.answerSourcesBox.hidden = true;
  }

  async function askQuestion(question) {
    if (needsKey()) {
      state.pendingQuery = { kind: "ask", text: question };
      showKeyForm("");
      setStatus("an API key is needed to ask");
      return;
    }
    state.pendingQuery = null;
    if (state.askController) state.askController.abort();
    const controller = new AbortController();
    state.askController = controller;
    resetAnswer(question);
    askState("finding sources\u2026");
    ui.answerText.setAttribute("aria-busy", "true");

    const filters = currentFilters();
    const body = { question, stream: true };
    if (filters.modalities.length) body.modalities = filters.modalities;
    if (filters.prefix) body.prefix = filters.prefix;
    try {
      let response;
      try {
        response = await fetch("/v1/ask", {
          method: "POST",
          body: JSON.stringify(body),
          headers: authorized({ Accept: "text/event-stream", "Content-Type": "application/json" }),
          signal: controller.signal,
          credentials: "same-origin",
        });
      } catch (err) {
        if (err && err.name === "AbortError") throw err;
        throw new ApiError(0, "could not reach the server");
      }
      const type = response.headers.get("content-type") || "";
      if (!response.ok) throw apiError(response, parseJson(await response.text()));
      if (type.includes("text/event-stream") && response.body) {
        await readEvents(response, (name, data) => {
          if (controller === state.askController) onAskEvent(name, data);
        });
      } else {
        const data = parseJson(await response.text());
        if (data === null || typeof data !== "object") throw new ApiError(response.status, "the server's answer is not JSON");
        finishAnswer(data);
      }
      if (controller === state.askController && !state.ask.done) {
        askError("the answer stopped before it was finished");
      }
    } catch (err) {
      if (err && err.name === "AbortError") return;
      if (controller !== state.askController) return;
      if (err && err.status === 401) state.pendingQuery = { kind: "ask", text: question };
      askError(err && err.message ? err.message : "the answer failed");
    } finally {
      if (controller === state.askController) {
        state.askController = null;
        ui.answerText.setAttribute("aria-busy", "false");
      }
    }
  }

  function closeAnswer() {
    if (state.askController) state.askController.abort();
    state.askController = null;
    ui.answerText.setAttribute("aria-busy", "false");
    ui.answerPanel.hidden = true;
    ui.askButton.focus();
  }

  function onAnswerClick(event) {
    const button = event.target.closest("button.cite, button.source-open");
    if (!button || !ui.answerPanel.contains(button)) return;
    const citation = state.citationsByNode.get(button);
    if (citation) openHit(citation, button);
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
    const span = formatWhere(hit);

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
      // a PDF viewer opens a document at the page of the hit's words
      const atPage = src && hit.page != null ? `${src}#page=${Number(hit.page)}` : src;
      ui.playerBody.append(fileLink(atPage, hit.page != null ? `Open the document at page ${hit.page}` : "Open the document"));
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

    ui.askButton.addEventListener("click", () => {
      const text = ui.q.value.trim();
      if (!text) {
        setStatus("type a question to ask");
        ui.q.focus();
        return;
      }
      askQuestion(text);
    });
    ui.answerClose.addEventListener("click", closeAnswer);
    ui.answerPanel.addEventListener("click", onAnswerClick);

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
      if (pending && pending.kind === "ask") askQuestion(pending.text);
      else if (pending) runSearch(pending);
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
      askButton: $("ask-button"),
      answerPanel: $("answer-panel"),
      answerClose: $("answer-close"),
      answerQuestion: $("answer-question"),
      answerState: $("answer-state"),
      answerText: $("answer-text"),
      answerError: $("answer-error"),
      answerMeta: $("answer-meta"),
      answerSources: $("answer-sources"),
      answerNoSources: $("answer-no-sources"),
      answerSourcesBox: $("answer-sources-box"),
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
