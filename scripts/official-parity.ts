/**
 * Maintainers' tool: spikevae's FSVAE against the official PyTorch code run
 * on the same weights, images and random indices, for an evaluation pass and
 * several training steps (AdamW included), so the claim "one training step
 * equals the official one" is checked against the official code itself and
 * not only against test/oracle's re-implementation of it.
 *
 *   node dist/scripts/official-parity.js dump --checkpoint pretrained:fsvae-mnist --out DIR [--images 8] [--steps 3] [--p 0.3] [--taid]
 *   /usr/bin/python3 scripts/official-parity.py SRC DIR      (SRC: a work tree of kamata1729/FullySpikingVAE)
 *
 * An ESVAE checkpoint (pretrained:esvae-mnist) is compared with ESVAE of
 * the ESVAE paper's code (SRC: a work tree of QgZhan/ESVAE): its prior
 * normals and spike noise are replayed as torch.randn and torch.rand_like.
 *
 * --taid: FSVAE with TAID decoding, the checkpoint's weights with a freshly
 * initialised TAID layer (seed --seed), against FSVAE_TAID of the TAID
 * paper's code (SRC: the Generation folder of bollossom/ICLR_TINY_SNN, with an
 * empty fsvae_models/HHneuron.py: that module is imported but not published,
 * and FSVAE_TAID does not use it).
 *   node dist/scripts/official-parity.js compare DIR [--json]
 *
 * --layers (FSVAE and ESVAE dumps): also records the first training step's
 * spikes of every encoder and decoder layer (train.0.spikes.NAME), so a
 * spike that differs is found in the layer where it first differs. With it,
 * final_layer.0 runs unfused (its spikes stored, then summed over time, as
 * the official code does), which is equal only up to float32 rounding.
 *
 * `dump` writes DIR/initial.safetensors (the weights as a state_dict),
 * DIR/inputs.safetensors (the first images × steps MNIST test images, and
 * every posterior index spikevae drew, in the order it drew them) and
 * DIR/spikevae.safetensors (what spikevae computed); the Python script runs
 * the official model from the same state_dict with torch.randint replaced by
 * those indices and writes DIR/official.safetensors; `compare` prints, per
 * quantity, the largest absolute and relative differences and how many
 * spikes differ. Everything is stored in the official layout ((B, C, T),
 * (B, C, k, T)). The training steps run scheduled sampling with --p
 * (default 0.3, the end of the reference's schedule): its coins and noise are
 * recorded too and replayed as Python's random.random and torch.randn_like.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { openDataset } from '../src/data/index.js';
import { AdamW } from '../src/engine/optim.js';
import { Random } from '../src/engine/random.js';
import { Tensor } from '../src/engine/tensor.js';
import { readSafetensors, writeSafetensors, type StoredTensor } from '../src/io/safetensors.js';
import { loadStateDict, stateDict } from '../src/models/checkpoint.js';
import { FSVAE } from '../src/models/fsvae.js';
import { DISTANCE_LAMBDA, ESVAE, SAMPLE_LAYER_LR_TIMES, esvaeTrainingDefaults } from '../src/models/esvae.js';
import { createModel, loadModel } from '../src/models/index.js';
import { setLayerObserver } from '../src/snn/layers.js';
import type { Module } from '../src/engine/module.js';

type Store = Map<string, StoredTensor>;

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(name);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (fallback === undefined) throw new Error(`missing ${name}`);
  return fallback;
}

const f32 = (data: Float32Array, shape: number[]): StoredTensor => ({ dtype: 'F32', shape, data: Float32Array.from(data) });

/** [T, B, ...rest] (spikevae's time-major layout) → (B, ...rest, T) (the official one). */
function timeLast(t: Tensor): StoredTensor {
  const [T, B, ...rest] = t.shape;
  const inner = rest.reduce((a, b) => a * b, 1);
  const out = new Float32Array(t.size);
  for (let s = 0; s < T; s++) for (let b = 0; b < B; b++) for (let i = 0; i < inner; i++) out[(b * inner + i) * T + s] = t.data[(s * B + b) * inner + i];
  return { dtype: 'F32', shape: [B, ...rest, T], data: out };
}

