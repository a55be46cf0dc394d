// The explorer page: plain JavaScript, no libraries, no network beyond this server.
'use strict';

const $ = (id) => document.getElementById(id);
const ACTION_COLOURS = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2',
                        '#ff9da6', '#9d755d'];
const METRICS = ['apa', 'alf', 'ttar', 'ri16', 'entropy', 'entropy_normalized'];
const state = {
  session: null, bag: 0, index: 0, total: 0, version: -1,
  steps: {action: [], status: [], transition: []},
  errors: {errors: [], computed: 0, transitions: 0, model_version: -1},
  modelVersion: -1, playing: false, request: 0, detail: null, refreshing: false,
};

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body && body.error ? body.error : response.statusText);
  return body;
}

function banner(message) {
  $('banner').hidden = !message;
  $('banner').textContent = message || '';
}

function fmt(value, digits = 4) {
  if (value === null || value === undefined) return '–';
  if (typeof value !== 'number') return String(value);
  if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e5)) {
    return value.toExponential(2);
  }
  return Number(value.toPrecision(digits)).toString();
}

// Times are shown from the bag's start (its first image or command), in seconds.
function seconds(ns) {
  if (ns === null || ns === undefined) return '–';
  const bag = state.session && state.session.bags[state.bag];
  const origin = bag && bag.start_ns ? bag.start_ns : 0;
  return ((ns - origin) / 1e9).toFixed(3) + ' s';
}

// -- the session: bags, model, training --------------------------------------------------

async function refreshSession() {
  if (state.refreshing) return;  // the previous poll is still on its way
  state.refreshing = true;
  try { await updateSession(); } finally { state.refreshing = false; }
}

async function updateSession() {
  let session;
  try { session = await api('/api/session'); } catch (error) { banner(error.message); return; }
  const first = state.session === null;
  state.session = session;
  const select = $('bag-select');
  if (first && session.watching) $('follow').checked = true;
  if (select.options.length !== session.bags.length) {
    const known = select.options.length;
    select.innerHTML = '';
    for (const bag of session.bags) {
      const option = document.createElement('option');
      option.value = bag.id;
      option.textContent = `${bag.name} (${bag.robot_type})`;
      select.appendChild(option);
    }
    // a watched run folder: show its newest bag, and move on to a new one while following
    if (session.watching && session.bags.length && (first || !known || $('follow').checked)) {
      chooseBag(session.bags[session.bags.length - 1].id);
    }
    select.value = String(state.bag);
  }
  const model = session.models[state.bag] || session.model;
  showModel(model);
  const bag = session.bags[state.bag];
  if (!bag) { $('bag-info').textContent = 'waiting for a bag…'; return; }
  const space = bag.action_space.map((a) => `${a.index}: ${a.label}`).join(', ');
  $('bag-info').textContent = `${bag.robot_type} · actions ${space} (${bag.action_space_source})`
    + ` · ${bag.steps} steps, ${bag.transitions} transitions`;
  $('live-info').hidden = !bag.recording;
  $('live-info').className = 'pill live';
  banner(bag.error || (model.state === 'error' ? model.error : ''));
  if (!$('train-out').value) $('train-out').value = session.train_out || '';
  renderTraining(session.training);
  if (bag.steps !== state.total || bag.version !== state.version) await loadSteps(bag);
  if (model.version !== state.modelVersion) {
    state.modelVersion = model.version;
    if (state.detail) showStep(state.index);
  }
}

function showModel(model) {
  const info = $('model-info');
  if (model.state === 'ready' && !model.mismatch) {
    info.textContent = `model: ${model.updates ?? '?'} updates`;
    info.className = 'pill ok';
  } else {
    info.textContent = 'model: ' + (model.mismatch || model.error || model.state);
    info.className = ['none', 'loading'].includes(model.state) && !model.mismatch ? 'pill'
      : 'pill bad';
  }
  info.title = model.checkpoint || 'no checkpoint';
}

async function loadSteps(bag) {
  const data = await api(`/api/bags/${state.bag}/steps?since_version=${state.version}`);
  for (const key of ['action', 'status', 'transition']) {
    state.steps[key] = state.steps[key].slice(0, data.start).concat(data[key]);
  }
  state.version = data.version;
  const grew = data.total > state.total;
  state.total = data.total;
  $('step-total').textContent = String(Math.max(0, state.total - 1));
  $('scrubber').max = String(Math.max(0, state.total - 1));
  $('step-input').max = String(Math.max(0, state.total - 1));
  if (!$('train-stop').dataset.touched) $('train-stop').value = String(Math.max(0, state.total - 1));
  drawTimeline();
  if (state.total && (state.detail === null || ($('follow').checked && grew))) {
    showStep($('follow').checked ? state.total - 1 : state.index);
  }
}

