/**
 * Where one classifier training step's time goes (the MNIST network of the
 * TAID paper): every kernel call of a few steps (after two warm-up steps) is
 * timed and grouped by kernel and shape; forward, backward and the optimizer
 * are timed as wholes, and what is not in a kernel is JavaScript.
 * Usage: node dist/bench/classifier-profile.js [--batch 16] [--neuron alif] [--steps 3]
 *   [--checkpoint pretrained:alif-mnist] (trained weights: their firing rates, not an untrained network's, decide
 *   what the spike products cost; the network, its neuron included, is then the checkpoint's and --neuron is ignored).
 * Prints JSON lines: the step's parts (ms per step; CPU ms of both threads
 * too), then every kernel and shape, longest first.
 */
import { parseArgs } from 'node:util';
import { pooledMemoryStats, reclaimPooledMemory, withPool } from '../src/engine/alloc.js';
import { backend } from '../src/engine/backend/index.js';
import { AdamW } from '../src/engine/optim.js';
import { Random } from '../src/engine/random.js';
import { Tensor } from '../src/engine/tensor.js';
import { openDataset } from '../src/data/index.js';
import { loadClassifier } from '../src/models/index.js';
import { AlifClassifier, defaultClassifierConfig } from '../src/models/classifier.js';
import type { ParametricKind } from '../src/snn/plif.js';

const { values } = parseArgs({
  options: { batch: { type: 'string', default: '16' }, neuron: { type: 'string', default: 'alif' }, steps: { type: 'string', default: '3' }, checkpoint: { type: 'string' } },
});
const batch = Number(values.batch);
const be = backend() as unknown as Record<string, (...a: unknown[]) => unknown>;
const stats = new Map<string, { ms: number; calls: number }>();
for (const k of Object.keys(be)) {
  const f = be[k];
  if (typeof f !== 'function' || k === 'description') continue;
  be[k] = (...a: unknown[]) => {
    const t0 = performance.now();
    const r = f(...a);
    const dt = performance.now() - t0;
    let key = k;
    if (k === 'gemm') key += ` ${a[0] ? 'T' : 'N'}${a[1] ? 'T' : 'N'} m${a[2]} n${a[3]} k${a[4]}${a[9] ? ' spikes' : ''}`;
    else if (k.startsWith('conv')) {
      const g = a[0] as { inChannels: number; inHeight: number; outChannels: number; outHeight: number; batch: number };
      key += ` ${g.inChannels}x${g.inHeight}→${g.outChannels}x${g.outHeight} b${g.batch}`;
    } else if (typeof a[0] === 'number' && typeof a[1] === 'number') key += ` ${a[0]}x${a[1]}${typeof a[2] === 'number' ? `x${a[2]}` : ''}`;
    const s = stats.get(key) ?? { ms: 0, calls: 0 };
    s.ms += dt;
    s.calls++;
    stats.set(key, s);
    return r;
  };
}
const model = values.checkpoint
  ? loadClassifier(values.checkpoint).model
  : new AlifClassifier(defaultClassifierConfig('mnist', { neuron: values.neuron as ParametricKind }), new Random(0));
const ds = await openDataset('mnist', 'train', { preprocessing: 'classifier', limit: batch });
const per = ds.channels * ds.height * ds.width;
const images = new Float32Array(batch * per);
const labels = new Int32Array(batch);
await ds.readBatch(Array.from({ length: batch }, (_, i) => i % ds.length), null, images, labels, new Float64Array(batch * (ds.augmentDraws ?? 0)).fill(0.5));
const x = new Tensor(images, [batch, ds.channels, ds.height, ds.width]);
model.train();
const opt = new AdamW(model.paramGroups(1e-3, 0));
const rng = new Random(1);
const steps = Number(values.steps);
const part = { forward: 0, backward: 0, optimizer: 0, between: 0 };
// CPU time of the process (both threads) per step: less sensitive than wall time to other work on a shared machine.
let cpu0 = process.cpuUsage();
let fresh0 = 0;
for (let i = 0; i < steps + 2; i++) {
  if (i === 2) {
    stats.clear();
    for (const k of Object.keys(part) as Array<keyof typeof part>) part[k] = 0;
    cpu0 = process.cpuUsage();
    fresh0 = pooledMemoryStats()?.freshBytes ?? 0;
  }
  const t0 = performance.now();
  let t1 = 0;
  let t2 = 0;
  withPool(() => {
    const r = model.lossOnBatch(x, rng, labels);
    t1 = performance.now();
    r.loss.backward(undefined, { releaseActivations: true });
    t2 = performance.now();
    opt.step();
    opt.zeroGrad();
  });
  const t3 = performance.now();
  reclaimPooledMemory();
  await new Promise((resolve) => setImmediate(resolve));
  part.forward += t1 - t0;
  part.backward += t2 - t1;
  part.optimizer += t3 - t2;
  part.between += performance.now() - t3;
}
const cpu = process.cpuUsage(cpu0);
const kernels = [...stats.values()].reduce((s, v) => s + v.ms, 0) / steps;
const stepMs = (part.forward + part.backward + part.optimizer + part.between) / steps;
console.log(
  JSON.stringify({
    bench: 'classifier-profile',
    batch,
    neuron: model.config.neuron,
    stepMs,
    imagesPerSec: (1000 * batch) / stepMs,
    cpuMsPerStep: (cpu.user + cpu.system) / 1000 / steps,
    // Memory taken fresh from the system per step (page faults on first touch).
    freshMiBPerStep: ((pooledMemoryStats()?.freshBytes ?? 0) - fresh0) / 2 ** 20 / steps,
    forwardMs: part.forward / steps,
    backwardMs: part.backward / steps,
    optimizerMs: part.optimizer / steps,
    betweenMs: part.between / steps,
    kernelMs: kernels,
    otherMs: stepMs - kernels,
    backend: (backend as () => { description: string })().description,
  }),
);
for (const [k, v] of [...stats.entries()].sort((a, b) => b[1].ms - a[1].ms)) console.log(JSON.stringify({ kernel: k, msPerStep: +(v.ms / steps).toFixed(2), calls: v.calls / steps }));
