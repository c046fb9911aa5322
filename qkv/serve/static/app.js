// qkv serve: the page. Every number comes from the server's /api/trace (the JSON `qkv export`
// prints); this script only lays it out and, on hover, writes out how a cell is made from
// the trace's own numbers. No other site is contacted.
"use strict";

const MINUS = "\u2212";
const MAXCOLS = 16; // columns shown of a wide matrix (a trained model's 384 features)
const state = {meta: null, trace: null, head: 0, layer: null, seq: 0, timer: null,
               jobs: new Map(), polling: null};

const $ = (sel, root = document) => root.querySelector(sel);
function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids) if (kid !== null && kid !== undefined)
    e.append(typeof kid === "string" ? document.createTextNode(kid) : kid);
  return e;
}

// Numbers as qkv writes them: fixed decimals, a real minus sign, no "-0.00", -inf for null.
function fmt(x, digits = 2) {
  if (x === null || x === undefined) return MINUS + "\u221e";
  let s = x.toFixed(digits);
  if (s.startsWith("-") && Number(s) === 0) s = s.slice(1);
  return s.replace("-", MINUS);
}
function paren(x, d) { // a negative factor in brackets: 2.00 × (−0.50)
  const s = fmt(x, d);
  return s.startsWith(MINUS) ? "(" + s + ")" : s;
}

// ---- fields ---------------------------------------------------------------------------
const LABELS = {causal: "Causal mask", scale: "Scale by \u221ad\u2096", temperature: "Temperature",
  heads: "Heads", seed: "Seed", positions: "Positions", model: "Model", layer: "Layer",
  head: "Head", theme: "Theme", scene: "Scene", quality: "Quality", fmt: "Format",
  sound: "Sound", burn_captions: "Captions"};

function fieldBox(name, control, help) {
  control.id = "f-" + name;
  control.name = name;
  if (help) control.title = help;
  return el("div", {class: "field", "data-field": name},
    el("label", {for: "f-" + name, text: LABELS[name] || name}), control,
    el("div", {class: "err", id: "err-" + name, role: "alert"}));
}

function select(values, labels, value) {
  const s = el("select");
  values.forEach((v, i) => s.append(el("option", {value: v, text: labels[i]})));
  s.value = value;
  return s;
}

function buildFields(meta) {
  const math = $("#math");
  for (const o of meta.math) {
    let control;
    if (o.kind === "bool") {
      const own = o.default === null ? "the model's own" : (o.default ? "on" : "off");
      control = select(["", "true", "false"], [`default (${own})`, "on", "off"], "");
    } else if (o.choices) {
      control = select(o.choices, o.choices, o.default);
    } else {
      control = el("input", {type: "text", inputmode: "decimal", size: 6,
        placeholder: o.default === null ? (["layer", "head"].includes(o.name) ?
          "the rule" : "none") : String(o.default)});
    }
    math.append(fieldBox(o.name, control, o.help));
  }
  const themes = Object.keys(meta.themes);
  math.append(fieldBox("theme", select(themes, themes, meta.media.theme.default),
                       meta.media.theme.help));

  const media = $("#media-fields");
  const scenes = Object.keys(meta.scenes).filter(s => s !== "explainer");
  media.append(fieldBox("scene", select(scenes, scenes, "scores")));
  $("#f-scene").title = meta.scenes.scores;
  media.append(fieldBox("quality", select(meta.media.quality.choices,
    meta.media.quality.choices, "low"), meta.media.quality.help));
  media.append(fieldBox("fmt", select(meta.media.fmt.choices, meta.media.fmt.choices, "mp4"),
                        meta.media.fmt.help));
  media.append(fieldBox("sound", select(["narrated", "silent"], ["narrated", "silent"],
                                        "narrated")));
  media.append(fieldBox("burn_captions", select(["false", "true"], ["as a track",
                                                                    "burned in"], "false")));
  $("#f-scene").addEventListener("change", e => { e.target.title = meta.scenes[e.target.value]; });
}

function fields() {
  const f = {sentence: $("#f-sentence").value};
  for (const o of state.meta.math) {
    const v = $("#f-" + o.name).value.trim();
    if (v === "") continue;
    f[o.name] = o.kind === "bool" ? v === "true" : v;
  }
  f.theme = $("#f-theme").value;
  return f;
}

function showErrors(field, line) {
  document.querySelectorAll("#fields .err").forEach(e => { e.textContent = ""; });
  document.querySelectorAll("#fields .field").forEach(e => e.classList.remove("bad"));
  if (!line) return;
  const box = $("#err-" + field) || $("#err-sentence");
  box.textContent = line;
  box.parentElement.classList.add("bad");
}