// -- one step -----------------------------------------------------------------------------

function imageUrl(name) {
  return `/api/bags/${state.bag}/steps/${state.index}/images/${name}.png`
    + `?m=${state.modelVersion}&v=${state.version}`;
}

function loaded(img, url) {
  img.parentElement.hidden = !url;  // no picture: no empty frame either
  return new Promise((resolve) => {
    if (!url) { img.removeAttribute('src'); resolve(); return; }
    img.onload = () => resolve();
    img.onerror = () => { img.removeAttribute('src'); resolve(); };
    img.src = url;
  });
}

async function showStep(index) {
  if (!state.total) return;
  index = Math.max(0, Math.min(state.total - 1, index));
  state.index = index;
  const request = ++state.request;
  const started = performance.now();
  $('scrubber').value = String(index);
  $('step-input').value = String(index);
  $('step-index').textContent = String(index);
  drawTimeline();
  drawErrors();
  let detail;
  try { detail = await api(`/api/bags/${state.bag}/steps/${index}`); } catch (error) {
    banner(error.message); return;
  }
  if (request !== state.request) return;  // a newer step was asked for meanwhile
  state.detail = detail;
  renderFacts(detail);
  const waits = [
    loaded($('img-frame'), detail.frame !== null ? imageUrl('frame') : ''),
    loaded($('img-next'), detail.next_frame !== null ? imageUrl('next') : ''),
    loaded($('img-reconstruction'), detail.model ? imageUrl('reconstruction') : ''),
  ].concat(renderPredictions(detail));
  $('recon-error').textContent = detail.model ? `MSE ${fmt(detail.model.reconstruction_error)}`
    : '';
  await Promise.all(waits);
  if (request !== state.request) return;
  const ms = Math.round(performance.now() - started);
  $('load-time').textContent = `${ms} ms`;
  document.body.dataset.shownStep = String(index);
  if ($('sweep-section').open) loadSweep();
  if ($('attention-section').open) loadAttention();
}

function renderFacts(detail) {
  const c = detail.command, s = detail.state;
  const error = detail.model && detail.model.errors && detail.action !== null
    ? fmt(detail.model.errors[detail.action]) : '–';
  const rows = [
    ['action', detail.action === null ? 'not in the action space' : `${detail.action}`
      + ` (${detail.action_label})`],
    ['command', `left ${fmt(c.left)}, right ${fmt(c.right)}, ${fmt(c.duration_s)} s`],
    ['issued', seconds(c.stamp_ns)],
    ['status', s.status + (s.reason ? ` (${s.reason})` : '')],
    ['applied', `left ${fmt(s.left)}, right ${fmt(s.right)}`],
    ['ran', `${seconds(s.start_ns)} → ${seconds(s.end_ns)} (${fmt((s.end_ns - s.start_ns) / 1e9)}`
      + ' s)'],
    ['frames', `${seconds(detail.frame_stamp_ns)} → ${seconds(detail.next_frame_stamp_ns)}`],
    ['error', error],
  ];
  const table = $('step-table');
  table.innerHTML = '';
  for (const [name, value] of rows) {
    const row = table.insertRow();
    row.insertCell().textContent = name;
    row.insertCell().textContent = value;
    row.dataset.fact = name;
  }
  $('step-note').textContent = detail.note;
}

