/**
 * The page: model choice, sample grid, drawing and test images,
 * reconstruction with its latent raster and spike cost, the time scrubber and
 * interpolation. The numbers all come from the engine workers (engine.ts).
 */
import { DrawingPad } from './draw.js';
import { Engine, EngineUserError, type SampleResult } from './engine.js';
import { latentImages } from './latent.js';
import type { Analysis, ModelInfo, Timeline } from './protocol.js';
import { drawBars, drawImageGrid, drawRaster, gridCellAt, outlineCell, type GridLayout } from './render.js';
import { BYTE_TO_UNIT } from '../../src/data/memory.js';

/** manifest.json, written by scripts/build-web.ts. */
interface Manifest {
  kernels: string | null;
  models: Array<{ name: string; file: string; kind: string; dataset: string | null; decoding: string | null; bytes: number }>;
  /** Per dataset: uint8 images [count, channels, size, size], then count labels. */
  testImages: Record<string, { file: string; count: number; channels: number; size: number }>;
}

interface TestImages {
  images: Float32Array[];
  labels: Uint8Array;
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

const state: {
  engine: Engine | null;
  manifest: Manifest | null;
  info: ModelInfo | null;
  samples: SampleResult | null;
  layout: GridLayout | null;
  picked: number;
  tests: TestImages | null;
  /** The current input: the drawing, or a test image's index. */
  input: { kind: 'drawing'; image: Float32Array } | { kind: 'test'; index: number } | null;
  analysis: Analysis | null;
  sampleTimeline: Timeline | null;
} = { engine: null, manifest: null, info: null, samples: null, layout: null, picked: 0, tests: null, input: null, analysis: null, sampleTimeline: null };

/**
 * Work runs one request at a time, in order, so a slow answer never
 * overwrites a newer one. body[data-busy] says whether any is pending.
 */
let queue: Promise<unknown> = Promise.resolve();
let pending = 0;
function serial<T>(job: () => Promise<T>): Promise<T> {
  pending++;
  document.body.dataset.busy = 'true';
  const run = queue.then(job, job);
  queue = run.catch(() => {}).finally(() => {
    if (--pending === 0) document.body.dataset.busy = 'false';
  });
  return run;
}

function status(text: string): void {
  $('status').textContent = text;
}

/** Shows a failure as one line; a bug also goes to the console with its stack. */
function report(e: unknown): void {
  if (e instanceof EngineUserError) status(e.message);
  else {
    status(`Something went wrong: ${(e as Error).message.split('\n')[0]}`);
    console.error(e);
  }
}

const fmt = (x: number, digits = 0) => x.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const seconds = (ms: number) => `${fmt(ms / 1000, 2)} s`;
const imageSize = (info: ModelInfo) => info.inChannels * info.imageSize * info.imageSize;

async function main(): Promise<void> {
  const manifest = (await (await fetch('manifest.json')).json()) as Manifest;
  state.manifest = manifest;
  status(manifest.kernels ? 'Compiling the WebAssembly kernels…' : 'Starting (this build has no WebAssembly kernels: the TypeScript ones are far slower)…');
  state.engine = await Engine.start(manifest.kernels);
  if (!manifest.kernels) state.engine.kernels += ' — far slower: this build was made without emcc, so it has no WebAssembly kernels';
  document.body.dataset.kernels = state.engine.kernels;

  const select = $<HTMLSelectElement>('model-select');
  if (manifest.models.length === 0) {
    select.append(new Option('none in this build: choose a checkpoint file', ''));
    select.disabled = true;
    status(`Ready (${state.engine.kernels}, ${state.engine.workers.length} workers). Choose a checkpoint file to begin.`);
  } else {
    for (const m of manifest.models) select.append(new Option(`${m.name} (${m.kind}${m.decoding === 'taid' ? ', TAID' : ''}, ${m.dataset ?? 'unknown data'}, ${fmt(m.bytes / 2 ** 20, 1)} MB)`, m.file));
  }
  select.addEventListener('change', () => select.value && loadFromUrl(select.value, select.selectedOptions[0].text));
  $<HTMLInputElement>('model-file').addEventListener('change', (e) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (file) void serial(async () => loadModel(await file.arrayBuffer(), file.name)).catch(report);
  });
  wireControls();
  if (manifest.models.length > 0) await fetchModel(manifest.models[0].file, manifest.models[0].name);
}

