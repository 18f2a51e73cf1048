// The page: the library compiled to wasm (pkg/, built by web/serve.sh) trains on the browser's GPU through WebGPU.
// This file only wires the form, the loop and the drawing; every number comes from the library (web/src/page.rs).
import init, { Page } from './pkg/gpu_mnist_web.js';

// The seed recipes of the README, as `gpu-mnist train` flags would give them.
const PRESETS = {
  'keras-mlp': {
    title: "Keras's MLP: 784-512-512-10 ReLU, dropout 0.2, RMSprop",
    hidden: [512, 512], activation: 'relu', loss: 'xent', optimizer: 'rmsprop',
    hypers: { lr: 0.001, alpha: 0.9, eps: 1e-7, 'eps-in-sqrt': 1 }, init: 'glorot-uniform',
    lr_schedule: 'constant', batch_size: 128, epochs: 20, seed: 1, dropout: 0.2, input_dropout: 0, input_dropout: 0, train_samples: 0,
  },
  'adam-128': {
    title: '784-128-10 ReLU, Adam',
    hidden: [128], activation: 'relu', loss: 'xent', optimizer: 'adam', hypers: { lr: 0.001 }, init: null,
    lr_schedule: 'linear', batch_size: 32, epochs: 5, seed: 42, dropout: 0, input_dropout: 0, train_samples: 0,
  },
  'nielsen': {
    title: "Nielsen's network: 784-30-10 sigmoid, quadratic cost, SGD η = 3",
    hidden: [30], activation: 'sigmoid', loss: 'mse', optimizer: 'sgd', hypers: { lr: 3 }, init: null,
    lr_schedule: 'linear', batch_size: 10, epochs: 30, seed: 42, dropout: 0, input_dropout: 0, train_samples: 0,
  },
};

const $ = (id) => document.getElementById(id);
const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
let page = null;          // the library's side (Page)
let running = false;      // whether the training loop runs
let report = null;        // the last report of the run
let trainLosses = [];     // [fraction of the run, mean training loss so far this epoch]
let data = null;          // the four MNIST files, fetched once

function setStatus(text, error = false) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
}

function fillForm(p) {
  $('hidden').value = p.hidden.join(',');
  $('activation').value = p.activation;
  $('loss').value = p.loss;
  $('optimizer').value = p.optimizer;
  $('lr').value = p.hypers.lr;
  $('hypers').value = Object.entries(p.hypers).filter(([k]) => k !== 'lr').map(([k, v]) => `${k}=${v}`).join(', ');
  $('init').value = p.init ?? '';
  $('schedule').value = p.lr_schedule;
  $('batch').value = p.batch_size;
  $('epochs').value = p.epochs;
  $('samples').value = p.train_samples;
  $('dropout').value = p.dropout;
  $('input_dropout').value = p.input_dropout;
  $('seed').value = p.seed;
}

// The settings as the library's `Settings` (web/src/session.rs): names as on the command line.
function readForm() {
  const hypers = { lr: Number($('lr').value) };
  for (const part of $('hypers').value.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [k, v] = part.split('=').map((s) => s.trim());
    hypers[k] = Number(v);
  }
  return {
    hidden: $('hidden').value.split(',').map((s) => s.trim()).filter(Boolean).map(Number),
    activation: $('activation').value, loss: $('loss').value, optimizer: $('optimizer').value, hypers,
    init: $('init').value || null, lr_schedule: $('schedule').value, batch_size: Number($('batch').value),
    epochs: Number($('epochs').value), seed: Number($('seed').value), dropout: Number($('dropout').value),
    input_dropout: Number($('input_dropout').value),
    train_samples: Number($('samples').value),
  };
}

async function fetchData() {
  const names = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte',
    't10k-labels-idx1-ubyte'];
  return Promise.all(names.map(async (n) => {
    const r = await fetch(`mnist/${n}.gz`);
    if (!r.ok) throw new Error(`mnist/${n}.gz: ${r.status} ${r.statusText} (serve the page with web/serve.sh)`);
    return new Uint8Array(await r.arrayBuffer());
  }));
}