/**
 * Runs fn; with --layers, records the spikes of every encoder and decoder
 * layer as train.0.spikes.NAME (the posterior and prior run their layers
 * once per prefix and are left out) and appends their names to `layers`,
 * which the Python side hooks by the same state_dict names.
 */
function withLayerSpikes<T>(model: FSVAE, ours: Store, layers: string[], fn: () => T): T {
  if (!process.argv.includes('--layers')) return fn();
  const names = new Map<Module, string>();
  for (const [name, m] of model.namedModules()) names.set(m, name);
  setLayerObserver((e) => {
    const name = names.get(e.layer as unknown as Module);
    if (name === undefined || e.spikes === null || /^(posterior|prior)\./.test(name)) return;
    if (layers.includes(name)) throw new Error(`${name} ran twice in one step`);
    layers.push(name);
    ours.set(`train.0.spikes.${name}`, timeLast(e.spikes)); // a copy: backward hands the spikes' buffer back to the pool
  });
  try {
    return fn();
  } finally {
    setLayerObserver(null);
  }
}

/** Every parameter's gradient, as grad.NAME. */
function recordGrads(ours: Store, model: FSVAE): void {
  for (const [name, p] of model.namedParameters()) ours.set(`grad.${name}`, f32(p.grad ?? new Float32Array(p.size), [...p.shape]));
}

/** The state_dict as after.NAME; counters (I64) as floats too, since the comparison reads every tensor as float32. */
function recordState(ours: Store, model: FSVAE): void {
  for (const [name, t] of stateDict(model)) ours.set(`after.${name}`, f32(Float32Array.from(t.data as ArrayLike<number>, Number), t.shape));
}

/** The first n × steps MNIST test images as spikevae reads them, and batch s of n. */
async function testImages(n: number, steps: number): Promise<{ pixels: Float32Array; batch: (s: number) => Tensor; shape: number[] }> {
  const ds = await openDataset('mnist', 'test', { limit: n * steps });
  const shape = [ds.channels, ds.height, ds.width];
  const per = ds.channels * ds.height * ds.width;
  const pixels = new Float32Array(n * steps * per);
  await ds.readBatch(Array.from({ length: n * steps }, (_, i) => i), null, pixels);
  await ds.close();
  return { pixels, shape, batch: (s: number) => new Tensor(pixels.slice(s * n * per, (s + 1) * n * per), [n, ...shape]) };
}

