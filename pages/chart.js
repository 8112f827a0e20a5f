// A Plotly figure drawn in place (pages/chart.py): Streamlit calls this module's default export
// on every rerun that changes the figure, with the same parentElement; the chart div stays and
// Plotly.react redraws it, so a new ε never shows a blank frame. plotly.js is the plotly
// package's own plotly.min.js, loaded once per page through a <script> tag (data.plotly_url).
// With data.preview the figure also moves when a slider's value changes, before the server has
// answered (see themedPreview). The chart's box counts in its dataset what it did: `received`
// (figures from the server), `serverDraws`, `quickDraws` (of those, drawn without react),
// `previewDraws` (moves on the slider alone); `shown` is the slider value the figure shows.
// An arrow key on the watched slider moves the figure before Streamlit even handles the key
// (see keysAhead).

// Streamlit's light chart theme, as its st.plotly_chart applies it: the placeholder colours of
// its Python "streamlit" template, and the layout it merges into every figure's template.
const PLACEHOLDERS = {
  "#000001": "#0068c9", "#000002": "#83c9ff", "#000003": "#ff2b2b", "#000004": "#ffabab",
  "#000005": "#29b09d", "#000006": "#7defa1", "#000007": "#ff8700", "#000008": "#ffd16a",
  "#000009": "#6d3fc0", "#000010": "#d5dae5", "#000011": "#e4f5ff", "#000012": "#c7ebff",
  "#000013": "#a6dcff", "#000014": "#83c9ff", "#000015": "#60b4ff", "#000016": "#3d9df3",
  "#000017": "#1c83e1", "#000018": "#0068c9", "#000019": "#0054a3", "#000020": "#004280",
  "#000021": "#7d353b", "#000022": "#bd4043", "#000023": "#ff4b4b", "#000024": "#ff8c8c",
  "#000025": "#ffc7c7", "#000026": "#a6dcff", "#000027": "#60b4ff", "#000028": "#1c83e1",
  "#000029": "#0054a3", "#000030": "#004280", "#000032": "#29b09d", "#000033": "#ff2b2b",
  "#000034": "#0068c9", "#000035": "#e6eaf1", "#000036": "#808495", "#000037": "#262730",
  "#000038": "#FFFFFF", "#000039": "rgba(47, 45, 43, 0.1)", "#000040": "rgba(252, 252, 251, 1)",
};
const FONT = '"Source Sans", sans-serif';
const GREY = "#808495", GRID = "#e6eaf1", BG = "#FFFFFF";
const THEME = {
  font: {color: GREY, family: FONT, size: 12, weight: 400},
  title: {color: "#2F2D2B", subtitleColor: "#2F2D2B",
          font: {family: FONT, size: 16, color: "#2F2D2B"}, pad: {l: 4}, xanchor: "left", x: 0},
  legend: {title: {font: {size: 12, color: GREY}, side: "top"}, valign: "top",
           bordercolor: "transparent", borderwidth: 0, font: {size: 12, color: "#262730"}},
  paper_bgcolor: BG, plot_bgcolor: BG,
  yaxis: {ticklabelposition: "outside", zerolinecolor: GRID,
          title: {font: {color: GREY, size: 14}, standoff: 24}, tickcolor: GRID,
          tickfont: {color: GREY, size: 12}, gridcolor: GRID, minor: {gridcolor: GRID},
          automargin: true},
  xaxis: {zerolinecolor: GRID, gridcolor: GRID, showgrid: false,
          tickfont: {color: GREY, size: 12}, tickcolor: GRID,
          title: {font: {color: GREY, size: 14}, standoff: 20}, minor: {gridcolor: GRID},
          zeroline: false, automargin: true,
          rangeselector: {bgcolor: BG, bordercolor: GRID, borderwidth: 1, x: 0}},
  margin: {pad: 8, r: 0, l: 0},
  hoverlabel: {bgcolor: BG, bordercolor: "#DCD8D4",
               font: {color: GREY, family: FONT, size: 12}},
  coloraxis: {colorbar: {thickness: 16, xpad: 24, ticklabelposition: "outside",
                         outlinecolor: "transparent", outlinewidth: 8, len: 0.75, y: 0.5745,
                         title: {font: {color: GREY, size: 14}},
                         tickfont: {color: GREY, size: 12}}},
};
const DEFAULT_HEIGHT = 450;