async function openPage(useCpu) {
  page = await Page.open(...data, useCpu);
  $('adapter').textContent = `Training on: ${page.adapter()}`;
  $('nowebgpu').hidden = useCpu || page.has_gpu();
  $('checks').disabled = !page.has_gpu();
  if (!page.has_gpu()) $('device').value = 'cpu';
}

function drawCurves() {
  const c = $('curves'), g = c.getContext('2d');
  const [w, h, m] = [c.width, c.height, 36];
  g.clearRect(0, 0, w, h);
  g.font = '11px system-ui';
  g.strokeStyle = '#999';
  g.strokeRect(m, 8, w - 2 * m, h - m - 8);
  if (!report) return;
  const hist = report.history;
  const maxLoss = Math.max(0.1, ...trainLosses.map((p) => p[1]), ...hist.map((e) => e.test_loss));
  const x = (f) => m + f * (w - 2 * m);
  const yLoss = (v) => 8 + (1 - v / maxLoss) * (h - m - 8);
  const yAcc = (a) => 8 + (1 - a) * (h - m - 8);
  const line = (pts, color) => {
    g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
    pts.forEach(([px, py], i) => (i ? g.lineTo(px, py) : g.moveTo(px, py)));
    g.stroke();
    pts.forEach(([px, py]) => { g.fillStyle = color; g.fillRect(px - 2, py - 2, 4, 4); });
  };
  line(trainLosses.map(([f, v]) => [x(f), yLoss(v)]), '#1f77b4');
  line(hist.map((e) => [x(e.epoch / report.epochs), yLoss(e.test_loss)]), '#ff7f0e');
  line(hist.map((e) => [x(e.epoch / report.epochs), yAcc(e.test_acc)]), '#2ca02c');
  g.fillStyle = '#333';
  g.fillText(`loss (0–${maxLoss.toFixed(2)})`, 2, 18);
  g.fillText(`epoch 0`, m, h - m + 14);
  g.fillText(`${report.epochs}`, w - m - 10, h - m + 14);
  g.fillStyle = '#1f77b4'; g.fillText('train loss (mean over the epoch so far)', m + 8, h - 6);
  g.fillStyle = '#ff7f0e'; g.fillText('test loss', m + 230, h - 6);
  g.fillStyle = '#2ca02c'; g.fillText('test accuracy (0–100%)', m + 300, h - 6);
}

function showReport(r) {
  report = r;
  window.gpuMnistReport = r;
  const done = r.epoch + (r.phase === 'training' ? r.samples / r.total : r.phase === 'evaluating' ? 1 : 0);
  if (r.phase === 'training' && r.samples > 0) trainLosses.push([done / r.epochs, r.train_loss]);
  const left = (r.epochs - r.epoch) * r.total - (r.phase === 'idle' ? 0 : r.samples);
  const eta = r.samples_per_sec > 0 ? left / r.samples_per_sec : NaN;
  const where = r.finished ? 'done' : `epoch ${r.epoch + 1} of ${r.epochs}, ${r.phase}`;
  setStatus(`${where}: ${r.samples}/${r.total} samples, train loss ${r.train_loss.toFixed(4)}, ` +
    `${Math.round(r.samples_per_sec)} samples/s, ETA ${isFinite(eta) ? eta.toFixed(0) + ' s' : '—'}`);
  const body = $('history').tBodies[0];
  while (body.rows.length < r.history.length) {
    const e = r.history[body.rows.length];
    const row = body.insertRow();
    for (const v of [e.epoch, e.train_loss.toFixed(4), (100 * e.train_acc).toFixed(2) + '%', e.test_loss.toFixed(4),
      (100 * e.test_acc).toFixed(2) + '%', e.seconds.toFixed(1)]) row.insertCell().textContent = v;
  }
  drawCurves();
}

