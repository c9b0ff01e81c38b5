/**
 * One benchmark measurement in its own process (so peak memory is its own):
 * training steps or sampling of a model on real MNIST images.
 * Usage: node dist/bench/fsvae-step.js --model fsvae --batch 64 --steps 4 [--decoding taid] [--sample 256 [--checkpoint FILE]]
 * With --checkpoint, sampling uses trained weights (an untrained prior fires
 * rarely, which flatters event-driven kernels).
 * Prints one JSON line.
 */
import { pooledMemoryStats, releasingScope } from '../src/engine/alloc.js';
import { betweenTrainingSteps, trainingStep } from '../src/train/step.js';
import { parseArgs } from 'node:util';
import { backend } from '../src/engine/backend/index.js';
import { AdamW } from '../src/engine/optim.js';
import { Random } from '../src/engine/random.js';
import { Tensor } from '../src/engine/tensor.js';
import { openDataset } from '../src/data/index.js';
import { createModel, checkModelKind, loadModel } from '../src/models/index.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'fsvae' },
    batch: { type: 'string', default: '64' },
    steps: { type: 'string', default: '4' },
    sample: { type: 'string' },
    checkpoint: { type: 'string' },
    decoding: { type: 'string' },
  },
});
const loaded = values.checkpoint ? loadModel(values.checkpoint).model : null;
const kind = loaded ? checkModelKind(loaded.kind) : checkModelKind(values.model!);
const batch = Number(values.batch);
if (values.decoding !== undefined && values.decoding !== 'taid' && values.decoding !== 'membrane') throw new Error(`--decoding ${values.decoding}: expected taid or membrane`);
const model = loaded ?? createModel(kind, 'mnist', values.decoding ? { decoding: values.decoding as 'taid' | 'membrane' } : {}, 0);
const rng = new Random(1);
const ds = await openDataset('mnist', 'train', { limit: Math.max(batch, 256) });
const images = new Float32Array(batch * 1024);
await ds.readBatch(Array.from({ length: batch }, (_, i) => i % ds.length), null, images);
const x = new Tensor(images, [batch, 1, 32, 32]);

if (values.sample) {
  const n = Number(values.sample);
  model.eval();
  releasingScope(() => model.sample(64, rng)); // warm-up
  // Batches of 64, each batch's arrays back to the pool before the next.
  const t0 = performance.now();
  let rate = 0;
  let zSize = 0;
  for (let done = 0; done < n; done += 64) {
    const m = Math.min(64, n - done);
    releasingScope(() => {
      const { z } = model.sample(m, rng);
      for (let i = 0; i < z.size; i++) rate += z.data[i];
      zSize += z.size;
    });
  }
  const s = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ bench: 'sample', model: kind, decoding: values.decoding ?? null, weights: values.checkpoint ?? 'fresh', images: n, seconds: s, imagesPerSec: n / s, latentRate: rate / zSize, maxRssMiB: process.resourceUsage().maxRSS / 1024, backend: backend().description }));
} else {
  const opt = new AdamW(model.paramGroups(1e-3, 1e-3));
  const steps = Number(values.steps);
  const times: number[] = [];
  let rates: Record<string, number> = {};
  let freshAfterWarmup = 0;
  let liveAfterStep = 0;
  for (let i = 0; i <= steps; i++) {
    if (i === 1) freshAfterWarmup = pooledMemoryStats()?.freshBytes ?? 0;
    const t0 = performance.now();
    const r = trainingStep(model, opt, x, rng);
    rates = r.rates;
    // What the step left in the pool unreleased (held until a collection):
    // reclaimPooledMemory collects only when this passes an eighth of the peak.
    if (i > 0) liveAfterStep = Math.max(liveAfterStep, pooledMemoryStats()?.liveBytes ?? 0);
    await betweenTrainingSteps();
    if (i > 0) times.push((performance.now() - t0) / 1000); // step 0 is warm-up
  }
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  // Memory the pool had to take fresh from the system per measured step (page faults on first touch).
  const stats = pooledMemoryStats();
  const freshMiBPerStep = stats ? (stats.freshBytes - freshAfterWarmup) / steps / 2 ** 20 : null;
  console.log(
    JSON.stringify({ bench: 'train', model: kind, decoding: values.decoding ?? null, batch, steps, secondsPerStep: mean, imagesPerSec: batch / mean, firingRates: rates, maxRssMiB: process.resourceUsage().maxRSS / 1024, freshMiBPerStep, liveAfterStepMiB: stats ? liveAfterStep / 2 ** 20 : null, livePeakMiB: stats ? stats.maxLiveBytes / 2 ** 20 : null, backend: backend().description }),
  );
}