function loadFromUrl(url: string, label: string): Promise<void> {
  return serial(() => fetchModel(url, label)).catch(report);
}

async function fetchModel(url: string, label: string): Promise<void> {
  status(`Downloading ${label}…`);
  const res = await fetch(url);
  if (!res.ok) throw new EngineUserError(`${url}: ${res.status} ${res.statusText}`);
  await loadModel(await res.arrayBuffer(), url.split('/').pop()!);
}

async function loadModel(bytes: ArrayBuffer, name: string): Promise<void> {
  const engine = state.engine!;
  status(`Loading ${name}…`);
  const info = await engine.load(bytes, name);
  state.info = info;
  state.samples = null;
  state.analysis = null;
  state.sampleTimeline = null;
  document.body.dataset.model = info.kind;
  for (const el of document.querySelectorAll<HTMLElement>('[data-needs-model]')) el.hidden = false;
  for (const el of document.querySelectorAll<HTMLElement>('[data-spiking]')) el.hidden = !info.spiking;
  $('model-info').textContent =
    `${name}: ${describe(info)}, ${fmt(info.parameters / 1e6, 2)} M parameters` +
    (info.trainingStep !== null ? `, trained for ${fmt(info.trainingStep)} steps` : '') +
    (info.dataset ? `, ${info.dataset} images` : '') + '.';
  $('time-explain').textContent =
    info.decoding === 'taid'
      ? "TAID weighs the decoder's last layer at each time step by a learned, input-dependent weight (below) and sums; this is the sum up to step t."
      : "The decoder's output neurons integrate its last layer over the time steps, leaking 20 % per step; this is their membrane after step t.";
  if (info.timeSteps) {
    const time = $<HTMLInputElement>('time');
    time.max = String(info.timeSteps);
    time.value = String(info.timeSteps);
  }
  await loadTestImages(info);
  await drawSamples();
  if (state.tests) {
    await analyseNow({ kind: 'test', index: 0 });
    await interpolateNow();
  }
  status(`Ready: ${name} (${engine.kernels}, ${engine.workers.length} workers).`);
}

function describe(info: ModelInfo): string {
  if (!info.spiking) return `ANN VAE (not spiking), latent ${info.latentDim}`;
  return `${info.kind === 'esvae' ? 'ESVAE' : 'FSVAE'}${info.decoding === 'taid' ? ' with TAID decoding' : ''}, ${info.latentDim} latent units × ${info.timeSteps} time steps`;
}

// ------------------------------------------------------------------ samples

async function drawSamples(): Promise<void> {
  const engine = state.engine!;
  const info = state.info!;
  const n = Number($<HTMLSelectElement>('count').value);
  const seed = Number($<HTMLInputElement>('seed').value) >>> 0;
  status(`Sampling ${n} images…`);
  const r = await engine.sample(n, seed);
  state.samples = r;
  state.layout = drawImageGrid($('samples'), r.images, n, info.inChannels, info.imageSize);
  const canvas = $('samples');
  canvas.setAttribute('aria-label', `${n} samples from the prior, seed ${seed}`);
  canvas.dataset.count = String(n);
  canvas.dataset.seed = String(seed);
  const timing = $('sample-timing');
  timing.dataset.ms = r.ms.total.toFixed(1);
  timing.textContent =
    `${n} samples in ${seconds(r.ms.total)} on ${r.ms.prior.length} worker${r.ms.prior.length === 1 ? '' : 's'} at once: ` +
    r.ms.prior.map((p, i) => `prior ${seconds(p)} + decoder ${seconds(r.ms.decode[i])}`).join('; ') +
    ` (${engine.kernels}).`;
  const pick = $<HTMLInputElement>('sample-pick');
  pick.max = String(n);
  state.picked = Math.min(state.picked, n - 1);
  pick.value = String(state.picked + 1);
  await inspectSample(state.picked);
  status(`Seed ${seed}: ${n} samples in ${seconds(r.ms.total)}.`);
}