// The loop: one turn of the library's run per animation frame; the browser maps GPU buffers in between.
async function loop() {
  let epochsSeen = report ? report.history.length : 0;
  try {
    while (running) {
      const r = JSON.parse(page.advance());
      showReport(r);
      if (r.history.length > epochsSeen && r.phase === 'idle') {
        epochsSeen = r.history.length;
        await page.refresh_weights();
        $('download').disabled = false;
        predictPad();
      }
      if (r.finished) break;
      await frame();
    }
  } catch (e) {
    setStatus(`error: ${e.message ?? e}`, true);
  }
  running = false;
  $('stop').disabled = true;
  $('continue').disabled = !report || report.finished;
  $('train').disabled = false;
  window.gpuMnistIdle = true;
}

async function train() {
  $('train').disabled = true;
  window.gpuMnistIdle = false;
  try {
    const useCpu = $('device').value === 'cpu';
    if (useCpu === page.has_gpu()) await openPage(useCpu);
    trainLosses = []; report = null;
    $('history').tBodies[0].replaceChildren();
    setStatus('opening the device and compiling the kernels…');
    await page.start(JSON.stringify(readForm()));
  } catch (e) {
    setStatus(`error: ${e.message ?? e}`, true);
    $('train').disabled = false;
    window.gpuMnistIdle = true;
    return;
  }
  running = true;
  $('stop').disabled = false;
  $('continue').disabled = true;
  $('download').disabled = true;
  loop();
}

// The digit pad: black ink on white, as a picture of a digit on paper; predicted through the library's `predict`.
const pad = $('pad'), pen = pad.getContext('2d');
function clearPad() {
  pen.fillStyle = '#fff'; pen.fillRect(0, 0, pad.width, pad.height);
  $('top3').replaceChildren(Object.assign(document.createElement('li'), { textContent: 'Draw a digit.' }));
}
let last = null, predicting = false, again = false;
pad.addEventListener('pointerdown', (e) => { last = [e.offsetX, e.offsetY]; pad.setPointerCapture(e.pointerId); });
pad.addEventListener('pointermove', (e) => {
  if (!last) return;
  pen.strokeStyle = '#000'; pen.lineWidth = 18; pen.lineCap = 'round'; pen.lineJoin = 'round';
  pen.beginPath(); pen.moveTo(...last); pen.lineTo(e.offsetX, e.offsetY); pen.stroke();
  last = [e.offsetX, e.offsetY];
  predictPad();
});
pad.addEventListener('pointerup', () => { last = null; predictPad(); });
$('clear').addEventListener('click', clearPad);

// The canvas as PNG bytes: what `gpu-mnist predict` would read if the drawing were saved as a file.
function padPng() {
  return new Promise((resolve) => pad.toBlob(async (b) => resolve(new Uint8Array(await b.arrayBuffer())), 'image/png'));
}
async function predictPad() {
  if (predicting) { again = true; return; }
  predicting = true;
  window.gpuMnistPredicting = true;
  try {
    do {
      again = false;
      const ranked = JSON.parse(page.predict(await padPng()));
      window.gpuMnistPrediction = ranked;
      $('top3').replaceChildren(...ranked.slice(0, 3).map(([c, p]) =>
        Object.assign(document.createElement('li'), { textContent: `${c}: ${(100 * p).toFixed(2)}%` })));
    } while (again);
  } catch (e) {
    window.gpuMnistPrediction = null;
    $('top3').replaceChildren(Object.assign(document.createElement('li'), { textContent: `${e.message ?? e}` }));
  }
  predicting = false;
  window.gpuMnistPredicting = false;
}

async function download() {
  try {
    const bytes = await page.checkpoint();
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    a.download = 'gpu-mnist-page.safetensors';
    a.click();
    $('ckinfo').textContent = `Downloaded ${a.download} (${bytes.length} bytes).`;
  } catch (e) {
    $('ckinfo').textContent = `error: ${e.message ?? e}`;
  }
}