/** The ESVAE: its random draws are the prior's normals (fillNormal) and the spike noise (fillUniform, [T, N, C]). */
async function dumpEsvae(model: ESVAE, out: string, n: number, steps: number): Promise<void> {
  mkdirSync(out, { recursive: true });
  writeSafetensors(join(out, 'initial.safetensors'), stateDict(model), { 'spikevae.parity': 'initial state_dict' });
  const { pixels, batch, shape } = await testImages(n, steps);
  const rng = new Random(Number(arg('--seed', '0')));
  const normals: number[] = [];
  const uniforms: number[] = []; // in the official (B, C, T) order of each draw
  const fillNormal = rng.fillNormal.bind(rng);
  rng.fillNormal = (o: Float32Array, mean?: number, std?: number) => {
    const r = fillNormal(o, mean, std);
    normals.push(...r);
    return r;
  };
  const T = model.cfg.timeSteps;
  const fillUniform = rng.fillUniform.bind(rng);
  rng.fillUniform = (o: Float32Array) => {
    const r = fillUniform(o);
    const m = r.length / T;
    for (let i = 0; i < m; i++) for (let t = 0; t < T; t++) uniforms.push(r[t * m + i]);
    return r;
  };
  const ours: Store = new Map();
  model.eval();
  const e = model.encodeLatent(batch(0), rng);
  const recon = model.decode(e.z);
  ours.set('eval.encoded', timeLast(e.encoded));
  ours.set('eval.sampled_z', timeLast(e.z));
  ours.set('eval.r_q', f32(e.rq.data, e.rq.shape));
  ours.set('eval.r_p', f32(e.rp.data, e.rp.shape));
  ours.set('eval.recon', f32(recon.data, recon.shape));
  model.train();
  const lr = Number(arg('--lr', String(esvaeTrainingDefaults('mnist').lr)));
  const optimizer = new AdamW(model.paramGroups(lr, Number(arg('--weight-decay', '0.001'))));
  const layers: string[] = [];
  for (let s = 0; s < steps; s++) {
    const step = () => model.lossOnBatch(batch(s), rng);
    const r = s === 0 ? withLayerSpikes(model, ours, layers, step) : step();
    ours.set(`train.${s}.loss`, f32(Float32Array.of(r.terms.loss, r.terms.recon, r.terms.distance), [3]));
    r.loss.backward();
    if (s === 0) recordGrads(ours, model);
    optimizer.step();
    optimizer.zeroGrad();
  }
  recordState(ours, model);
  const inputs: Store = new Map([
    ['images', f32(pixels, [n * steps, ...shape])],
    ['normals', { dtype: 'F32', shape: [normals.length], data: Float32Array.from(normals) }],
    ['uniforms', { dtype: 'F32', shape: [uniforms.length], data: Float32Array.from(uniforms) }],
  ]);
  const meta = { model: 'esvae', images: String(n), steps: String(steps), lr: String(lr), weightDecay: arg('--weight-decay', '0.001'), latentDim: String(model.cfg.latentDim), sampleLayerLrTimes: String(SAMPLE_LAYER_LR_TIMES), distanceLambda: String(DISTANCE_LAMBDA), layers: layers.join(',') };
  writeSafetensors(join(out, 'inputs.safetensors'), inputs, meta);
  writeSafetensors(join(out, 'spikevae.safetensors'), ours, meta);
  console.log(`wrote ${out}: ESVAE, ${n} images × ${steps} training steps, ${normals.length} normals and ${uniforms.length} uniforms drawn; now run scripts/official-parity.py SRC ${out}`);
}