const isObject = v => v !== null && typeof v === "object" && !Array.isArray(v);
const merge = (into, from) => {
  for (const [k, v] of Object.entries(from)) {
    into[k] = isObject(v) && isObject(into[k]) ? merge(into[k], v) : (isObject(v) ? merge({}, v) : v);
  }
  return into;
};
const emptySelection = () => ({points: [], point_indices: [], box: [], lasso: []});
const snake = k => k.replace(/[A-Z]/g, c => "_" + c.toLowerCase());

function loadPlotly(url) {
  if (!window.__advplayPlotly) {
    window.__advplayPlotly = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = url;
      script.async = true;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => {
        window.__advplayPlotly = null;  // let the next rerun try again
        reject(new Error(`plotly.js did not load from ${url}`));
      };
      document.head.appendChild(script);
    });
  }
  return window.__advplayPlotly;
}

const bold = t => {
  const title = typeof t === "string" ? {text: t} : t;
  return {...title, text: `<b>${typeof title.text === "string" ? title.text : ""}</b>`};
};
const colours = text => text.replace(/#0000[0-4]\d/g, m => PLACEHOLDERS[m] || m);

// The figure as st.plotly_chart would draw it: theme colours and layout, a bold title, and for
// a selectable chart a click that selects a point (Streamlit's own defaults).
function themed(specText, select) {
  const spec = JSON.parse(colours(specText));
  const layout = spec.layout = isObject(spec.layout) ? spec.layout : {};
  const template = layout.template = isObject(layout.template) ? layout.template : {};
  template.layout = merge(isObject(template.layout) ? template.layout : {}, THEME);
  if (layout.title !== undefined && layout.title !== null) layout.title = bold(layout.title);
  if (select) {
    layout.clickmode = layout.clickmode || "event+select";
    layout.hovermode = layout.hovermode || "closest";
    layout.dragmode = layout.dragmode || "pan";
  }
  return spec;
}

// A selection event as st.plotly_chart reports it to Python: points with snake_case keys.
function selectionOf(event) {
  const selection = emptySelection();
  const indices = new Set();
  for (const p of event.points || []) {
    const point = {};
    for (const [k, v] of Object.entries(p)) {
      if (["data", "fullData", "xaxis", "yaxis"].includes(k) || typeof v === "function") continue;
      if (isObject(v) && Object.values(v).some(x => typeof x === "object" && x !== null)) continue;
      point[snake(k)] = v;
    }
    if (p.data && p.data.legendgroup) point.legendgroup = p.data.legendgroup;
    selection.points.push(point);
    if (Number.isInteger(p.pointIndex)) indices.add(p.pointIndex);
    for (const i of p.pointIndices || []) indices.add(i);
  }
  selection.point_indices = [...indices];
  return selection;
}

// A new figure that only moves points (an ε step: the same traces at new positions, a new
// title, slider labels and frames) is drawn without Plotly.react. React takes any new data
// array as a reason to redraw everything (axes, map image, legend, buttons, slider, every
// trace: 50-180 ms for the boundary map on a loaded machine); an animation step with
// redraw: false re-plots only the traces it names, as the ▶ Play frames do, and a relayout of
// the title and slider redraws only those. Anything else (a trace added, a style, the axes,
// the config) goes through Plotly.react, and so does any figure the visitor has changed since
// it was drawn (a frame played, a pan or zoom, a legend click, a selected point): the quick
// path compares with the last figure sent, which then is not what is shown.
const MOVING = new Set(["x", "y", "customdata", "text", "hovertext"]);  // per trace: animated
const RELAYOUT = new Set(["title", "sliders", "shapes", "annotations"]);  // each redrawn alone
const RESTYLE = new Set(["name"]);  // per trace, restyled: a legend entry (the missed points' count)

// The figure's parts as JSON text, to tell which changed (Plotly keeps and edits the objects).
function partsOf(spec) {
  const each = o => Object.fromEntries(Object.entries(o || {}).map(
    ([k, v]) => [k, JSON.stringify(v)]));
  return {traces: (spec.data || []).map(each), layout: each(spec.layout),
          frames: JSON.stringify(spec.frames || []), frameCount: (spec.frames || []).length};
}

// The plan that turns the parts shown (`before`) into `after`, or null if it takes more than the
// quick path does; value(i, k) and layoutValue(k) give after's values.
function planFrom(before, after, value, layoutValue) {
  if (!before || before.traces.length !== after.traces.length) return null;
  const traces = [], updates = [], styles = [];
  for (let i = 0; i < after.traces.length; i++) {
    const a = before.traces[i], b = after.traces[i], update = {}, style = {};
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (a[k] === b[k]) continue;
      if (!(MOVING.has(k) || RESTYLE.has(k)) || b[k] === undefined) return null;
      (RESTYLE.has(k) ? style : update)[k] = value(i, k);
    }
    if (Object.keys(update).length) { traces.push(i); updates.push(update); }
    if (Object.keys(style).length) styles.push([i, style]);
  }
  const layout = {};
  for (const k of new Set([...Object.keys(before.layout), ...Object.keys(after.layout)])) {
    if (before.layout[k] === after.layout[k]) continue;
    const v = layoutValue(k);
    if (!RELAYOUT.has(k) || (k === "title" && v === undefined)) return null;
    layout[k] = v || [];
  }
  return {traces, updates, styles, layout, frames: before.frames !== after.frames,
          oldFrames: before.frameCount};
}