function renderPredictions(detail) {
  const box = $('predictions');
  box.innerHTML = '';
  if (!detail.model) {
    const model = state.session && (state.session.models[state.bag] || state.session.model);
    box.textContent = detail.frame === null ? 'no frame before this command'
      : `no predictions: ${model ? (model.mismatch || model.error || 'model ' + model.state)
        : 'no model'}`;
    return [];
  }
  const bag = state.session.bags[state.bag];
  const waits = [];
  detail.model.images.filter((n) => n.startsWith('prediction-')).forEach((name, action) => {
    const row = document.createElement('div');
    row.className = 'row';
    const label = bag.action_space[action] ? bag.action_space[action].label : '';
    const error = detail.model.errors ? ` · MSE ${fmt(detail.model.errors[action])}` : '';
    for (const [kind, caption] of [['prediction', `predicted after ${action}: ${label}${error}`],
                                   ['difference', `prediction ${action} − actual`]]) {
      if (kind === 'difference' && detail.next_frame === null) continue;
      const figure = document.createElement('figure');
      if (action === detail.action) figure.className = 'taken';
      const img = document.createElement('img');
      img.dataset.kind = kind;
      img.dataset.action = String(action);
      img.alt = caption;
      const text = document.createElement('figcaption');
      text.textContent = caption + (action === detail.action && kind === 'prediction'
        ? ' (taken)' : '');
      figure.append(img, text);
      row.appendChild(figure);
      waits.push(loaded(img, imageUrl(`${kind}-${action}`)));
    }
    box.appendChild(row);
  });
  return waits;
}

// -- the timeline and the error plot ------------------------------------------------------

function sizeCanvas(canvas) {
  const width = canvas.clientWidth || 600, height = canvas.clientHeight || 100;
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  return canvas.getContext('2d');
}

function drawTimeline() {
  const canvas = $('timeline');
  const context = sizeCanvas(canvas);
  const {width, height} = canvas;
  context.clearRect(0, 0, width, height);
  const n = state.steps.action.length;
  if (!n) return;
  for (let x = 0; x < width; x++) {
    const i = Math.min(n - 1, Math.floor(x * n / width));
    const action = state.steps.action[i];
    context.fillStyle = action === null ? '#999' : ACTION_COLOURS[action % ACTION_COLOURS.length];
    context.fillRect(x, 0, 1, height - 5);
    if (state.steps.status[i] !== 'COMPLETED') {
      context.fillStyle = '#c00';
      context.fillRect(x, height - 5, 1, 5);
    }
  }
  context.fillStyle = '#000';
  context.fillRect(Math.floor(state.index * width / n), 0, 2, height);
}

function drawErrors() {
  const canvas = $('error-plot');
  const context = sizeCanvas(canvas);
  const {width, height} = canvas;
  context.clearRect(0, 0, width, height);
  const values = state.errors.errors;
  const n = state.total;
  canvas.dataset.computed = String(state.errors.computed);
  if (!n) return;
  let top = -Infinity, low = Infinity;
  for (const v of values) if (v !== null) { top = Math.max(top, v); low = Math.min(low, v); }
  if (top === -Infinity) { top = 1; low = 0; }
  if (low > 0.5 * top) low = Math.max(0, low - 0.5 * (top - low));  // zoom in on a flat curve
  else low = 0;
  const span = Math.max(top - low, 1e-12);
  context.fillStyle = '#1f77b4';
  for (let x = 0; x < width; x++) {
    const from = Math.floor(x * n / width), to = Math.max(from + 1, Math.floor((x + 1) * n / width));
    let high = null;
    for (let i = from; i < to && i < values.length; i++) {
      if (values[i] !== null && (high === null || values[i] > high)) high = values[i];
    }
    if (high !== null) {
      const bar = Math.max(1, Math.round((high - low) / span * (height - 14)));
      context.fillRect(x, height - bar, 1, bar);
    }
  }
  context.fillStyle = '#000';
  context.font = '11px sans-serif';
  context.fillText(`${fmt(low)} … ${fmt(top)}`, 4, 11);
  context.fillStyle = '#e90';
  context.fillRect(Math.floor(state.index * width / n), 0, 2, height);
}

function stepAt(canvas, event) {
  const rect = canvas.getBoundingClientRect();
  const fraction = (event.clientX - rect.left) / rect.width;
  return Math.floor(Math.max(0, Math.min(0.9999, fraction)) * state.total);
}

async function refreshErrors() {
  const model = state.session && (state.session.models[state.bag] || state.session.model);
  if (!model || model.state !== 'ready' || model.mismatch) return;
  const stale = state.errors.model_version !== model.version
    || state.errors.computed < state.errors.transitions || state.errors.errors.length < state.total;
  if (!stale) return;
  try { state.errors = await api(`/api/bags/${state.bag}/errors`); } catch (error) { return; }
  $('error-progress').textContent = `${state.errors.computed} of ${state.errors.transitions}`
    + ' computed';
  drawErrors();
}