async function dump(): Promise<void> {
  const out = arg('--out');
  const n = Number(arg('--images', '8'));
  const steps = Number(arg('--steps', '3'));
  const taid = process.argv.includes('--taid');
  const loaded = loadModel(arg('--checkpoint'));
  if (loaded.model instanceof ESVAE) return dumpEsvae(loaded.model, out, n, steps);
  if (!(loaded.model instanceof FSVAE) || loaded.model.kind !== 'fsvae' || loaded.model.cfg.decoding !== 'membrane') throw new Error('official-parity starts from an FSVAE or ESVAE checkpoint with the membrane output');
  let model: FSVAE = loaded.model;
  if (taid) {
    model = createModel('fsvae', 'mnist', { decoding: 'taid' }, Number(arg('--seed', '0'))) as FSVAE;
    loadStateDict(model, loaded.checkpoint.file.tensors, arg('--checkpoint'), (name) => name.startsWith('membrane_output_layer.'));
  }
  mkdirSync(out, { recursive: true });
  writeSafetensors(join(out, 'initial.safetensors'), stateDict(model), { 'spikevae.parity': 'initial state_dict' });

  const { pixels, batch, shape } = await testImages(n, steps);

  // Every index the posterior draws, in order: the Python side replays them as torch.randint's values.
  const rng = new Random(Number(arg('--seed', '0')));
  const drawn: Int32Array[] = [];
  const fillInt = rng.fillInt.bind(rng);
  rng.fillInt = (o: Int32Array, k: number) => {
    const r = fillInt(o, k);
    drawn.push(r.slice());
    return r;
  };
  // The prior's scheduled-sampling coins and noise (normal() draws its own uniforms, which are not coins).
  const coins: number[] = [];
  const normals: number[] = [];
  let inNormal = false;
  const uniform = rng.uniform.bind(rng);
  const normal = rng.normal.bind(rng);
  rng.normal = () => {
    inNormal = true;
    try {
      const v = normal();
      normals.push(v);
      return v;
    } finally {
      inNormal = false;
    }
  };
  rng.uniform = () => {
    const v = uniform();
    if (!inNormal) coins.push(v);
    return v;
  };
  const ours: Store = new Map();

  // Evaluation mode (running statistics): the whole forward and the test loss.
  model.eval();
  const ev = model.forward(batch(0), rng);
  const evLoss = model.loss(batch(0), ev);
  ours.set('eval.encoded', timeLast(ev.encoded));
  ours.set('eval.sampled_z', timeLast(ev.sampledZ));
  ours.set('eval.q_z', timeLast(ev.qZ));
  ours.set('eval.p_z', timeLast(ev.pZ));
  ours.set('eval.recon', f32(ev.recon.data, ev.recon.shape));
  ours.set('eval.loss', f32(Float32Array.of(evLoss.loss.item(), evLoss.recon, evLoss.distance), [3]));
  const evalDraws = drawn.length;

  // Training steps: the reference recipe's AdamW and scheduled sampling.
  model.train();
  const p = Number(arg('--p', '0.3'));
  model.p = p;
  const lr = Number(arg('--lr', '0.001'));
  const optimizer = new AdamW(model.paramGroups(lr, Number(arg('--weight-decay', '0.001'))));
  const layers: string[] = [];
  for (let s = 0; s < steps; s++) {
    // lossOnBatch's forward and loss, with the first step's spikes kept.
    const forward = () => model.forward(batch(s), rng);
    const fwd = s === 0 ? withLayerSpikes(model, ours, layers, forward) : forward();
    const r = model.loss(batch(s), fwd);
    ours.set(`train.${s}.loss`, f32(Float32Array.of(r.loss.item(), r.recon, r.distance), [3]));
    if (s === 0) {
      ours.set('train.0.encoded', timeLast(fwd.encoded));
      ours.set('train.0.sampled_z', timeLast(fwd.sampledZ));
      ours.set('train.0.q_z', timeLast(fwd.qZ));
      ours.set('train.0.p_z', timeLast(fwd.pZ));
      ours.set('train.0.recon', f32(fwd.recon.data, fwd.recon.shape));
    }
    r.loss.backward();
    if (s === 0) recordGrads(ours, model);
    optimizer.step();
    optimizer.zeroGrad();
  }
  recordState(ours, model);

  const rows = drawn[0]?.length ?? 0;
  const indices = new Int32Array(drawn.length * rows);
  drawn.forEach((d, i) => indices.set(d, i * rows));
  const inputs: Store = new Map([
    ['images', f32(pixels, [n * steps, ...shape])],
    ['indices', { dtype: 'I32', shape: [drawn.length, rows], data: indices }],
    ['coins', { dtype: 'F64', shape: [coins.length], data: Float64Array.from(coins) }],
    ['normals', { dtype: 'F64', shape: [normals.length], data: Float64Array.from(normals) }],
  ]);
  const meta = { images: String(n), steps: String(steps), evalDraws: String(evalDraws), lr: String(lr), weightDecay: arg('--weight-decay', '0.001'), p: String(p), decoding: taid ? 'taid' : 'membrane', layers: layers.join(',') };
  writeSafetensors(join(out, 'inputs.safetensors'), inputs, meta);
  writeSafetensors(join(out, 'spikevae.safetensors'), ours, meta);
  const taken = coins.filter((c) => c < p).length;
  console.log(`wrote ${out}: ${n} images × ${steps} training steps, ${drawn.length} index draws, ${coins.length} scheduled-sampling coins (${taken} taken); now run scripts/official-parity.py SRC ${out}`);
}