// ---- the trace ------------------------------------------------------------------------
function changed() {
  clearTimeout(state.timer);
  state.timer = setTimeout(explore, 120);
}

async function explore() {
  const seq = ++state.seq;
  const f = fields();
  applyTheme(f.theme);
  let r, body;
  try {
    r = await fetch("/api/trace", {method: "POST", body: JSON.stringify(f),
                                    headers: {"Content-Type": "application/json"}});
    body = await r.json();
  } catch (err) {
    if (seq === state.seq) showErrors("sentence", "error: the server does not answer");
    return;
  }
  if (seq !== state.seq) return; // a newer change is on its way
  if (!r.ok) {
    showErrors(body.field, body.error);
    $("#stages").classList.add("stale");
    return;
  }
  showErrors(null, null);
  $("#stages").classList.remove("stale");
  state.trace = body;
  if (state.head >= body.heads.length) state.head = 0;
  state.layer = body.model ? body.model.layer - 1 : 0;
  drawStages();
}

function applyTheme(name) {
  const t = state.meta.themes[name] || state.meta.themes.dark;
  state.theme = t;
  const root = document.documentElement.style;
  for (const k of ["background", "text", "muted", "grid", "q", "k", "v", "accent"])
    root.setProperty("--" + k, t[k]);
  document.documentElement.dataset.theme = name;
}