// Whether the figure shown is still the last one drawn: no frame played, no pan or zoom, no
// legend click (state.touched), no click's selection (which react clears).
function untouched(state) {
  return !state.touched && !(state.gd.data || []).some(
    t => t.selectedpoints !== undefined && t.selectedpoints !== null);
}

function quickPlan(state, after, spec) {
  if (!untouched(state)) return null;
  return planFrom(state.parts, after, (i, k) => spec.data[i][k], k => spec.layout[k]);
}

// A preview (pages/chart.py's `previews`): {slider: the selector of a slider's thumb, value: the
// slider value this figure is for, values: {"0.35": diff, ...}}, each diff the quick changes
// that make this figure the server's figure at that value. When the slider's value changes to
// one of them, the figure moves at once, before the server has answered: the diff is applied
// to the parts of the server's last figure (never to a preview on top of a preview), so what
// is shown is exactly that value's figure; when the server's figure for it comes, the quick
// path finds nothing to move but the ▶ Play frames. Nothing is previewed on a figure the
// visitor changed (a frame played, a pan, a selected point): that waits for the server.
function themedPreview(text) {
  const preview = JSON.parse(colours(text));
  for (const diff of Object.values(preview.values || {})) {
    if (diff.layout.title !== undefined) diff.layout.title = bold(diff.layout.title);
  }
  return preview;
}

const same = (a, b) => Math.abs(a - b) < 1e-9;

// The watched slider's value as the visitor has set it (before the server has heard of it):
// the value of an arrow key keysAhead holds back, else the thumb's.
function sliderValue(preview, state) {
  if (state && Number.isFinite(state.ahead)) return state.ahead;
  const el = preview && document.querySelector(preview.slider);
  if (!el) return NaN;
  return parseFloat(el.getAttribute("aria-valuenow") ?? el.value);
}

// Arrow keys ahead of Streamlit. Streamlit handles a key on its slider in one long task (its
// handler and a re-render of the whole page: 45-70 ms on a laptop CPU, more on a loaded one),
// and the browser paints only after it, so a preview that waits for the thumb to change is
// painted after all of that. Here a capture listener on the window sees the key first: when a
// chart watching that slider has a preview for the value the key will give, it holds the key
// back, moves the figure, and hands the key on to Streamlit once that frame is painted (the
// same key, dispatched on the same thumb, in order with any key held behind it). So the points
// move in the frame after the press and the thumb a frame later; the value Streamlit sets, and
// sends to the server, is the one it would have set anyway. Keys with a modifier (Shift: a
// page step), keys on a slider no chart previews, and keys the previews cannot show go to
// Streamlit at once, as ever. No key is held longer than HOLD_MS.
const STEP_KEYS = {ArrowRight: 1, Right: 1, ArrowUp: 1, Up: 1,
                   ArrowLeft: -1, Left: -1, ArrowDown: -1, Down: -1};
const HOLD_MS = 250;

// The value a range input's arrow key gives from `from`: one step up or down, on the grid of
// steps from min, within min and max (as Streamlit's slider snaps it).
function stepped(input, from, direction) {
  const min = parseFloat(input.min), max = parseFloat(input.max), step = parseFloat(input.step);
  if (![min, max, step, from].every(Number.isFinite) || step <= 0) return NaN;
  const places = (String(step).split(".")[1] || "").length;
  const snapped = min + Math.round((from + direction * step - min) / step) * step;
  return Number(Math.min(max, Math.max(min, snapped)).toFixed(places));
}

// Resolves once the browser has painted what is drawn now: its next frame, then a task.
const painted = () => new Promise(resolve => requestAnimationFrame(() => setTimeout(resolve, 0)));