function compare(): void {
  const dir = process.argv[3];
  const ours = readSafetensors(join(dir, 'spikevae.safetensors')).tensors;
  const theirs = readSafetensors(join(dir, 'official.safetensors')).tensors;
  const rows: Array<{ name: string; size: number; maxAbs: number; maxRel: number; relL2: number; spikesDiffer: number | null }> = [];
  for (const [name, a] of ours) {
    const b = theirs.get(name);
    if (!b) {
      console.log(`${name}: missing on the official side`);
      continue;
    }
    const x = a.data as Float32Array;
    const y = b.data as Float32Array;
    if (x.length !== y.length) throw new Error(`${name}: ${x.length} values here, ${y.length} there`);
    let maxAbs = 0;
    let scale = 0;
    let binary = a.dtype === 'F32';
    let spikesDiffer = 0;
    let diff2 = 0;
    let norm2 = 0;
    for (let i = 0; i < x.length; i++) {
      const d = Math.abs(Number(x[i]) - Number(y[i]));
      diff2 += d * d;
      norm2 += Number(y[i]) * Number(y[i]);
      maxAbs = Math.max(maxAbs, d);
      scale = Math.max(scale, Math.abs(Number(y[i])));
      if (binary && !((x[i] === 0 || x[i] === 1) && (y[i] === 0 || y[i] === 1))) binary = false;
      if (x[i] !== y[i]) spikesDiffer++;
    }
    rows.push({ name, size: x.length, maxAbs, maxRel: scale > 0 ? maxAbs / scale : maxAbs, relL2: norm2 > 0 ? Math.sqrt(diff2 / norm2) : Math.sqrt(diff2), spikesDiffer: binary ? spikesDiffer : null });
  }
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  console.log('| quantity | values | max |difference| | relative to max |official| | ‖difference‖ / ‖official‖ | spikes that differ |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.name} | ${r.size} | ${r.maxAbs.toExponential(2)} | ${r.maxRel.toExponential(2)} | ${r.relL2.toExponential(2)} | ${r.spikesDiffer ?? '–'} |`);
  summarize(rows, ours, theirs);
}

/**
 * The figures docs/results.md quotes: spikes that differ, the worst and
 * median ‖difference‖ / ‖official‖ of gradients and of the weights after the
 * steps (the biases of layers followed by tdBN apart: their true gradient is
 * zero), and, for long runs, the mean loss terms over windows of steps.
 */
function summarize(rows: Array<{ name: string; relL2: number; spikesDiffer: number | null }>, ours: Store, theirs: Store): void {
  const names = new Set(rows.map((r) => r.name));
  const beforeTdBn = (name: string) => name.endsWith('.bias') && names.has(name.replace(/^(grad|after)\.(.*)\.bias$/, '$1.$2.bn.weight'));
  const spread = (label: string, pick: (name: string) => boolean) => {
    const v = rows.filter((r) => pick(r.name) && !beforeTdBn(r.name)).sort((a, b) => a.relL2 - b.relL2);
    if (v.length) console.log(`${label}: worst ${v[v.length - 1].relL2.toExponential(2)} (${v[v.length - 1].name}), median ${v[v.length >> 1].relL2.toExponential(2)}`);
  };
  console.log('');
  const spikes = rows.filter((r) => r.spikesDiffer !== null && /^(eval|train)\./.test(r.name));
  console.log(`spikes that differ: ${spikes.reduce((s, r) => s + r.spikesDiffer!, 0)} (in ${spikes.map((r) => r.name).join(', ')})`);
  spread('gradients, step 1 (biases before tdBN left out)', (n) => n.startsWith('grad.'));
  spread('parameters after the steps (biases before tdBN and buffers left out)', (n) => n.startsWith('after.') && /\.(weight|bias)$/.test(n));
  const steps = rows.filter((r) => /^train\.\d+\.loss$/.test(r.name)).length;
  if (steps < 20) return;
  const cuts = [0, 10, ...[1, 2, 3].map((k) => 10 + Math.round(((steps - 10) * k) / 3))];
  console.log('\n| steps | loss, spikevae | loss, official | recon term | distance term |');
  console.log('|---|---|---|---|---|');
  for (let w = 0; w + 1 < cuts.length; w++) {
    const mean = (store: Store, term: number) => {
      let sum = 0;
      for (let s = cuts[w]; s < cuts[w + 1]; s++) sum += (store.get(`train.${s}.loss`)!.data as Float32Array)[term];
      return (sum / (cuts[w + 1] - cuts[w])).toFixed(5);
    };
    console.log(`| ${cuts[w] + 1}-${cuts[w + 1]} | ${mean(ours, 0)} | ${mean(theirs, 0)} | ${mean(ours, 1)} / ${mean(theirs, 1)} | ${mean(ours, 2)} / ${mean(theirs, 2)} |`);
  }
}

const command = process.argv[2];
if (command === 'dump') await dump();
else if (command === 'compare') compare();
else {
  console.error('usage: official-parity.js dump --checkpoint FILE --out DIR [--images 8] [--steps 3] [--p 0.3] [--taid] | compare DIR [--json]');
  process.exit(2);
}
