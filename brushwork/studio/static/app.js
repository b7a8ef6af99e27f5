// Brushwork studio: a page over the JSON API (see /docs). No build step, no framework.
"use strict";

const $ = (id) => document.getElementById(id);
const MAIN_OPTIONS = ["size", "steps", "style_weight", "content_weight", "tv_weight", "preserve_color", "init"];
const HIDDEN_OPTIONS = ["device", "max_memory"];  // the server decides where jobs run, and in how much memory
const NETWORK_OPTIONS = ["size", "preserve_color"];  // what fast and adain take
const state = { config: null, mode: "image", contents: [], video: null, styles: [], job: null, source: null, history: [], names: {} };
const GALLERY_PAGE = 24;  // jobs the gallery shows; summaries only, refreshed every few seconds

async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      message = typeof body.detail === "string" ? body.detail
        : body.detail.map((d) => `${d.loc.slice(1).join(".")}: ${d.msg}`).join("; ");
    } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response.status === 204 ? null : response.json();
}

// Every string from the server (file names, options, errors) reaches the page as text, never
// as HTML: elements are built with el() and filled with textContent. The server's
// Content-Security-Policy forbids inline script besides.
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

const imageUrl = (ref) => `/api/images/${encodeURIComponent(ref)}`;
// An upload is shown by the file name it came with (the server keeps it), a sample by its name.
const label = (ref) => ref.startsWith("sample:") ? ref.slice(7) : (state.names[ref] || `upload ${ref.slice(0, 6)}`);

function showError(message) { $("form-error").textContent = message || ""; }

// ---- the form ---------------------------------------------------------------------------
function fillSelect(select, choices, value) {
  select.replaceChildren();
  for (const choice of choices) select.add(new Option(choice, choice, false, choice === value));
}

function helpText(text) { return el("small", { class: "help" }, text); }  // visible: touch screens show no tooltips

function optionInput(name, info) {
  if (info.choices) { const s = document.createElement("select"); fillSelect(s, info.choices.filter((c) => c !== "image"), info.default); return s; }
  const input = document.createElement("input");
  if (typeof info.default === "number") { input.type = "number"; input.step = "any"; limitTo(input, info); }
  input.value = Array.isArray(info.default) ? info.default.join(" ") : (info.default ?? "");
  return input;
}

function limitTo(input, info) {  // the config's range, the same one the server enforces
  if (info.min !== undefined) input.min = info.min;
  if (info.max !== undefined) input.max = info.max;
}

function buildForm(config) {
  const opts = config.options;
  fillSelect($("quality"), Object.keys(config.presets), "default");
  for (const name of MAIN_OPTIONS) {
    const input = $(name);
    if (input.tagName === "SELECT") fillSelect(input, opts[name].choices.filter((c) => c !== "image"), opts[name].default);
    else { input.value = opts[name].default; limitTo(input, opts[name]); }
    input.title = opts[name].help;
    input.closest("label").append(helpText(opts[name].help));
  }
  $("size").max = config.limits.max_size;
  $("steps").max = config.limits.max_steps;
  const more = $("more-options");
  for (const [name, info] of Object.entries(opts)) {
    if (MAIN_OPTIONS.includes(name) || HIDDEN_OPTIONS.includes(name)) continue;
    const input = optionInput(name, info);
    input.id = `opt-${name}`;
    input.dataset.option = name;
    input.dataset.kind = Array.isArray(info.default) ? "list"
      : info.default === null ? (info.whole ? "whole" : "floats") : typeof info.default;  // whole: e.g. tile, empty = none
    more.append(el("label", { title: info.help }, name.replaceAll("_", " "), input, helpText(info.help)));
  }
  $("quality").onchange = () => applyPreset($("quality").value);
  fillSelect($("method"), config.methods, "optimize");
  fillSelect($("model"), config.models, config.models[0]);
  $("method").onchange = () => {
    const method = $("method").value;
    $("model-field").classList.toggle("hidden", method !== "fast");
    // the networks take only the size and the colour option; the rest steer the optimiser
    for (const name of [...MAIN_OPTIONS, "quality"]) if (!NETWORK_OPTIONS.includes(name)) $(name).disabled = method !== "optimize";
    $("more-options").closest("details").classList.toggle("hidden", method !== "optimize");
  };
  const limits = config.limits;
  $("video-limits").textContent = `Up to ${limits.max_video_seconds} s and ${(limits.max_video_pixels / 1e6).toFixed(1)} MP a frame; ` +
    `stylized at up to ${limits.max_video_size} px. MP4, WebM, MOV, MKV or GIF; the sound is kept.`;
  for (const radio of document.querySelectorAll("input[name=mode]")) radio.onchange = () => setMode(radio.value);
  for (const ref of config.samples.content) {
    $("content-picker").append(sampleButton(ref, (e) => chooseContent(ref, e.shiftKey || e.ctrlKey || e.metaKey)));
  }
  for (const ref of config.samples.style) $("style-picker").append(sampleButton(ref, () => addStyle(ref)));
}

