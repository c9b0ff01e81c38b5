#!/usr/bin/env node
// Maintainers' tool: where a generative model's FAD comes from. For one
// checkpoint (MNIST or Fashion-MNIST) it measures, with the official FAD
// autoencoder and statistics and the same 5,120-image count as `eval`:
//   - the FAD of 5,120 real test images (near the floor: the official
//     statistics are those of the whole test split),
//   - the FAD of their reconstructions (the decoder, given latents the
//     encoder chose),
//   - the FAD of prior samples (what `eval --metrics fad` reports), and, for
//     the ANN VAE, of prior draws z ~ N(0, t²·I) at smaller temperatures t,
//   - for the ANN VAE, how far the aggregate posterior is from N(0, I): the
//     mean over test images and latent units of μ² and of σ², and the mean
//     over units of the variance of μ (a unit the prior fills has μ-variance
//     plus σ² near 1).
//
//   node scripts/fad-diagnostics.mjs CHECKPOINT [--json]
//
// CHECKPOINT may be pretrained:NAME. Needs the built package (npm install).
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../dist/src/models/index.js';
import { openDataset } from '../dist/src/data/index.js';
import { loadFadEncoder, loadFadStats, fadFromFeatures } from '../dist/src/metrics/fad.js';
import { Tensor } from '../dist/src/engine/tensor.js';
import { Random } from '../dist/src/engine/random.js';
import { noGrad } from '../dist/src/engine/tensor.js';

const args = process.argv.slice(2);
const spec = args.find((a) => !a.startsWith('--'));
if (!spec) {
  console.error('usage: node scripts/fad-diagnostics.mjs CHECKPOINT [--json]');
  process.exit(2);
}
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { model, checkpoint } = loadModel(spec);
const dataset = checkpoint.file.metadata['spikevae.dataset'];
if (dataset !== 'mnist' && dataset !== 'fashion') {
  console.error(`fad-diagnostics: ${spec} is a ${dataset} model; the official FAD files exist for mnist and fashion only`);
  process.exit(2);
}
const fadDir = join(root, 'assets', 'fad');
const encoder = loadFadEncoder(join(fadDir, `ae_${dataset}_64.safetensors`));
const stats = loadFadStats(join(fadDir, `stats_${dataset}_test_64.safetensors`));
model.eval();

const n = 5120;
const chunk = 256;
const per = 1024;
const test = await openDataset(dataset, 'test', {});
const real = new Float32Array(n * per);
for (let s = 0; s < n; s += chunk) {
  const m = Math.min(chunk, n - s);
  await test.readBatch(Array.from({ length: m }, (_, i) => s + i), null, real.subarray(s * per, (s + m) * per));
}
const fad = (images) => fadFromFeatures(encoder.features(images, n), n, stats);
const rng = new Random(0);
const result = { checkpoint: spec, model: checkpoint.model, dataset, images: n };
result.realTestImages = fad(real);

const recon = new Float32Array(n * per);
for (let s = 0; s < n; s += chunk) {
  const m = Math.min(chunk, n - s);
  const x = new Tensor(real.slice(s * per, (s + m) * per), [m, 1, 32, 32]);
  recon.set(model.reconstruct(x, rng).data, s * per);
}
result.reconstructions = fad(recon);

const samples = new Float32Array(n * per);
for (let s = 0; s < n; s += chunk) samples.set(model.sample(Math.min(chunk, n - s), rng).images.data, s * per);
result.priorSamples = fad(samples);

if (checkpoint.model === 'ann-vae') {
  const L = model.cfg.latentDim;
  result.temperatures = {};
  for (const t of [0.9, 0.8, 0.7, 0.6]) {
    for (let s = 0; s < n; s += chunk) {
      const m = Math.min(chunk, n - s);
      const z = model.sampleLatent(m, rng);
      for (let i = 0; i < z.data.length; i++) z.data[i] *= t;
      samples.set(noGrad(() => model.decode(z)).data, s * per);
    }
    result.temperatures[t] = fad(samples);
  }
  // Aggregate posterior against N(0, I).
  const sumMu = new Float64Array(L), sumMu2 = new Float64Array(L), sumVar = new Float64Array(L);
  noGrad(() => {
    for (let s = 0; s < n; s += chunk) {
      const m = Math.min(chunk, n - s);
      const { mu, logVar } = model.encode(new Tensor(real.slice(s * per, (s + m) * per), [m, 1, 32, 32]));
      for (let i = 0; i < m * L; i++) {
        sumMu[i % L] += mu.data[i];
        sumMu2[i % L] += mu.data[i] ** 2;
        sumVar[i % L] += Math.exp(logVar.data[i]);
      }
    }
  });
  let mu2 = 0, v = 0, muVar = 0;
  for (let d = 0; d < L; d++) {
    mu2 += sumMu2[d] / n;
    v += sumVar[d] / n;
    muVar += sumMu2[d] / n - (sumMu[d] / n) ** 2;
  }
  result.posterior = { meanMu2: mu2 / L, meanSigma2: v / L, meanVarianceOfMu: muVar / L, meanTotalVariance: (muVar + v) / L };
}

if (args.includes('--json')) console.log(JSON.stringify(result));
else {
  const f = (x) => x.toFixed(2);
  console.log(`${spec} (${result.model}, ${dataset}), FAD over ${n} images:`);
  console.log(`  real test images      ${f(result.realTestImages)}`);
  console.log(`  reconstructions       ${f(result.reconstructions)}`);
  console.log(`  prior samples         ${f(result.priorSamples)}`);
  for (const [t, v] of Object.entries(result.temperatures ?? {})) console.log(`  prior at t = ${t}      ${f(v)}`);
  if (result.posterior) {
    const p = result.posterior;
    console.log(`  posterior: mean μ² ${p.meanMu2.toFixed(3)}, mean σ² ${p.meanSigma2.toFixed(3)}, variance of μ ${p.meanVarianceOfMu.toFixed(3)}, total ${p.meanTotalVariance.toFixed(3)} (N(0, I): 1)`);
  }
}