// The theme's heat ramp (as scenes/theme.py: the square root spreads small weights).
function hexRgb(c) { return [1, 3, 5].map(i => parseInt(c.slice(i, i + 2), 16) / 255); }
function heat(t) {
  const stops = state.theme.heat.map(hexRgb);
  const x = Math.sqrt(Math.min(1, Math.max(0, t))) * (stops.length - 1);
  const k = Math.min(Math.floor(x), stops.length - 2);
  const rgb = stops[k].map((a, i) => a + (stops[k + 1][i] - a) * (x - k));
  return rgb;
}
function luminance(rgb) {
  const lin = rgb.map(c => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
}
function inkOn(rgb) {
  const L = luminance(rgb);
  const on = ink => { const l = luminance(hexRgb(ink));
    return (Math.max(l, L) + 0.05) / (Math.min(l, L) + 0.05); };
  return on(state.theme.dark_ink) >= on(state.theme.light_ink) ?
    state.theme.dark_ink : state.theme.light_ink;
}
const css = rgb => `rgb(${rgb.map(c => Math.round(c * 255)).join(",")})`;

// A matrix as a table whose cells are coloured by value: weights on [0, 1], anything else
// from its own smallest to its largest finite number.
function matrix(name, title, rows, cols, data, {range = null, digits = 2, note = ""} = {}) {
  const shown = Math.min(cols.length, MAXCOLS);
  const finite = data.flat().filter(x => x !== null);
  const [lo, hi] = range || [Math.min(...finite), Math.max(...finite)];
  const table = el("table", {class: "matrix", "data-m": name});
  const head = el("tr", {}, el("th", {class: "corner"}));
  cols.slice(0, shown).forEach(c => head.append(el("th", {scope: "col", text: c})));
  if (shown < cols.length) head.append(el("th", {class: "more", text: "\u2026"}));
  table.append(el("thead", {}, head));
  const tbody = el("tbody");
  data.forEach((row, i) => {
    const tr = el("tr", {}, el("th", {scope: "row", text: rows[i]}));
    row.slice(0, shown).forEach((x, j) => {
      const td = el("td", {"data-i": i, "data-j": j, "data-v": x === null ? "-inf" : String(x),
                           text: fmt(x, digits)});
      if (x === null) td.className = "masked";
      else {
        const rgb = heat(hi > lo ? (x - lo) / (hi - lo) : 0.5);
        td.style.background = css(rgb);
        td.style.color = inkOn(rgb);
      }
      tr.append(td);
    });
    if (shown < cols.length) tr.append(el("td", {class: "more", text: "\u2026"}));
    tbody.append(tr);
  });
  table.append(tbody);
  const more = shown < cols.length ? ` (the first ${shown} of ${cols.length} columns)` : "";
  return el("figure", {class: "stage", id: "stage-" + name},
    el("figcaption", {}, el("b", {text: title}), " ", el("span", {text: note + more})),
    el("div", {class: "scroll"}, table));
}

const dims = (k, prefix = "d") => Array.from({length: k}, (_, j) => prefix + (j + 1));

function drawStages() {
  const t = state.trace, root = $("#stages");
  const tokens = t.tokens.map((w, i) => `${i + 1} ${w}`);
  const h = t.heads[state.head];
  const dk = h.Q[0].length;
  const o = t.options;
  const parts = [];

  parts.push(el("figure", {class: "stage", id: "stage-tokens"},
    el("figcaption", {}, el("b", {text: "Tokens"}), " ",
       el("span", {text: t.model ? `${t.model.name}, layer ${t.model.layer}, head ` +
         `${t.model.head}` : `${t.tokens.length} tokens, ${t.feature_names.length} features`})),
    el("ol", {class: "tokens"}, ...t.tokens.map(w => el("li", {text: w})))));
  parts.push(matrix("X", "X: the embeddings", tokens, t.feature_names, t.X,
                    {note: "a row per token, a column per feature"}));
  if (t.P) {
    parts.push(matrix("P", "P: the positions", tokens, t.feature_names, t.P));
    parts.push(matrix("X_in", "X + P: what enters attention", tokens, t.feature_names, t.X_in));
  }
  if (t.heads.length > 1) {
    const pick = el("div", {class: "heads-pick"}, el("span", {text: "Head shown: "}));
    t.heads.forEach((_, k) => pick.append(el("button", {type: "button",
      class: k === state.head ? "on" : "", text: String(k + 1),
      onclick: () => { state.head = k; drawStages(); }})));
    parts.push(pick);
  }
  const trio = el("div", {class: "trio"});
  trio.append(matrix("Q", "Q = X W_q", tokens, dims(dk), h.Q, {note: "what each asks"}));
  trio.append(matrix("K", "K = X W_k", tokens, dims(dk), h.K, {note: "how each presents"}));
  trio.append(matrix("V", "V = X W_v", tokens, dims(h.V[0].length), h.V,
                     {note: "what each gives"}));
  parts.push(trio);
  if (h.Q_rope) {
    const turned = el("div", {class: "trio"});
    turned.append(matrix("Q_rope", "Q turned by position (RoPE)", tokens, dims(dk), h.Q_rope));
    turned.append(matrix("K_rope", "K turned by position (RoPE)", tokens, dims(dk), h.K_rope));
    parts.push(turned);
  }
  const grids = el("div", {class: "trio"});
  grids.append(matrix("scores", "Scores = Q K\u1d40", tokens, t.tokens, h.scores,
    {note: "row: query, column: key"}));
  const divisor = (o.scale ? Math.sqrt(dk) : 1) * o.temperature;
  grids.append(matrix("scaled", `Scaled = scores \u00f7 ${fmt(divisor, 2)}`, tokens, t.tokens,
    h.scaled, {note: (o.scale ? `\u221ad_k = \u221a${dk}` : "unscaled") +
                     (o.temperature !== 1 ? `, temperature ${o.temperature}` : "")}));
  grids.append(matrix("weights", "Weights = softmax(scaled)", tokens, t.tokens, h.weights,
    {range: [0, 1], note: "each row sums to 1"}));
  parts.push(grids);
  parts.push(matrix("output", "Output = weights \u00b7 V", tokens, dims(h.output[0].length),
                    h.output, {note: "each row a weighted sum of V's rows"}));
  if (t.Wo) parts.push(matrix("final", "All heads joined: concat(heads) W_o", tokens,
                              t.feature_names, t.output));
  if (t.heads.length > 1 || t.attention) parts.push(overview(t));
  if (t.next_tokens) parts.push(el("figure", {class: "stage", id: "stage-next"},
    el("figcaption", {}, el("b", {text: "The next word"}), " ",
       el("span", {text: "the model's likeliest guesses"})),
    el("table", {class: "matrix plain"}, ...t.next_tokens.map(c => el("tr", {},
      el("th", {text: c.token}), el("td", {text: (100 * c.probability).toFixed(1) + " %"}))))));
  root.replaceChildren(...parts);
}

function overview(t) {
  const layers = t.attention || [t.heads.map(h => h.weights)];
  const L = Math.min(state.layer, layers.length - 1);
  const fig = el("figure", {class: "stage", id: "stage-overview"});
  const cap = el("figcaption", {}, el("b", {text: "Every head"}), " ");
  if (t.attention) {
    const s = select(layers.map((_, i) => String(i)), layers.map((_, i) => "layer " + (i + 1)),
                     String(L));
    s.addEventListener("change", () => { state.layer = Number(s.value); drawStages(); });
    s.setAttribute("aria-label", "layer");
    cap.append(s);
  } else cap.append(el("span", {text: "their weights side by side"}));
  fig.append(cap);
  const row = el("div", {class: "maps"});
  layers[L].forEach((grid, k) => {
    const map = el("table", {class: "map", "data-m": "overview"});
    grid.forEach((r, i) => {
      const tr = el("tr");
      r.forEach((x, j) => {
        const rgb = heat(x === null ? 0 : x);
        tr.append(el("td", {"data-i": i, "data-j": j, "data-h": k, "data-v": String(x),
                            style: `background:${css(rgb)}`}));
      });
      map.append(tr);
    });
    const chosen = t.model ? (L === t.model.layer - 1 && k === t.model.head - 1)
                           : k === state.head;
    row.append(el("div", {class: "map-box" + (chosen ? " chosen" : "")}, map,
                  el("div", {text: "head " + (k + 1)})));
  });
  fig.append(row);
  return fig;
}

// ---- how a cell is made ---------------------------------------------------------------
// A sum written out: "a + b + ... = total", or "≈" where the terms as printed (rounded) do
// not add up to the total as printed (as the worksheets write it).
const rounded = (x, d) => Number(x.toFixed(d));
function sumOf(terms, printed, total, digits, limit = 8) {
  const shown = terms.slice(0, limit).join(" + ");
  const rest = terms.length > limit ? ` + \u2026 (${terms.length - limit} more)` : "";
  const exact = printed !== null && fmt(printed, digits) === fmt(total, digits);
  return `${shown}${rest} ${exact ? "=" : "\u2248"} ${fmt(total, digits)}`;
}
const added = xs => xs.reduce((a, b) => a + b, 0);

function explain(td) {
  const t = state.trace, h = t.heads[state.head];
  const m = td.closest("table").dataset.m, i = Number(td.dataset.i), j = Number(td.dataset.j);
  const w = t.tokens;
  const lines = [];
  const dot = (a, b) => a.map((x, k) => [x, b[k]]);
  if (m === "scores") {
    const Q = h.Q_rope || h.Q, K = h.K_rope || h.K;
    const pairs = dot(Q[i], K[j]);
    lines.push([`score of query \u201c${w[i]}\u201d and key \u201c${w[j]}\u201d`, "title"]);
    lines.push([(h.Q_rope ? "turned q \u00b7 turned k" : "q \u00b7 k") +
                " = the sum of its query's and key's entries multiplied"]);
    lines.push([sumOf(pairs.map(([a, b]) => `${paren(a, 2)} \u00d7 ${paren(b, 2)}`),
                      added(pairs.map(([a, b]) => rounded(a, 2) * rounded(b, 2))),
                      h.scores[i][j], 3), "math"]);
    lines.push([sumOf(pairs.map(([a, b]) => paren(a * b, 3)),
                      added(pairs.map(([a, b]) => rounded(a * b, 3))), h.scores[i][j], 3),
                "math"]);
  } else if (m === "scaled") {
    const o = t.options, dk = h.Q[0].length;
    lines.push([`scaled score, query \u201c${w[i]}\u201d, key \u201c${w[j]}\u201d`, "title"]);
    if (h.scaled[i][j] === null) {
      lines.push([`the mask: \u201c${w[j]}\u201d comes after \u201c${w[i]}\u201d, so the ` +
                  `query may not see it: ${MINUS}\u221e, weight 0`]);
    } else {
      const by = o.scale ? `\u221a${dk}` + (o.temperature !== 1 ? ` \u00d7 ${o.temperature}` : "")
                         : String(o.temperature);
      lines.push([`score \u00f7 ${by} = ${fmt(h.scores[i][j], 3)} \u00f7 ` +
                  `${fmt((o.scale ? Math.sqrt(dk) : 1) * o.temperature, 3)} = ` +
                  fmt(h.scaled[i][j], 3), "math"]);
    }
  } else if (m === "weights") {
    lines.push([`weight of key \u201c${w[j]}\u201d for query \u201c${w[i]}\u201d`, "title"]);
    if (h.scaled[i][j] === null) {
      lines.push(["masked: e^(\u2212\u221e) = 0, so the weight is 0"]);
    } else {
      lines.push(["e^(score \u2212 max) / sum of the row's e^(score \u2212 max)"]);
      lines.push([`e^(${fmt(h.scaled[i][j], 3)} ${MINUS} ${paren(h.row_max[i], 3)}) / ` +
                  `${fmt(h.exp_sums[i], 3)} = ${fmt(h.exps[i][j], 3)} / ` +
                  `${fmt(h.exp_sums[i], 3)} = ${fmt(h.weights[i][j], 3)}`, "math"]);
      lines.push([`row max ${fmt(h.row_max[i], 3)}; the row's e^ add up to ` +
                  fmt(h.exp_sums[i], 3)]);
    }
  } else if (m === "output") {
    lines.push([`output of \u201c${w[i]}\u201d, d${j + 1}`, "title"]);
    lines.push(["the weights of its row times each key's value, added"]);
    lines.push([sumOf(h.weights[i].map((a, k) => `${fmt(a, 2)} \u00d7 ${paren(h.V[k][j], 2)}`),
                      added(h.weights[i].map((a, k) => rounded(a, 2) * rounded(h.V[k][j], 2))),
                      h.output[i][j], 3), "math"]);
  } else if (m === "Q" || m === "K" || m === "V") {
    const W = h["W" + m.toLowerCase()], bias = h["b" + m.toLowerCase()];
    const X = t.X_in;
    lines.push([`${m} of \u201c${w[i]}\u201d, d${j + 1}`, "title"]);
    lines.push([`its row of ${t.P ? "X + P" : "X"} times column d${j + 1} of W_${
      m.toLowerCase()}, added` + (bias ? ", plus the bias" : "")]);
    const pairs = X[i].map((x, k) => [x, W[k][j]]).filter(([x, y]) => x !== 0 && y !== 0);
    const terms = pairs.map(([x, y]) => `${paren(x, 2)} \u00d7 ${paren(y, 2)}`);
    let printed = added(pairs.map(([x, y]) => rounded(x, 2) * rounded(y, 2)));
    if (bias) { terms.push(paren(bias[j], 2)); printed += rounded(bias[j], 2); }
    lines.push([sumOf(terms.length ? terms : ["0"], printed, h[m][i][j], 3), "math"]);
  } else if (m === "X") {
    lines.push([`\u201c${w[i]}\u201d, feature ${t.feature_names[j]}`, "title"]);
    lines.push([t.model ? "the model's trained embedding" : "the hand-designed embedding: how " +
                "much of this feature the word has", ""]);
    lines.push([fmt(t.X[i][j], 3), "math"]);
  } else if (m === "overview") {
    const k = Number(td.dataset.h);
    lines.push([`head ${k + 1}: \u201c${w[i]}\u201d looks at \u201c${w[j]}\u201d`, "title"]);
    lines.push([`weight ${fmt(Number(td.dataset.v === "null" ? 0 : td.dataset.v), 3)}`, "math"]);
  } else {
    return null;
  }
  return lines;
}

function hover(e) {
  const td = e.target.closest("td[data-i]");
  const tip = $("#tip");
  if (!td || !state.trace) { tip.hidden = true; return; }
  const lines = explain(td);
  if (!lines) { tip.hidden = true; return; }
  tip.replaceChildren(...lines.map(([text, kind]) => el("div", {class: kind || "", text})));
  tip.hidden = false;
  const r = td.getBoundingClientRect();
  const x = Math.min(r.left, window.innerWidth - tip.offsetWidth - 8);
  const below = r.bottom + 6 + tip.offsetHeight < window.innerHeight;
  tip.style.left = Math.max(8, x) + "px";
  tip.style.top = (below ? r.bottom + 6 : r.top - tip.offsetHeight - 6) + "px";
}

// ---- jobs -----------------------------------------------------------------------------
async function post(url, body) {
  const r = await fetch(url, {method: "POST", body: JSON.stringify(body),
                              headers: {"Content-Type": "application/json"}});
  return [r, await r.json()];
}

async function make(button) {
  const kind = button.dataset.kind;
  const f = fields();
  const body = {...f, kind};
  if (kind === "video") body.scene = $("#f-scene").value;
  if (kind === "video" || kind === "explainer") {
    body.quality = $("#f-quality").value;
    body.fmt = $("#f-fmt").value;
    body.silent = $("#f-sound").value === "silent";
    body.burn_captions = $("#f-burn_captions").value === "true";
  } else if (kind === "deck") {
    body.to = button.dataset.to;
    body.quality = $("#f-quality").value;
    body.silent = $("#f-sound").value === "silent";  // decks speak unless silent
  } else {
    delete body.theme;
  }
  $("#err-make").textContent = "";
  button.disabled = true;
  try {
    const [r, job] = await post("/api/jobs", body);
    if (!r.ok) $("#err-make").textContent = job.error;
    else { drawJob(job); poll(); }
  } catch (err) {
    $("#err-make").textContent = "error: the server does not answer";
  } finally {
    button.disabled = false;
  }
}

function size(bytes) {
  if (bytes === null) return "";
  return bytes < 1e6 ? `${Math.max(1, Math.round(bytes / 1e3))} kB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

function preview(job) {
  const names = job.files.map(f => f.name);
  const url = n => job.files.find(f => f.name === n).url;
  const video = names.find(n => /\.(mp4|webm)$/.test(n) && !/-\d+-[^/]*$/.test(n));
  if (video) {
    const vtt = video.replace(/\.[^.]+$/, ".vtt");
    const v = el("video", {controls: true, preload: "auto", src: url(video)});
    if (names.includes(vtt))
      v.append(el("track", {kind: "captions", srclang: "en", label: "Captions",
                            src: url(vtt), default: true}));
    return v;
  }
  const still = names.find(n => /\.(png|gif|svg)$/.test(n));
  if (still) return el("img", {src: url(still), alt: job.label});
  return null;
}

function drawJob(job) {
  let card = state.jobs.get(job.id);
  if (!card) {
    card = el("li", {class: "job", "data-id": job.id},
      el("div", {class: "job-head"}, el("b", {text: job.label}), el("span", {class: "badge"})),
      el("div", {class: "job-sentence", text: "\u201c" + job.sentence + "\u201d"}),
      el("div", {class: "job-progress"}), el("div", {class: "job-body"}));
    state.jobs.set(job.id, card);
    const list = $("#jobs");
    list.querySelector(".hint")?.remove();
    list.prepend(card);
  }
  if (card.dataset.state === job.state && job.state !== "running" && job.state !== "queued")
    return;
  card.dataset.state = job.state;
  $(".badge", card).textContent = job.state === "queued" ? `waiting (${job.position} in line)`
                                                          : job.state;
  const progress = $(".job-progress", card);
  if (job.state === "queued" || job.state === "running") {
    const what = job.state === "queued" ? "waits for the job before it" :
      [job.phase, job.animations ? `${job.animations} animations drawn` : "",
       job.elapsed !== null ? `${Math.round(job.elapsed)} s` : ""].filter(Boolean).join(" \u00b7 ");
    progress.replaceChildren(el("div", {class: "bar" + (job.state === "running" ? " busy" : "")},
                                el("i")), el("small", {text: what}),
      el("button", {type: "button", class: "cancel", text: "Cancel",
                    onclick: async e => { e.target.disabled = true;
                      const [r, body] = await post(`/api/jobs/${job.id}/cancel`, {});
                      if (!r.ok) $("#err-make").textContent = body.error; poll(); }}));
    return;
  }
  progress.replaceChildren();
  const body = $(".job-body", card);
  if (job.state === "failed") body.replaceChildren(el("div", {class: "err", text: job.error}));
  else if (job.state === "cancelled")
    body.replaceChildren(el("small", {text: "cancelled; nothing was kept"}));
  else {
    const links = el("ul", {class: "files"}, ...job.files.map(f => el("li", {},
      el("a", {href: f.url, download: f.name.split("/").pop(), text: f.name.split("/").pop()}),
      el("small", {text: " " + size(f.size)}))));
    body.replaceChildren(...[preview(job), links].filter(Boolean));
  }
}

async function poll() {
  clearTimeout(state.polling);
  let active = false;
  try {
    const r = await fetch("/api/jobs");
    const {jobs} = await r.json();
    for (const job of jobs.slice().reverse()) drawJob(job);
    active = jobs.some(j => j.state === "queued" || j.state === "running");
  } catch (err) {
    active = true; // the server may be restarting: ask again
  }
  if (active) state.polling = setTimeout(poll, 1000);
}

// ---- start ----------------------------------------------------------------------------
async function start() {
  state.meta = await (await fetch("/api/meta")).json();
  buildFields(state.meta);
  const sentence = $("#f-sentence");
  sentence.value = state.meta.sentence;
  $("#fields").addEventListener("input", changed);
  $("#fields").addEventListener("change", changed);
  document.querySelectorAll("#media button").forEach(b =>
    b.addEventListener("click", () => make(b)));
  $("#stages").addEventListener("mouseover", hover);
  $("#stages").addEventListener("mouseleave", () => { $("#tip").hidden = true; });
  applyTheme($("#f-theme").value);
  await explore();
  poll();
}

document.addEventListener("DOMContentLoaded", start);