function sampleButton(ref, onClick) {  // onClick gets the click event
  const button = el("button", { type: "button", title: label(ref), dataset: { ref } }, el("img", { alt: label(ref), src: imageUrl(ref) }));
  button.onclick = onClick;
  return button;
}

// The preset's values are shown in the fields they set, so that what the form says is what runs.
// Only the fields some preset sets are touched; the size and everything else the user chose stay.
function applyPreset(name) {
  const preset = state.config.presets[name] || {};
  const touched = new Set(Object.values(state.config.presets).flatMap((p) => Object.keys(p)));
  for (const option of touched) setField(option, option in preset ? preset[option] : state.config.options[option].default);
}

function setField(name, value) {
  const input = MAIN_OPTIONS.includes(name) ? $(name) : $(`opt-${name}`);
  if (input) input.value = Array.isArray(value) ? value.join(" ") : (value ?? "");
}

// Photos or a clip: the two modes share the styles and settings.
function setMode(mode) {
  state.mode = mode;
  $(`mode-${mode}`).checked = true;
  $("image-content").classList.toggle("hidden", mode !== "image");
  $("video-content").classList.toggle("hidden", mode !== "video");
  $("size").max = mode === "video" ? Math.min(state.config.limits.max_size, state.config.limits.max_video_size) : state.config.limits.max_size;
}

function showClip(video) {  // an uploaded clip, or a job's (re-run with tweaks)
  state.video = video;
  state.names[video.id] = video.name;
  $("clip").classList.remove("hidden");
  $("clip-poster").src = `/api/videos/${encodeURIComponent(video.id)}/poster`;
  const facts = video.frames ? ` · ${video.duration} s · ${video.frames} frames at ${video.fps} fps · ${video.width}×${video.height}` +
    (video.audio ? " · with sound" : " · no sound") : "";
  $("clip-info").textContent = `${video.name}${facts}`;
}

async function uploadClip(file) {
  const form = new FormData();
  form.append("file", file);
  showError("Checking the clip…");
  showClip(await api("/api/videos", { method: "POST", body: form }));
  showError("");
}

// One content, or several (shift/ctrl-click, or several files uploaded at once): one result each.
function chooseContent(ref, add = false) {
  if (add) state.contents = state.contents.includes(ref) ? state.contents.filter((r) => r !== ref) : [...state.contents, ref];
  else state.contents = [ref];
  if (!state.contents.length) state.contents = [ref];
  if (!ref.startsWith("sample:") && !$("content-picker").querySelector(`[data-ref="${CSS.escape(ref)}"]`)) {
    $("content-picker").append(sampleButton(ref, (e) => chooseContent(ref, e.shiftKey || e.ctrlKey || e.metaKey)));
  }
  for (const b of $("content-picker").children) b.classList.toggle("chosen", state.contents.includes(b.dataset.ref));
  $("content-count").textContent = state.contents.length > 1 ? `${state.contents.length} photos chosen: one result each` : "";
}

function addStyle(ref, weight = 1, mask = null) {
  state.styles.push({ ref, weight, mask });
  renderStyles();
}

function renderStyles() {
  const list = $("styles");
  list.replaceChildren();
  state.styles.forEach((style, index) => {
    const weight = el("input", { type: "number", min: "0", step: "any", value: String(style.weight), class: "style-weight" });
    const mask = el("input", { type: "file", accept: "image/*", class: "style-mask", title: "white: styled, black: left alone" });
    const remove = el("button", { type: "button", title: "remove" }, "✕");
    weight.onchange = (e) => { style.weight = Number(e.target.value); };
    mask.onchange = async (e) => {
      try { style.mask = (await upload(e.target.files[0])).id; renderStyles(); showError(""); } catch (err) { showError(`mask: ${err.message}`); }
    };
    remove.onclick = () => { state.styles.splice(index, 1); renderStyles(); };
    list.append(el("li", {}, el("img", { alt: label(style.ref), src: imageUrl(style.ref) }),
      el("span", {}, label(style.ref), el("br"), "weight ", weight, " mask ", mask, style.mask ? " (mask set)" : ""), remove));
  });
}