function keysAhead() {
  if (window.__advplayKeys) return window.__advplayKeys;
  const keys = window.__advplayKeys = {charts: new Set(), held: [], ahead: NaN, timer: 0};
  // Hand the held keys on, one per task: Streamlit's slider steps from the value of its last
  // render, so two keys in one task would both step from the same value.
  const handOn = () => {
    keys.handing = true;
    clearTimeout(keys.timer);
    keys.timer = 0;
    const next = keys.held.shift();
    if (next) {
      const {event, target} = next, init = {bubbles: true, cancelable: true, composed: true};
      for (const k of ["key", "code", "location", "repeat", "shiftKey", "ctrlKey", "altKey",
                       "metaKey"]) init[k] = event[k];
      // The thumb Streamlit had; if a rerun replaced it, the element that has the focus now.
      (target.isConnected ? target : document.activeElement || document.body).dispatchEvent(
        new KeyboardEvent(event.type, init));
    }
    if (keys.held.length) { setTimeout(handOn, 0); return; }
    keys.handing = false;
    keys.ahead = NaN;
    for (const state of keys.charts) state.ahead = NaN;
  };
  const release = () => { if (!keys.handing) handOn(); };
  // Only the first chart in the page that can move (on /boundary the map) moves in the key's
  // own frame, and Streamlit gets the keys as soon as that frame is painted, so that its run
  // starts as early as it can: each Plotly call costs a frame's worth of work on a laptop CPU,
  // and the map is what the room watches. The other charts, and the map's Play slider, follow
  // the thumb as ever (watchSlider) once Streamlit has moved it.
  const hold = (event, chart) => {
    event.stopImmediatePropagation();
    event.preventDefault();
    keys.held.push({event, target: event.target});
    if (!keys.timer) keys.timer = setTimeout(release, HOLD_MS);
    if (!chart) return;
    chart.slowLater = true;
    draw(chart).catch(() => {}).then(painted).then(() => {
      chart.slowLater = false;
      release();
    });
  };
  // The chart that can show now what `event` (an arrow key on a watched slider) will set, told
  // the value, or null; keys.ahead is the value the slider will have once the held keys are
  // handed on.
  const moveAhead = event => {
    const input = event.target;
    if (event.type !== "keydown" || !(input instanceof HTMLInputElement)
        || input.type !== "range" || !STEP_KEYS[event.key]
        || event.shiftKey || event.ctrlKey || event.altKey || event.metaKey) return null;
    const charts = [...keys.charts].filter(s => {
      if (!s.box.isConnected) { keys.charts.delete(s); return false; }
      return s.preview && input.matches(s.preview.slider);
    });
    if (!charts.length) return null;
    const value = stepped(input, Number.isFinite(keys.ahead) ? keys.ahead
      : parseFloat(input.value), STEP_KEYS[event.key]);
    const [chart = null] = charts
      .filter(s => !s.busy && untouched(s) && !same(value, s.shown)
                   && diffAt(s.preview, value) !== undefined)
      .sort((a, b) => a.box.compareDocumentPosition(b.box) & Node.DOCUMENT_POSITION_FOLLOWING
        ? -1 : 1);
    if (chart || keys.held.length) keys.ahead = value;
    if (chart) chart.ahead = value;
    return chart;
  };
  const onKey = event => {
    if (!event.isTrusted) return;  // a held key handed on, or a script's
    const waiting = keys.held.length > 0;  // a key behind a held one waits too, in order
    const chart = moveAhead(event);
    if (chart || waiting) hold(event, chart);
  };
  // Keyup too, so that a key held behind another reaches Streamlit in the order it came.
  addEventListener("keydown", onKey, true);
  addEventListener("keyup", onKey, true);
  return keys;
}

// The diff to show at slider value `value`: null for the figure's own value (no change),
// undefined for a value with no preview.
function diffAt(preview, value) {
  if (!preview || !Number.isFinite(value)) return undefined;
  if (same(value, preview.value)) return null;
  const hit = Object.keys(preview.values).find(k => same(parseFloat(k), value));
  return hit === undefined ? undefined : preview.values[hit];
}

// `base` (a server figure's parts) with a preview's diff applied.
function ahead(base, diff) {
  if (!diff) return base;
  const traces = base.traces.map((t, i) => {
    const d = diff.traces[String(i)];
    if (!d) return t;
    const out = {...t};
    for (const [k, v] of Object.entries(d)) out[k] = JSON.stringify(v);
    return out;
  });
  const layout = {...base.layout};
  for (const [k, v] of Object.entries(diff.layout)) layout[k] = JSON.stringify(v);
  return {...base, traces, layout};
}