async function upload(file) {
  try {
    const info = await page.load(new Uint8Array(await file.arrayBuffer()), Number($('epochs').value));
    $('ckinfo').textContent = `Loaded ${file.name}: ${info}.`;
    window.gpuMnistLoaded = file.name;
    trainLosses = []; report = null;
    $('history').tBodies[0].replaceChildren();
    $('continue').disabled = false;
    $('download').disabled = false;
    predictPad();
  } catch (e) {
    $('ckinfo').textContent = `error: ${e.message ?? e}`;
  }
}

// gpu-mnist check's table, family by family, on this adapter.
async function runChecks() {
  $('checks').disabled = true;
  const body = $('checktable').tBodies[0];
  body.replaceChildren();
  let [rows, passed] = [0, 0];
  const started = performance.now();
  try {
    for (let i = 0; i < page.check_families(); i++) {
      const f = JSON.parse(await page.check_family(i));
      rows += f.rows; passed += f.passed;
      const row = body.insertRow();
      row.className = f.passed === f.rows ? '' : 'fail';
      for (const v of [f.family, `${f.passed}/${f.rows}`, f.worst_abs.toExponential(1), f.seconds.toFixed(1)]) {
        row.insertCell().textContent = v;
      }
      // Every comparison of the family, as `gpu-mnist check` prints it, in a row below that a click opens.
      const lines = body.insertRow();
      lines.hidden = true;
      const cell = lines.insertCell();
      cell.colSpan = 4;
      cell.append(Object.assign(document.createElement('pre'), { textContent: f.lines.join('\n') }));
      row.title = 'click for every comparison';
      row.style.cursor = 'pointer';
      row.addEventListener('click', () => { lines.hidden = !lines.hidden; });
      if (f.passed !== f.rows) lines.hidden = false;
      $('checksummary').textContent = `${passed} of ${rows} comparisons passed so far…`;
    }
    const s = ((performance.now() - started) / 1000).toFixed(0);
    $('checksummary').textContent = `${passed} of ${rows} comparisons passed (${s} s)` +
      (passed === rows ? ': every kernel matches the CPU reference here (click a family for its rows).' :
        ': the red families failed (their rows are open below them).');
    window.gpuMnistChecks = { rows, passed, families: body.rows.length / 2, of: page.check_families() };
  } catch (e) {
    $('checksummary').textContent = `error after ${body.rows.length / 2} families: ${e.message ?? e}`;
    window.gpuMnistChecks = { rows, passed, families: body.rows.length / 2, of: page.check_families(), error: `${e}` };
  }
  $('checks').disabled = false;
}

async function main() {
  for (const [key, p] of Object.entries(PRESETS)) $('preset').add(new Option(p.title, key));
  $('preset').add(new Option('(custom: the settings below)', 'custom'));
  $('preset').addEventListener('change', () => PRESETS[$('preset').value] && fillForm(PRESETS[$('preset').value]));
  for (const el of document.querySelectorAll('.grid input, .grid select')) {
    if (el.id !== 'device') el.addEventListener('input', () => { $('preset').value = 'custom'; });
  }
  fillForm(PRESETS['keras-mlp']);
  clearPad();
  drawCurves();
  try {
    await init();
    data = await fetchData();
    await openPage(false);
  } catch (e) {
    $('adapter').textContent = `error: ${e.message ?? e}`;
    $('adapter').className = 'error';
    return;
  }
  $('train').disabled = false;
  $('train').addEventListener('click', train);
  $('stop').addEventListener('click', () => { running = false; });
  $('continue').addEventListener('click', () => {
    running = true; window.gpuMnistIdle = false;
    $('continue').disabled = true; $('stop').disabled = false; $('train').disabled = true;
    loop();
  });
  $('download').addEventListener('click', download);
  $('upload').addEventListener('change', (e) => e.target.files[0] && upload(e.target.files[0]));
  $('checks').addEventListener('click', runChecks);
  window.gpuMnistReady = true;
}
main();