// -- sweep, counterfactuals, attention ------------------------------------------------------

function metricsTable(rows, header) {
  const table = document.createElement('table');
  table.className = 'metrics';
  const head = table.insertRow();
  for (const name of header) {
    const cell = document.createElement('th');
    cell.textContent = name;
    head.appendChild(cell);
  }
  for (const row of rows) {
    const line = table.insertRow();
    for (const value of row) line.insertCell().textContent = fmt(value);
  }
  return table;
}

async function loadSweep() {
  const box = $('sweep');
  const index = state.index;
  let data;
  try { data = await api(`/api/bags/${state.bag}/steps/${index}/sweep`); } catch (error) {
    box.textContent = error.message; return;
  }
  if (index !== state.index) return;
  box.innerHTML = '';
  const rows = data.actions.map((label, a) => [`${a}: ${label}${a === data.taken ? ' (taken)'
    : ''}`, data.errors ? data.errors[a] : null]);
  box.appendChild(metricsTable(rows, ['action', 'error against the actual next frame']));
  if (data.window) {
    const facts = document.createElement('p');
    facts.textContent = `Over steps ${data.window[0]}–${data.window[1]}: predictions of`
      + ` different actions differ by ${fmt(data['sens/diversity'])} (relative`
      + ` ${fmt(data['sens/relative_diversity'])}); shuffling the actions moves the prediction by`
      + ` ${fmt(data['cf/shuffle_change'])}, setting them all to action 0 by`
      + ` ${fmt(data['cf/zero_change'])} (mean squared change of the predicted latents; 0: the`
      + ' actions are ignored).' + (data.varied_actions ? '' : ' All actions here are the same:'
      + ' shuffling cannot change them.');
    facts.id = 'counterfactual-text';
    box.appendChild(facts);
  }
}

async function loadAttention() {
  const box = $('attention');
  const index = state.index;
  let data;
  try { data = await api(`/api/bags/${state.bag}/steps/${index}/attention`); } catch (error) {
    box.textContent = error.message; return;
  }
  if (index !== state.index) return;
  box.innerHTML = '';
  if (!data.available) { box.textContent = data.reason; return; }
  const rows = data.layers.map((_, i) => [`layer ${i}`].concat(
    METRICS.map((m) => data.metrics[`attn/layer${i}/${m}`])));
  rows.push(['mean'].concat(METRICS.map((m) => data.metrics[`attn/${m}`])));
  box.appendChild(metricsTable(rows, ['', 'APA', 'ALF', 'TTAR', 'RI@16', 'entropy',
                                      'entropy (norm.)']));
  const row = document.createElement('div');
  row.className = 'row';
  data.layers.forEach((layer, i) => {
    for (const [name, caption] of [[layer.images[0], `layer ${i}: attention (keys →, queries ↓)`],
                                   [layer.images[1], `layer ${i}: where the prediction looks;`
                                     + ` on the action ${fmt(layer.action_mass)}`]]) {
      const figure = document.createElement('figure');
      figure.className = 'attention-layer';
      const img = document.createElement('img');
      img.src = imageUrl(name);
      img.alt = caption;
      const text = document.createElement('figcaption');
      text.textContent = caption;
      figure.append(img, text);
      row.appendChild(figure);
    }
  });
  box.appendChild(row);
}

// -- training -------------------------------------------------------------------------------

function renderTraining(job) {
  const status = $('train-status');
  if (!job) { status.textContent = 'no training job'; return; }
  const r = job.request;
  $('train-progress').max = r.updates;
  $('train-progress').value = job.updates_done;
  status.dataset.state = job.state;
  status.textContent = `${job.state}: ${job.updates_done} of ${r.updates} updates on steps `
    + `${r.start}–${r.stop - 1} (${job.transitions} transitions), loss ${fmt(job.loss)}, `
    + `${fmt(job.elapsed_s, 3)} s` + (job.saved ? ` · saved ${job.saved}` : '')
    + (job.error ? ` · ${job.error}` : '');
  const canvas = $('train-plot');
  const context = sizeCanvas(canvas);
  context.clearRect(0, 0, canvas.width, canvas.height);
  if (job.losses.length < 2) return;
  const losses = job.losses.map((p) => p[1]);
  const high = Math.max(...losses), low = Math.min(...losses);
  context.strokeStyle = '#1f77b4';
  context.beginPath();
  job.losses.forEach(([update, loss], i) => {
    const x = update / Math.max(1, r.updates) * canvas.width;
    const y = canvas.height - 4 - (loss - low) / Math.max(1e-12, high - low) * (canvas.height - 8);
    if (i) context.lineTo(x, y); else context.moveTo(x, y);
  });
  context.stroke();
}