async function upload(file) {
  const form = new FormData();
  form.append("file", file);
  const image = await api("/api/images", { method: "POST", body: form });
  state.names[image.id] = image.name;
  return image;
}

function readOptions() {  // what differs from the chosen preset's values is sent
  const options = {};
  const defaults = state.config.options, preset = state.config.presets[$("quality").value] || {};
  const base = (name) => (name in preset ? preset[name] : defaults[name].default);
  for (const name of MAIN_OPTIONS) {
    const input = $(name);
    const value = input.type === "number" ? Number(input.value) : input.value;
    if (String(value) !== String(base(name))) options[name] = value;
  }
  for (const input of $("more-options").querySelectorAll("[data-option]")) {
    const name = input.dataset.option, raw = input.value.trim(), info = defaults[name];
    const shown = Array.isArray(base(name)) ? base(name).join(" ") : String(base(name) ?? "");
    if (raw === shown) continue;
    if (input.dataset.kind === "list") options[name] = raw.split(/[\s,]+/).filter(Boolean);
    else if (input.dataset.kind === "floats") options[name] = raw ? raw.split(/[\s,]+/).map(Number) : null;
    else if (input.dataset.kind === "whole") { if (raw) options[name] = Number(raw); }
    else if (input.dataset.kind === "number") options[name] = Number(raw);
    else options[name] = raw;
  }
  return options;
}

function loadIntoForm(request, labels) {  // "re-run with tweaks": the job's settings go back into the form
  Object.assign(state.names, labels);
  setMode(request.video ? "video" : "image");
  if (request.video) { showClip({ id: request.video, name: labels[request.video] || "clip" }); $("temporal").checked = request.temporal; }
  request.contents.forEach((ref, i) => chooseContent(ref, i > 0));
  $("method").value = request.method || "optimize";
  if (request.model) $("model").value = request.model;
  $("method").onchange();
  state.styles = request.styles.map((ref, i) => ({ ref, weight: request.style_weights ? request.style_weights[i] : 1,
                                                    mask: request.masks ? request.masks[i] : null }));
  renderStyles();
  $("quality").value = request.quality || "default";
  for (const [name, info] of Object.entries(state.config.options)) setField(name, info.default);
  applyPreset($("quality").value);
  for (const [name, value] of Object.entries(request.options)) setField(name, value);
  window.scrollTo({ top: 0, behavior: "smooth" });
}