async function inspectSample(k: number): Promise<void> {
  const r = state.samples;
  const info = state.info!;
  if (!r || !state.layout) return;
  state.picked = k;
  drawImageGrid($('samples'), r.images, latentCountOf(r), info.inChannels, info.imageSize);
  outlineCell($('samples'), state.layout, k);
  const one = latentImages(r.latent, r.latentShape, k, 1);
  if (info.spiking) {
    let spikes = 0;
    for (const v of one.latent) spikes += v;
    $('sample-timing').dataset.pickedSpikes = String(spikes);
    state.sampleTimeline = await state.engine!.timeline(one.latent, one.shape);
    renderTimeline();
  }
}

const latentCountOf = (r: SampleResult) => (r.latentShape.length === 3 ? r.latentShape[1] : r.latentShape[0]);

// ------------------------------------------------------------------ inputs

async function loadTestImages(info: ModelInfo): Promise<void> {
  const box = $('test-images');
  for (const b of box.querySelectorAll('button')) b.remove();
  state.tests = null;
  const entry = info.dataset ? state.manifest!.testImages[info.dataset] : undefined;
  if (!entry || entry.channels !== info.inChannels || entry.size !== info.imageSize) {
    $('test-images-label').textContent = `No test images of ${info.dataset ?? 'this model\'s data'} in this build; draw instead.`;
    return;
  }
  const bytes = new Uint8Array(await (await fetch(entry.file)).arrayBuffer());
  const per = entry.channels * entry.size * entry.size;
  const images = Array.from({ length: entry.count }, (_, i) => Float32Array.from(bytes.subarray(i * per, (i + 1) * per), (b) => BYTE_TO_UNIT[b]));
  state.tests = { images, labels: bytes.slice(entry.count * per) };
  $('test-images-label').textContent = `${entry.count} ${info.dataset} test images (arrow keys move; the selected one is framed)`;
  images.forEach((img, i) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.setAttribute('role', 'radio');
    b.setAttribute('aria-checked', 'false');
    b.tabIndex = i === 0 ? 0 : -1;
    b.setAttribute('aria-label', `test image ${i + 1}, class ${state.tests!.labels[i]}`);
    const c = document.createElement('canvas');
    c.className = 'pixelated';
    drawImageGrid(c, img, 1, entry.channels, entry.size, 1, 0);
    b.append(c);
    b.addEventListener('click', () => void analyse({ kind: 'test', index: i }));
    box.append(b);
  });
  fillEndpointChoices();
}

function inputImage(input: NonNullable<typeof state.input>): Float32Array {
  return input.kind === 'drawing' ? input.image : state.tests!.images[input.index];
}

function markTestImage(index: number | null): void {
  $('test-images').querySelectorAll('button').forEach((b, i) => {
    b.setAttribute('aria-checked', String(i === index));
    if (index !== null) b.tabIndex = i === index ? 0 : -1;
  });
}

function analyse(input: NonNullable<typeof state.input>): Promise<void> {
  return serial(() => analyseNow(input)).catch(report);
}

async function analyseNow(input: NonNullable<typeof state.input>): Promise<void> {
  const info = state.info!;
  state.input = input;
  markTestImage(input.kind === 'test' ? input.index : null);
  const image = inputImage(input);
  status('Encoding and reconstructing…');
  const a = await state.engine!.analyse(image.slice(), 0);
  state.analysis = a;
  drawImageGrid($('input'), image, 1, info.inChannels, info.imageSize, 1, 0);
  drawImageGrid($('recon'), a.reconstruction, 1, info.inChannels, info.imageSize, 1, 0);
  $('recon').dataset.source = input.kind;
  renderLatent(info, a);
  renderCost(info, a);
  renderTimeline();
  status(`Reconstructed ${input.kind === 'drawing' ? 'your drawing' : `test image ${input.index + 1}`} in ${seconds(a.ms)} (with its spike count).`);
}