async function startTraining(event) {
  event.preventDefault();
  const threshold = document.querySelector('input[name=train-mode]:checked').value === 'threshold';
  const body = {
    bag: state.bag, start: Number($('train-start').value), stop: Number($('train-stop').value) + 1,
    updates: Number($('train-updates').value), batch_size: Number($('train-batch').value),
    loss: $('train-loss').value, threshold: threshold ? Number($('train-threshold').value) : null,
    out: $('train-out').value,
  };
  try {
    renderTraining(await api('/api/training', {method: 'POST', body: JSON.stringify(body),
                                               headers: {'Content-Type': 'application/json'}}));
  } catch (error) { $('train-status').textContent = error.message; }
}

async function control(action) {
  try { renderTraining(await api(`/api/training/${action}`, {method: 'POST'})); } catch (error) {
    $('train-status').textContent = error.message;
  }
}

// -- playing and keys -----------------------------------------------------------------------

async function play() {
  state.playing = !state.playing;
  $('play').textContent = state.playing ? 'pause' : 'play';
  while (state.playing && state.index < state.total - 1) {
    const started = performance.now();
    await showStep(state.index + 1);
    const wait = 1000 / Number($('speed').value) - (performance.now() - started);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  state.playing = false;
  $('play').textContent = 'play';
}

function onKey(event) {
  const target = event.target;
  const typing = target.tagName === 'SELECT' || target.tagName === 'TEXTAREA'
    || (target.tagName === 'INPUT' && !['checkbox', 'radio', 'button'].includes(target.type));
  if (typing) return;  // the scrubber and the number fields take their own keys
  const jump = event.shiftKey ? 10 : 1;
  const keys = {
    ArrowRight: () => showStep(state.index + jump), ArrowLeft: () => showStep(state.index - jump),
    Home: () => showStep(0), End: () => showStep(state.total - 1), ' ': play,
    f: () => { $('follow').checked = !$('follow').checked; },
  };
  const action = keys[event.key];
  if (action) { event.preventDefault(); action(); }
}

function chooseBag(id) {
  if (id === state.bag && state.version !== -1) return;
  state.bag = id;
  state.version = -1; state.total = 0; state.detail = null; state.index = 0;
  state.steps = {action: [], status: [], transition: []};
  state.errors = {errors: [], computed: 0, transitions: 0, model_version: -1};
}

function wire() {
  $('first').onclick = () => showStep(0);
  $('back').onclick = () => showStep(state.index - 1);
  $('forward').onclick = () => showStep(state.index + 1);
  $('last').onclick = () => showStep(state.total - 1);
  $('play').onclick = play;
  $('scrubber').oninput = () => showStep(Number($('scrubber').value));
  $('step-input').onchange = () => showStep(Number($('step-input').value));
  $('timeline').onclick = (event) => showStep(stepAt($('timeline'), event));
  $('error-plot').onclick = (event) => showStep(stepAt($('error-plot'), event));
  $('bag-select').onchange = () => {
    chooseBag(Number($('bag-select').value));
    refreshSession();
  };
  $('sweep-section').ontoggle = () => { if ($('sweep-section').open) loadSweep(); };
  $('attention-section').ontoggle = () => { if ($('attention-section').open) loadAttention(); };
  $('train-form').onsubmit = startTraining;
  $('train-start-here').onclick = () => { $('train-start').value = String(state.index); };
  $('train-stop-here').onclick = () => {
    $('train-stop').value = String(state.index);
    $('train-stop').dataset.touched = 'yes';
  };
  $('train-stop').oninput = () => { $('train-stop').dataset.touched = 'yes'; };
  for (const action of ['pause', 'resume', 'cancel', 'finish']) {
    $(`train-${action}`).onclick = () => control(action);
  }
  document.addEventListener('keydown', onKey);
  window.addEventListener('resize', () => { drawTimeline(); drawErrors(); });
}

async function main() {
  wire();
  await refreshSession();
  setInterval(refreshSession, 300);
  setInterval(refreshErrors, 1000);
}

main();