async function start() {
  showError("");
  const method = $("method").value, video = state.mode === "video";
  if (video && !state.video) return showError("Upload a clip first.");
  if (!video && !state.contents.length) return showError("Choose or upload a content photo first.");
  if (!state.styles.length && method !== "fast") return showError("Choose or upload at least one style.");
  const body = { styles: method === "fast" ? [] : state.styles.map((s) => s.ref), quality: $("quality").value,
                 options: readOptions(), method };
  if (method === "fast") body.model = $("model").value;
  if (video) { body.video = state.video.id; body.temporal = $("temporal").checked; }
  else if (state.contents.length > 1) body.contents = state.contents; else body.content = state.contents[0];
  if (!video && method !== "fast" && state.styles.some((s) => s.weight !== 1)) body.style_weights = state.styles.map((s) => s.weight);
  if (!video && method !== "fast" && state.styles.some((s) => s.mask)) body.masks = state.styles.map((s) => s.mask);
  try {
    const job = await api("/api/jobs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    watch(job);
    refreshGallery();
    $("live").scrollIntoView({ behavior: "smooth", block: "start" });  // on a narrow screen the progress is below the form
  } catch (err) { showError(err.message); }
}

// ---- live progress ----------------------------------------------------------------------
function clock(seconds) { const s = Math.round(seconds); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`; }

function watch(job) {
  if (state.source) state.source.close();
  state.job = job;
  state.history = job.history ? job.history.slice() : [];
  $("download").classList.add("hidden");
  $("result-video").classList.add("hidden");
  $("result-video").removeAttribute("src");
  $("preview").classList.remove("hidden");
  $("cancel").disabled = !["queued", "running"].includes(job.status);
  $("status").textContent = `Job ${job.id.slice(0, 8)}: ${job.status}`;
  if (job.preview_url) $("preview").src = `${job.preview_url}?t=${Date.now()}`;
  drawChart();
  const source = new EventSource(`/api/jobs/${job.id}/events`);
  state.source = source;
  source.addEventListener("progress", (e) => {
    const p = JSON.parse(e.data);
    if (p.losses) {  // an optimiser step (of an image, or of a video's frame)
      state.history.push([state.history.length + 1, p.losses.total ?? Object.values(p.losses).reduce((a, b) => a + b, 0)]);
      const losses = Object.entries(p.losses).filter(([k]) => k !== "total").map(([k, v]) => `${k} ${v.toPrecision(3)}`).join(", ");
      const which = p.frames ? `Frame ${p.frame}/${p.frames} · ` : p.items > 1 ? `Image ${p.item}/${p.items} · ` : "";
      $("status").textContent = `${which}Step ${p.step}/${p.total_steps} · scale ${p.scale}/${p.scales} (${p.width}×${p.height}) · ` +
        `${clock(p.eta)} left · ${losses}`;
    } else {  // a video frame done
      $("status").textContent = `Frame ${p.frame}/${p.frames} done · ${p.fps.toFixed(2)} frames/s · ${clock(p.eta)} left` +
        (p.resumed ? " · (kept from before a restart)" : "");
    }
    if (p.preview !== state.lastPreview) { state.lastPreview = p.preview; $("preview").src = `/api/jobs/${job.id}/preview?v=${p.preview}&t=${Date.now()}`; }
    drawChart();
  });
  source.addEventListener("status", (e) => {
    const s = JSON.parse(e.data);
    if (s.status === "queued") $("status").textContent = `Job ${job.id.slice(0, 8)} is queued.`;
    if (s.status === "running") $("status").textContent = `Job ${job.id.slice(0, 8)} is starting…`;
    if (["done", "failed", "cancelled"].includes(s.status)) {
      source.close();
      $("cancel").disabled = true;
      $("status").textContent = s.status === "failed" ? `Failed: ${s.error}` : `Job ${job.id.slice(0, 8)}: ${s.status}.`;
      if (s.status === "done" && job.request.video) {
        $("result-video").src = `/api/jobs/${job.id}/result?t=${Date.now()}`;
        $("result-video").classList.remove("hidden");
        $("preview").classList.add("hidden");
        $("download").href = `/api/jobs/${job.id}/result`;
        $("download").textContent = "Download MP4";
        $("download").classList.remove("hidden");
      } else if (s.status === "done") {
        $("preview").src = `/api/jobs/${job.id}/result?t=${Date.now()}`;
        const several = job.request.contents.length > 1;
        $("download").href = several ? `/api/jobs/${job.id}/results.zip` : `/api/jobs/${job.id}/result`;
        $("download").textContent = several ? `Download all ${job.request.contents.length} (zip)` : "Download";
        $("download").classList.remove("hidden");
      }
      refreshGallery();
    }
  });
}

function drawChart() {
  const canvas = $("loss-chart"), ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const points = state.history.filter(([, v]) => v > 0);
  canvas.classList.toggle("hidden", points.length < 2);  // the networks have no loss to chart
  if (points.length < 2) return;
  const xs = points.map((p) => p[0]), ys = points.map((p) => Math.log10(p[1]));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const X = (x) => 30 + (x - x0) / Math.max(1, x1 - x0) * (canvas.width - 40);
  const Y = (y) => 10 + (y1 - y) / Math.max(1e-9, y1 - y0) * (canvas.height - 30);
  ctx.strokeStyle = "#2f5fd0"; ctx.lineWidth = 2; ctx.beginPath();
  points.forEach(([x], i) => (i ? ctx.lineTo(X(x), Y(ys[i])) : ctx.moveTo(X(x), Y(ys[i]))));
  ctx.stroke();
  ctx.fillStyle = "#687082"; ctx.font = "11px system-ui";
  ctx.fillText(`total loss (log) ${Math.pow(10, y1).toPrecision(3)} → ${Math.pow(10, ys[ys.length - 1]).toPrecision(3)}`, 34, canvas.height - 6);
}

async function cancel() {
  if (!state.job) return;
  try { await api(`/api/jobs/${state.job.id}/cancel`, { method: "POST" }); } catch (err) { showError(err.message); }
}

// ---- queue and gallery ------------------------------------------------------------------
function summary(request) {
  const shown = request.video ? [`${label(request.video)} (video)`]
    : request.contents.length > 2 ? [label(request.contents[0]), `${request.contents.length - 1} more`] : request.contents.map(label);
  const styles = request.method === "fast" ? `${request.model} network` : request.styles.map(label).join(" + ");
  const parts = [`${shown.join(", ")} × ${styles}`];
  if (request.method && request.method !== "optimize") parts.push(request.method);
  if (request.video && !request.temporal) parts.push("frame by frame");
  if (request.quality && request.quality !== "default") parts.push(request.quality);
  for (const [k, v] of Object.entries(request.options)) parts.push(`${k}=${Array.isArray(v) ? v.join(",") : v}`);
  return parts.join(" · ");
}

async function refreshGallery() {
  let jobs;
  try { jobs = await api(`/api/jobs?limit=${GALLERY_PAGE}`); } catch (_) { return; }
  for (const job of jobs) Object.assign(state.names, job.labels);
  const gallery = $("gallery");
  gallery.replaceChildren();
  for (const job of jobs) {
    const where = job.position === 0 ? "running" : job.position ? `queued, #${job.position} in line` : job.status;
    const thumb = job.request.video ? job.preview_url : (job.result_url || job.preview_url);
    const buttons = el("div", { class: "buttons" });
    const card = el("div", { class: "card", dataset: { job: job.id } },
      thumb ? el("img", { alt: `job ${job.id.slice(0, 8)}`, src: `${thumb}?t=${job.finished || job.progress?.preview || 0}` }) : el("img", { alt: "" }),
      el("div", {}, el("span", { class: `badge ${job.status}` }, where), new Date(job.created * 1000).toLocaleString()),
      el("div", { class: "summary" }, summary(job.request)),
      job.note ? el("div", { class: "note" }, job.note) : null,
      job.error ? el("div", { class: "note error" }, job.error) : null,
      buttons);
    const add = (text, onClick) => { const b = document.createElement("button"); b.textContent = text; b.onclick = onClick; buttons.append(b); };
    add("Watch", async () => watch(await api(`/api/jobs/${job.id}`)));  // the full record, loss history included
    const link = (href, text) => buttons.append(el("a", { class: "button", href, download: "" }, text));
    if (job.zip_url) link(job.zip_url, `Download all (${job.result_urls.length})`);
    if (job.result_urls.length > 1) job.result_urls.forEach((href, i) => link(href, `#${i + 1}`));
    else if (job.result_url) link(job.result_url, job.request.video ? "Download MP4" : "Download");
    add("Re-run with tweaks", () => loadIntoForm(job.request, job.labels));
    if (["queued", "running"].includes(job.status)) add("Cancel", () => api(`/api/jobs/${job.id}/cancel`, { method: "POST" }).then(refreshGallery));
    else add("Delete", () => api(`/api/jobs/${job.id}`, { method: "DELETE" }).then(refreshGallery));
    gallery.append(card);
  }
}

async function init() {
  state.config = await api("/api/config");
  buildForm(state.config);
  chooseContent(state.config.samples.content[0]);
  for (const [id, role] of [["content-file", "content"], ["style-file", "style"]]) {
    $(id).onchange = async (e) => {
      const files = [...e.target.files];
      e.target.value = "";
      for (const [i, file] of files.entries()) {
        try {
          const image = await upload(file);
          if (role === "content") chooseContent(image.id, i > 0); else addStyle(image.id);
          showError("");
        } catch (err) { showError(`${role} ${file.name}: ${err.message}`); }
      }
    };
  }
  $("video-file").onchange = async (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (file) { try { await uploadClip(file); } catch (err) { showError(`clip ${file.name}: ${err.message}`); } }
  };
  $("start").onclick = start;
  $("cancel").onclick = cancel;
  await refreshGallery();
  setInterval(refreshGallery, 3000);  // other browsers' jobs and the queue
}

init().catch((err) => showError(err.message));
