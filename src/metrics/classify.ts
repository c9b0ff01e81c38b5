/**
 * How much class information the encoder's latent carries (ESVAE paper
 * §IV-E): an MLP latent→512→256→128→10 (ReLU) trained with AdamW and
 * cross-entropy on the latents of training images, then its test accuracy.
 * Latents: the encoder's firing rates x^E averaged over time (FSVAE, ESVAE:
 * exactly ESVAE's r_q), or the posterior mean μ (ANN VAE). The paper does not
 * publish its training recipe; ours: 20 epochs, batch 256, lr 1e-3, wd 0.
 */
import { Linear } from '../engine/layers.js';
import { AdamW } from '../engine/optim.js';
import { Random } from '../engine/random.js';
import { Tensor, noGrad } from '../engine/tensor.js';
import * as ops from '../engine/ops.js';
import type { Dataset } from '../data/index.js';
import { AnnVAE } from '../models/annvae.js';
import { FSVAE } from '../models/fsvae.js';
import type { GenerativeModel } from '../models/types.js';

export async function latents(model: GenerativeModel, ds: Dataset, limit: number, batch = 250): Promise<{ z: Float32Array; labels: Int32Array; dim: number; n: number }> {
  const n = Math.min(limit, ds.length);
  const per = ds.channels * ds.height * ds.width;
  const dim = Number(model.config.latentDim);
  const z = new Float32Array(n * dim);
  const labels = new Int32Array(n);
  model.eval();
  for (let s = 0; s < n; s += batch) {
    const m = Math.min(batch, n - s);
    const buf = new Float32Array(m * per);
    const lab = new Int32Array(m);
    await ds.readBatch(Int32Array.from({ length: m }, (_, i) => s + i), null, buf, lab);
    const x = new Tensor(buf, [m, ds.channels, ds.height, ds.width]);
    const f = noGrad(() => {
      if (model instanceof AnnVAE) return model.encode(x).mu;
      if (model instanceof FSVAE) return ops.mean(model.encodeSpikes(x), [0]);
      throw new Error(`no latent for model '${model.kind}'`);
    });
    z.set(f.data, s * dim);
    labels.set(lab, s);
  }
  return { z, labels, dim, n };
}

export interface ClassifyResult {
  trainImages: number;
  testImages: number;
  epochs: number;
  trainAccuracy: number;
  testAccuracy: number;
}

function accuracy(layers: Linear[], z: Float32Array, labels: Int32Array, dim: number): number {
  const n = labels.length;
  const logits = noGrad(() => forward(layers, new Tensor(z, [n, dim])));
  let ok = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < 10; j++) if (logits.data[i * 10 + j] > logits.data[i * 10 + best]) best = j;
    if (best === labels[i]) ok++;
  }
  return ok / n;
}

function forward(layers: Linear[], x: Tensor): Tensor {
  let h = x;
  layers.forEach((l, i) => {
    h = l.forward(h);
    if (i < layers.length - 1) h = ops.relu(h);
  });
  return h;
}

export function trainClassifier(
  train: { z: Float32Array; labels: Int32Array; dim: number },
  test: { z: Float32Array; labels: Int32Array },
  seed = 0,
  epochs = 20,
  batch = 256,
): ClassifyResult {
  const rng = new Random(seed);
  const dims = [train.dim, 512, 256, 128, 10];
  const layers = dims.slice(1).map((d, i) => new Linear(dims[i], d, rng));
  const opt = new AdamW([{ params: layers.flatMap((l) => l.parameters()), lr: 1e-3, weightDecay: 0 }]);
  const n = train.labels.length;
  for (let e = 0; e < epochs; e++) {
    const perm = rng.permutation(n);
    for (let s = 0; s < n; s += batch) {
      const m = Math.min(batch, n - s);
      const x = new Float32Array(m * train.dim);
      const y = new Int32Array(m);
      for (let i = 0; i < m; i++) {
        x.set(train.z.subarray(perm[s + i] * train.dim, (perm[s + i] + 1) * train.dim), i * train.dim);
        y[i] = train.labels[perm[s + i]];
      }
      const loss = ops.crossEntropy(forward(layers, new Tensor(x, [m, train.dim])), y);
      loss.backward();
      opt.step();
      opt.zeroGrad();
    }
  }
  return {
    trainImages: n,
    testImages: test.labels.length,
    epochs,
    trainAccuracy: accuracy(layers, train.z, train.labels, train.dim),
    testAccuracy: accuracy(layers, test.z, test.labels, train.dim),
  };
}