function renderLatent(info: ModelInfo, a: Analysis): void {
  if (!info.spiking) return;
  const [T, C] = a.latentShape;
  const raster = $<HTMLCanvasElement>('raster');
  drawRaster(raster, a.latent, T, C);
  raster.dataset.steps = String(T);
  raster.dataset.units = String(C);
  const rates = new Float32Array(C);
  let total = 0;
  for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) rates[c] += a.latent[t * C + c] / T;
  for (const r of rates) total += r;
  const silent = rates.filter((r) => r === 0).length;
  raster.setAttribute('aria-label', `latent spike raster, ${T} time steps by ${C} units: ${fmt(total * T)} spikes`);
  drawBars($('rates'), rates, 1);
  $('rates').setAttribute('aria-label', `firing rates of the ${C} latent units: mean ${fmt((100 * total) / C)} %, ${silent} silent`);
  $('rates-caption').textContent = `Firing rate of each latent unit (spikes / ${T} steps), same columns as the raster: mean ${fmt((100 * total) / C)} %, ${silent} of ${C} units silent.`;
}

function renderCost(info: ModelInfo, a: Analysis): void {
  const c = a.cost;
  const spikes = c.layers.reduce((s, l) => s + l.spikes, 0);
  $('cost-summary').textContent = info.spiking
    ? `${fmt(spikes)} spikes in all layers; ${fmt(c.ac / 1e6, 2)} M accumulates and ${fmt(c.mac / 1e6, 2)} M multiply-accumulates ≈ ${fmt(c.energyMicroJoule, 2)} µJ for this image.`
    : `The ANN VAE does not spike: ${fmt(c.mac / 1e6, 2)} M multiply-accumulates ≈ ${fmt(c.energyMicroJoule, 2)} µJ per image.`;
  $('cost-summary').dataset.spikes = String(spikes);
  $('cost-summary').dataset.energy = String(c.energyMicroJoule);
  const body = $('cost').querySelector('tbody')!;
  body.replaceChildren(
    ...c.layers.map((l) => {
      const tr = document.createElement('tr');
      for (const v of [l.layer, fmt(l.spikes), l.firingRate === null ? '—' : `${fmt(100 * l.firingRate, 1)} %`, fmt(l.ac), fmt(l.mac)]) {
        const td = document.createElement('td');
        td.textContent = v;
        tr.append(td);
      }
      return tr;
    }),
  );
}

// ------------------------------------------------------------------ time

function renderTimeline(): void {
  const info = state.info;
  if (!info?.spiking) return;
  const which = $<HTMLSelectElement>('time-of').value;
  const tl = which === 'sample' ? state.sampleTimeline : state.analysis?.timeline;
  if (!tl) return;
  const T = info.timeSteps!;
  const per = imageSize(info);
  const t = Number($<HTMLInputElement>('time').value);
  $('time-out').textContent = `t = ${t} of ${T}`;
  drawImageGrid($('frame'), tl.frames.subarray((t - 1) * per, t * per), 1, info.inChannels, info.imageSize, 1, 0);
  const label = which === 'sample' ? `sample ${state.picked + 1}` : 'the reconstruction';
  $('frame-caption').textContent = `${label} after step ${t}${t === T ? ' (the output)' : ''}`;
  $('frame').setAttribute('aria-label', `${label} after time step ${t} of ${T}`);
  drawImageGrid($('strip'), tl.frames, T, info.inChannels, info.imageSize, T);
  const taid = $('taid');
  taid.hidden = !tl.timeWeights;
  if (tl.timeWeights) {
    // One channel (MNIST): the weights are [T, 1]; with colour channels, their mean per step.
    const C = tl.timeWeights.length / T;
    const w = Array.from({ length: T }, (_, s) => tl.timeWeights!.subarray(s * C, (s + 1) * C).reduce((a, b) => a + b, 0) / C);
    drawBars($('taid-weights'), w, 1, 48);
    $('taid-caption').textContent = `TAID's learned weight for each time step (t = 1 on the left; bar height 1 = weight 1) for ${label}: ${w.map((v) => fmt(v, 2)).join(', ')}.`;
  }
}