const parsedPlan = (before, after) => planFrom(
  before, after, (i, k) => JSON.parse(after.traces[i][k]),
  k => after.layout[k] === undefined ? undefined : JSON.parse(after.layout[k]));

const bump = (box, name) => { box.dataset[name] = String(Number(box.dataset[name] || 0) + 1); };

// Watch the preview's slider: any change of a thumb's value (the attribute filter keeps this
// to sliders) matching the selector redraws. One observer per chart, on the whole document,
// so a thumb Streamlit replaces is watched too.
function watchSlider(state) {
  if (state.watching) return;
  state.watching = new MutationObserver(records => {
    if (!state.box.isConnected) { state.watching.disconnect(); return; }
    const selector = state.preview && state.preview.slider;
    if (selector && records.some(r => r.target.matches && r.target.matches(selector))) {
      void draw(state);
    }
  });
  state.watching.observe(document.body, {
    subtree: true, attributes: true, attributeFilter: ["aria-valuenow", "aria-valuetext", "value"]});
}

// One preview step: the slider's value now, shown if it has a diff and is not shown yet.
// Returns false when there is nothing (more) to do.
async function previewStep(state, Plotly) {
  const value = sliderValue(state.preview, state);
  if ((same(value, state.shown) && !state.partial) || !untouched(state)) return false;
  const diff = diffAt(state.preview, value);
  if (diff === undefined) return false;  // no preview here: the server's figure comes as ever
  // The ▶ Play frames are this figure's own ε's: a preview takes them away (a Play before the
  // server's figure comes would end on the old ε's points), the server's figure brings its own.
  let target = diff ? {...ahead(state.serverParts, diff), frames: "[]", frameCount: 0}
    : state.serverParts;
  // The key's own frame (keysAhead) leaves the Play slider's labels for the next one: redrawn
  // with the title, they cost that frame 6-10 ms on a laptop CPU.
  const partial = state.slowLater && !same(value, state.shown);
  if (partial) target = {...target, layout: {...target.layout, sliders: state.parts.layout.sliders}};
  const plan = parsedPlan(state.parts, target);
  if (!plan) return false;
  state.drawing = true;
  try {
    await quick(Plotly, state.gd, plan, plan.frames ? JSON.parse(target.frames) : []);
  } finally {
    state.drawing = false;
  }
  state.parts = target;
  state.partial = partial;
  if (!same(value, state.shown)) bump(state.box, "previewDraws");
  state.shown = value;
  state.box.dataset.shown = String(value);
  return true;
}

async function quick(Plotly, gd, plan, frames) {
  // The legend and the layout first, then the points: each call draws at once, in this task,
  // but an animation step's promise resolves only on the next animation frame, so with the
  // points first the title and the rest were drawn a frame later than the points.
  // Plotly.restyle takes a value per trace: wrapped in a list, a name is one trace's name.
  for (const [i, style] of plan.styles) {
    await Plotly.restyle(gd, Object.fromEntries(Object.entries(style).map(([k, v]) => [k, [v]])), [i]);
  }
  if (Object.keys(plan.layout).length) await Plotly.relayout(gd, plan.layout);
  if (plan.traces.length) {
    await Plotly.animate(gd, {data: plan.updates, traces: plan.traces},
                         {frame: {duration: 0, redraw: false}, transition: {duration: 0},
                          mode: "immediate"});
  }
  if (plan.frames) {
    // One at a time: deleteFrames sorts a list of indices as strings (10 before 2).
    for (let i = plan.oldFrames - 1; i >= 0; i--) await Plotly.deleteFrames(gd, [i]);
    if (frames.length) await Plotly.addFrames(gd, frames);
  }
}

function widthOf(box) {
  return Math.max(Math.floor(box.getBoundingClientRect().width), 150);
}

