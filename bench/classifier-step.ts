/**
 * One classifier training measurement in its own process (so peak memory is
 * its own): `spikevae train --model alif-classifier` steps on real images.
 * Usage: node dist/bench/classifier-step.js [--dataset mnist] [--neuron alif] [--batch 16] [--steps 3] [--eval-images 0]
 * Prints one JSON line: seconds per step, training images/s, the dense
 * multiply-accumulates of a training step (forward, input and weight
 * gradients: 3 × the forward's, each MAC 2 FLOP) as GFLOP/s and as a
 * fraction of this machine's FMA peak on the same threads. With
 * --eval-images N (a multiple of the batch), also the evaluation pass's
 * images/s (the trainer's per-epoch test: no gradients, eval mode) over the
 * first N test images, timed on a second pass.
 */
import { parseArgs } from 'node:util';
import { backend } from '../src/engine/backend/index.js';
import { nativeInfo, nativePeakGflops } from '../src/engine/backend/native.js';
import { AdamW } from '../src/engine/optim.js';
import { Random } from '../src/engine/random.js';
import { Tensor, noGrad } from '../src/engine/tensor.js';
import { openDataset } from '../src/data/index.js';
import { AlifClassifier, defaultClassifierConfig, type ClassifierTrace } from '../src/models/classifier.js';
import { betweenTrainingSteps, trainingStep } from '../src/train/step.js';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'mnist' },
    neuron: { type: 'string', default: 'alif' },
    batch: { type: 'string', default: '16' },
    steps: { type: 'string', default: '3' },
    data: { type: 'string' },
    'eval-images': { type: 'string', default: '0' },
  },
});
const batch = Number(values.batch);
const model = new AlifClassifier(defaultClassifierConfig(values.dataset!, { neuron: values.neuron as 'alif' }), new Random(0));
const ds = await openDataset(values.dataset!, 'train', { preprocessing: 'classifier', limit: batch, dataDir: values.data });
const per = ds.channels * ds.height * ds.width;
const images = new Float32Array(batch * per);
const labels = new Int32Array(batch);
await ds.readBatch(Array.from({ length: batch }, (_, i) => i % ds.length), null, images, labels, new Float64Array(batch * (ds.augmentDraws ?? 0)).fill(0.5));
const x = new Tensor(images, [batch, ds.channels, ds.height, ds.width]);

// Dense forward MACs per image from one traced forward pass.
const trace: ClassifierTrace[] = [];
noGrad(() => model.forward(x, new Random(0), trace));
let macs = 0;
for (const t of trace) {
  const steps = t.synapse.input.ndim === 4 ? 1 : model.cfg.timeSteps; // the static convolution runs once
  const layer = t.synapse.layer as unknown as { inChannels?: number; kernel?: number; inFeatures?: number };
  const outputs = t.spikes.size / model.cfg.timeSteps / batch; // neurons per image
  macs += steps * outputs * (t.synapse.kind === 'conv' ? layer.inChannels! * layer.kernel! ** 2 : layer.inFeatures!);
}
model.train();
const opt = new AdamW(model.paramGroups(1e-3, 0));
const rng = new Random(1);
const steps = Number(values.steps);
const times: number[] = [];
let rates: Record<string, number> = {};
for (let i = 0; i <= steps; i++) {
  const t0 = performance.now();
  rates = trainingStep(model, opt, x, rng, undefined, labels).rates;
  await betweenTrainingSteps();
  if (i > 0) times.push((performance.now() - t0) / 1000); // step 0 is warm-up
}
const mean = times.reduce((a, b) => a + b, 0) / times.length;
const evalImages = Number(values['eval-images']);
let evalImagesPerSec: number | null = null;
if (evalImages > 0) {
  const test = await openDataset(values.dataset!, 'test', { preprocessing: 'classifier', limit: evalImages, dataDir: values.data });
  const tx = new Float32Array(evalImages * per);
  const tl = new Int32Array(evalImages);
  await test.readBatch(Array.from({ length: evalImages }, (_, i) => i % test.length), null, tx, tl);
  model.eval();
  const pass = () => {
    for (let i = 0; i + batch <= evalImages; i += batch) {
      const xb = new Tensor(tx.slice(i * per, (i + batch) * per), [batch, ds.channels, ds.height, ds.width]);
      noGrad(() => model.lossOnBatch(xb, new Random(0), tl.slice(i, i + batch)));
    }
  };
  pass(); // warm-up
  const t0 = performance.now();
  pass();
  evalImagesPerSec = (Math.floor(evalImages / batch) * batch) / ((performance.now() - t0) / 1000);
  model.train();
}
const gflops = (3 * 2 * macs * batch) / mean / 1e9;
const info = nativeInfo();
const peak = info ? nativePeakGflops(0.5, info.threads) : null;
console.log(
  JSON.stringify({
    bench: 'train',
    model: `alif-classifier/${values.dataset}`,
    neuron: values.neuron,
    batch,
    steps,
    secondsPerStep: mean,
    imagesPerSec: batch / mean,
    denseGflopPerImage: (3 * 2 * macs) / 1e9,
    gflops,
    fractionOfPeak: peak ? gflops / peak : null,
    peakGflops: peak,
    evalImagesPerSec,
    firingRates: rates,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    backend: backend().description,
  }),
);
