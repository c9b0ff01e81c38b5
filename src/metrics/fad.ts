/**
 * Fréchet Autoencoder Distance (reference-semantics.md §5.4): features are
 * the `latent_layer` outputs of the official FSVAE repository's convolutional
 * autoencoder (encoder only, BatchNorm in evaluation mode), for images in
 * [-1, 1] at native resolution; the distance is taken against the official
 * reference statistics (μ float32, Σ float64).
 */
import { Linear } from '../engine/layers.js';
import { Module } from '../engine/module.js';
import { Random } from '../engine/random.js';
import { Tensor, noGrad } from '../engine/tensor.js';
import { readSafetensors, toFloat64 } from '../io/safetensors.js';
import { loadStateDict } from '../models/checkpoint.js';
import { AnnConvStack } from '../models/annvae.js';
import { validateModelConfig } from '../models/config.js';
import { UserError } from '../util/errors.js';
import { covariance } from './linalg.js';
import { frechetDistance } from './frechet.js';

/** The encoder of the official `AE` (32×32; 4 stages) or `AELarge` (64×64; 5 stages): the FAD autoencoder's own encoder stack. */
export class FadEncoder extends Module {
  readonly stack: AnnConvStack;
  readonly latent: Linear;
  constructor(readonly inChannels: number, readonly latentDim: number, readonly imageSize: 32 | 64) {
    super();
    const rng = new Random(0);
    this.stack = new AnnConvStack('FAD autoencoder', inChannels, imageSize, imageSize === 64, (n, m) => this.registerModule(n, m));
    this.stack.buildEncoder(rng);
    this.latent = this.registerModule('latent_layer', new Linear(this.stack.flatSize, latentDim, rng));
    this.eval();
  }

  /** Features [n, latentDim] of images [n, C, S, S] in [-1, 1], in chunks. */
  features(images: Float32Array, n: number, chunk = 500): Float32Array {
    const per = this.inChannels * this.imageSize * this.imageSize;
    if (images.length < n * per) throw new UserError(`FAD: ${images.length} values are fewer than ${n} images of ${per}`);
    const out = new Float32Array(n * this.latentDim);
    noGrad(() => {
      for (let s = 0; s < n; s += chunk) {
        const m = Math.min(chunk, n - s);
        const x = new Tensor(images.subarray(s * per, (s + m) * per), [m, this.inChannels, this.imageSize, this.imageSize]);
        const f = this.latent.forward(this.stack.encode(x));
        out.set(f.data, s * this.latentDim);
      }
    });
    return out;
  }
}

/** Loads the official AE weights (safetensors with the PyTorch state_dict names; decoder tensors ignored). */
export function loadFadEncoder(path: string): FadEncoder {
  const file = readSafetensors(path);
  const w = file.tensors.get('latent_layer.weight');
  const c0 = file.tensors.get('encoder.0.0.weight');
  if (!w || !c0) throw new UserError(`${path}: not FAD autoencoder weights (no latent_layer.weight / encoder.0.0.weight)`);
  const size = file.tensors.has('encoder.4.0.weight') ? 64 : 32;
  // The geometry comes from tensor shapes a file sets: checked like a model configuration before anything is built.
  const cfg = validateModelConfig('fad-ae', { variant: size === 64 ? 'ae-large' : 'ae', inChannels: c0.shape[1], imageSize: size, latentDim: w.shape[0] }, `${path}: FAD autoencoder weights`);
  const enc = new FadEncoder(Number(cfg.inChannels), Number(cfg.latentDim), size);
  loadStateDict(enc, file.tensors, path, (name) => !name.startsWith('encoder.') && !name.startsWith('latent_layer.'));
  return enc;
}

export interface FadStats {
  mu: Float64Array;
  sigma: Float64Array;
  dim: number;
  /** False for statistics of a self-trained autoencoder (spikevae train-ae). */
  comparableWithPapers: boolean;
}

export function loadFadStats(path: string): FadStats {
  const f = readSafetensors(path);
  const mu = f.tensors.get('mu');
  const sigma = f.tensors.get('sigma');
  if (!mu || !sigma) throw new UserError(`${path}: reference statistics need tensors 'mu' and 'sigma'`);
  const dim = mu.shape[0];
  if (mu.shape.length !== 1) throw new UserError(`${path}: mu has shape [${mu.shape.join(', ')}], expected a vector`);
  if (sigma.shape.length !== 2 || sigma.shape[0] !== dim || sigma.shape[1] !== dim) {
    throw new UserError(`${path}: sigma has shape [${sigma.shape.join(', ')}], expected [${dim}, ${dim}]`);
  }
  return { mu: toFloat64(mu, `${path}: 'mu'`), sigma: toFloat64(sigma, `${path}: 'sigma'`), dim, comparableWithPapers: f.metadata['comparable_with_papers'] !== 'false' };
}

/** FAD of a feature set against reference statistics. */
export function fadFromFeatures(features: Float32Array, n: number, stats: FadStats): number {
  if (features.length !== n * stats.dim) throw new UserError(`FAD: features have ${features.length / n} dimensions, the statistics ${stats.dim}`);
  const { mean, cov } = covariance(features, n, stats.dim);
  return frechetDistance(mean, cov, stats.mu, stats.sigma, stats.dim);
}