// ------------------------------------------------------------------ interpolation

function fillEndpointChoices(): void {
  for (const [id, dflt] of [['interp-a', 'input'], ['interp-b', '1']] as const) {
    const sel = $<HTMLSelectElement>(id);
    sel.replaceChildren(new Option('the current input (drawing or test image)', 'input'));
    state.tests?.labels.forEach((label, i) => sel.append(new Option(`test image ${i + 1} (class ${label})`, String(i))));
    sel.value = dflt;
  }
}

function interpolate(): Promise<void> {
  return serial(interpolateNow).catch(report);
}

async function interpolateNow(): Promise<void> {
  const info = state.info!;
  const pick = (id: string) => {
    const v = $<HTMLSelectElement>(id).value;
    if (v === 'input') return state.input ? inputImage(state.input) : null;
    return state.tests ? state.tests.images[Number(v)] : null;
  };
  const a = pick('interp-a');
  const b = pick('interp-b');
  if (!a || !b) throw new EngineUserError('Draw or pick an input first.');
  const steps = 8;
  const r = await state.engine!.interpolate(a.slice(), b.slice(), steps, 0);
  const per = imageSize(info);
  const row = new Float32Array((steps + 2) * per);
  row.set(a, 0);
  row.set(r.images, per);
  row.set(b, (steps + 1) * per);
  drawImageGrid($('interp'), row, steps + 2, info.inChannels, info.imageSize, steps + 2);
  $('interp').hidden = false;
  $('interp-note').textContent =
    `The two inputs at the ends, ${steps} decoded points between (${seconds(r.ms)}). ` +
    (info.kind === 'fsvae'
      ? 'FSVAE: each latent spike comes from one end or the other, in proportion to the position.'
      : info.kind === 'esvae'
        ? 'ESVAE: the latent firing rates move linearly, with the same spike noise at every point.'
        : 'ANN VAE: the latent means move linearly.');
}

// ------------------------------------------------------------------ controls

function wireControls(): void {
  $('sample-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void serial(drawSamples).catch(report);
  });
  $('new-seed').addEventListener('click', () => {
    $<HTMLInputElement>('seed').value = String(Math.floor(Math.random() * 2 ** 32));
    void serial(drawSamples).catch(report);
  });
  $('samples').addEventListener('click', (e) => {
    const r = state.samples;
    if (!r || !state.layout) return;
    const k = gridCellAt($('samples'), state.layout, latentCountOf(r), e.offsetX, e.offsetY);
    if (k === null) return;
    $<HTMLInputElement>('sample-pick').value = String(k + 1);
    $<HTMLSelectElement>('time-of').value = 'sample';
    void serial(() => inspectSample(k)).catch(report);
  });
  $('sample-pick').addEventListener('change', () => {
    const r = state.samples;
    if (!r) return;
    const k = Math.max(1, Math.min(latentCountOf(r), Math.round(Number($<HTMLInputElement>('sample-pick').value)) || 1)) - 1;
    $<HTMLSelectElement>('time-of').value = 'sample';
    void serial(() => inspectSample(k)).catch(report);
  });
  const pad = new DrawingPad($('pad'), () => {
    const image = pad.toInput();
    if (image) void analyse({ kind: 'drawing', image });
  });
  $('clear').addEventListener('click', () => pad.clear());
  $('test-images').addEventListener('keydown', (e) => {
    const buttons = [...$('test-images').querySelectorAll('button')];
    const i = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (i < 0) return;
    const perRow = Math.max(1, Math.round($('test-images').clientWidth / buttons[0].offsetWidth));
    const step: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: perRow, ArrowUp: -perRow };
    if (!(e.key in step)) return;
    e.preventDefault();
    const j = Math.max(0, Math.min(buttons.length - 1, i + step[e.key]));
    buttons[j].focus();
    buttons[j].click();
  });
  $('time').addEventListener('input', renderTimeline);
  $('time-of').addEventListener('change', renderTimeline);
  $('interp-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void interpolate();
  });
}

serial(main).catch(report);