async function draw(state) {
  if (state.busy) return;  // the running draw picks up state.want when it is done
  state.busy = true;
  try {
    const Plotly = await loadPlotly(state.want.plotly_url);
    for (;;) {
      if (state.want === state.drawnData) {
        if (await previewStep(state, Plotly)) continue;
        break;
      }
      const data = state.want;
      const select = data.select || null;
      const signature = JSON.stringify([data.config, select]) + data.spec;
      if (signature === state.signature) {  // a rerun that left this figure as it was
        state.drawnData = data;
        continue;
      }
      const spec = themed(data.spec, select);
      const preview = data.preview ? themedPreview(data.preview) : null;
      const height = spec.layout.height || DEFAULT_HEIGHT;
      spec.layout.width = widthOf(state.box);
      spec.layout.height = height;
      state.box.style.height = `${height}px`;
      const config = {displaylogo: false, showSendToCloud: false, ...data.config};
      const remove = new Set(config.modeBarButtonsToRemove || []);
      ["lasso2d", "select2d", "sendChartToCloud"].forEach(b => remove.add(b));
      config.modeBarButtonsToRemove = [...remove];
      const parts = partsOf(spec);
      const configured = JSON.stringify([data.config, select]);
      let plan = configured === state.configured ? quickPlan(state, parts, spec) : null;
      // The visitor has moved the slider on since this figure's run began (two quick presses):
      // draw it straight at the slider's value if its preview has that value, so the points
      // do not step back to this figure's ε on the way.
      let shown = preview ? preview.value : NaN, target = parts;
      const value = sliderValue(preview, state), diff = plan && diffAt(preview, value);
      if (diff) {
        const further = {...ahead(parts, diff), frames: "[]", frameCount: 0};  // as previewStep
        const direct = parsedPlan(state.parts, further);
        if (direct) { plan = direct; target = further; shown = value; }
      }
      state.drawing = true;  // Plotly's events from here on are ours, not the visitor's
      try {
        if (plan) {
          await quick(Plotly, state.gd, plan, target === parts ? spec.frames || [] : []);
        } else {
          await Plotly.react(state.gd, {data: spec.data || [], layout: spec.layout, config,
                                        frames: spec.frames || []});
        }
      } finally {
        state.drawing = false;
      }
      state.parts = target;
      state.partial = false;
      state.serverParts = parts;
      state.preview = preview;
      state.shown = shown;
      state.configured = configured;
      state.touched = false;
      state.box.dataset.quickDraws = String(Number(state.box.dataset.quickDraws || 0) + !!plan);
      state.box.dataset.shown = String(shown);
      bump(state.box, "serverDraws");
      state.figure = spec;
      state.signature = signature;
      state.drawnData = data;
      state.select = select;
      if (!state.listening) listen(state, Plotly);
      if (preview) { watchSlider(state); keysAhead().charts.add(state); }
    }
  } catch (error) {
    const note = state.box.querySelector(".chart-error") || state.box.appendChild(
      Object.assign(document.createElement("p"), {className: "chart-error"}));
    note.textContent = `The figure could not be drawn: ${error.message}`;
    throw error;
  } finally {
    state.busy = false;
  }
}

function listen(state, Plotly) {
  state.listening = true;
  const send = selection => {
    const text = JSON.stringify(selection);
    if (!state.select || text === state.sent) return;
    state.sent = text;
    state.setStateValue("selection", selection);
  };
  state.gd.on("plotly_selected", event => { if (event) send(selectionOf(event)); });
  state.gd.on("plotly_deselect", () => send(emptySelection()));
  // What the visitor changes in the figure (a frame, a pan or zoom, a legend click): the next
  // figure is then drawn with Plotly.react, which puts everything back as the figure says.
  const touch = () => { if (!state.drawing) state.touched = true; };
  ["plotly_animatingframe", "plotly_relayout", "plotly_restyle"].forEach(e => state.gd.on(e, touch));
  // The width follows the column, as st.plotly_chart's does.
  new ResizeObserver(() => {
    const width = widthOf(state.box);
    if (state.figure && width !== state.gd._fullLayout?.width) {
      state.figure.layout.width = width;
      Plotly.relayout(state.gd, {width});
    }
  }).observe(state.box);
}

export default function (component) {
  const {data, parentElement, setStateValue} = component;
  let box = parentElement.querySelector(":scope > .stPlotlyChart");
  if (!box) {
    box = document.createElement("div");
    box.className = "stPlotlyChart";
    box.dataset.testid = "stPlotlyChart";
    box.style.width = "100%";
    const gd = document.createElement("div");
    box.appendChild(gd);
    parentElement.appendChild(box);
    box.__chart = {box, gd, want: null, drawnData: null, busy: false, listening: false,
                   preview: null, shown: NaN, ahead: NaN};
  }
  const state = box.__chart;
  bump(box, "received");  // a new figure from the server reached the chart
  state.want = data;
  state.setStateValue = setStateValue;
  if (!state.select && data.select) state.sent = JSON.stringify(emptySelection());
  void draw(state);
}
