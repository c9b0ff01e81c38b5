/**
 * FID and Inception Score exactly as the FSVAE code computes them
 * (reference-semantics.md §5.2-5.3).
 *
 * Both start from generated images x in [-1, 1], turned into (x+1)/2·255 with
 * gray repeated to three channels. Then:
 *   - FID ("clean" mode of clean-fid): each channel resized to 299×299 by
 *     Pillow's float bicubic resize, clipped to [0, 255], normalised as
 *     (x − 128)/128, 2048-d pool features of the FID Inception; Fréchet distance
 *     to reference statistics (μ, Σ).
 *   - IS: bilinear upsampling to 299×299 (align_corners=False) of the
 *     unnormalised [0, 255] images, torchvision's ImageNet Inception-v3,
 *     softmax; IS = mean over splits of exp(mean_i KL(p(y|x_i) ‖ p̄_split)),
 *     with the standard deviation over splits.
 */
import { existsSync } from 'node:fs';
import { FloatPlaneResizer, upsampleBilinearTorch } from '../data/resize.js';
import { readNpz } from '../io/npy.js';
import { readSafetensors, toFloat64, type StoredTensor } from '../io/safetensors.js';
import { UserError } from '../util/errors.js';
import { covariance } from './linalg.js';
import { frechetDistance } from './frechet.js';
import type { InceptionV3 } from './inception.js';

export const INCEPTION_SIZE = 299;

/** (x+1)/2·255 of channel `ch` of image i (gray images give their one channel for all three). */
function plane255(images: Float32Array, i: number, ch: number, channels: number, plane: number): Float32Array {
  const c = channels === 1 ? 0 : ch;
  const src = images.subarray((i * channels + c) * plane, (i * channels + c + 1) * plane);
  const out = new Float32Array(plane);
  for (let p = 0; p < plane; p++) out[p] = ((src[p] + 1) / 2) * 255;
  return out;
}

/** clean-fid's input for images [n, C, H, W] in [-1, 1]: [n, 3, 299, 299], (clip(resize(x)) − 128)/128. */
export function cleanFidInputs(images: Float32Array, n: number, channels: number, height: number, width: number): Float32Array {
  const S = INCEPTION_SIZE;
  const resizer = new FloatPlaneResizer(width, height, S, S, 'bicubic');
  const out = new Float32Array(n * 3 * S * S);
  const tmp = new Float32Array(S * S);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < 3; ch++) {
      resizer.resize(plane255(images, i, ch, channels, height * width), tmp);
      const o = (i * 3 + ch) * S * S;
      for (let p = 0; p < S * S; p++) {
        const v = tmp[p] < 0 ? 0 : tmp[p] > 255 ? 255 : tmp[p];
        out[o + p] = (v - 128) / 128;
      }
    }
  }
  return out;
}

/** The IS input of the reference: [0, 255] images bilinearly upsampled to 299×299, not normalised. */
export function inceptionScoreInputs(images: Float32Array, n: number, channels: number, height: number, width: number): Float32Array {
  const S = INCEPTION_SIZE;
  const out = new Float32Array(n * 3 * S * S);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < 3; ch++) upsampleBilinearTorch(plane255(images, i, ch, channels, height * width), width, height, S, S, out, (i * 3 + ch) * S * S);
  }
  return out;
}

/**
 * Row-wise softmax of logits [n, k], rounded to float32 as the reference's
 * F.softmax output is (so probabilities below float32's range are exactly 0,
 * as there, rather than float64 denormals whose ratio to p̄ would overflow).
 */
export function softmax(logits: Float32Array, n: number, k: number): Float64Array {
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, logits[i * k + j]);
    let s = 0;
    for (let j = 0; j < k; j++) s += out[i * k + j] = Math.exp(logits[i * k + j] - m);
    for (let j = 0; j < k; j++) out[i * k + j] = Math.fround(out[i * k + j] / s);
  }
  return out;
}

/**
 * IS from class probabilities [n, k] in `splits` consecutive equal parts
 * (each of the reference's parts is one generated batch). KL uses the natural
 * log, as scipy.stats.entropy does (terms with p = 0 contribute 0).
 */
export function inceptionScore(probs: Float64Array, n: number, k: number, splits: number): { mean: number; std: number; splitScores: number[] } {
  if (splits < 1 || n % splits !== 0) throw new UserError(`inception score: ${n} predictions do not divide into ${splits} splits`);
  const per = n / splits;
  const scores: number[] = [];
  for (let s = 0; s < splits; s++) {
    const py = new Float64Array(k);
    for (let i = s * per; i < (s + 1) * per; i++) for (let j = 0; j < k; j++) py[j] += probs[i * k + j];
    for (let j = 0; j < k; j++) py[j] /= per;
    let kl = 0;
    for (let i = s * per; i < (s + 1) * per; i++) {
      // scipy.stats.entropy normalises each distribution to sum 1 first.
      let sp = 0;
      for (let j = 0; j < k; j++) sp += probs[i * k + j];
      let e = 0;
      for (let j = 0; j < k; j++) {
        const p = probs[i * k + j] / sp;
        if (p > 0) e += p * Math.log(p / py[j]);
      }
      kl += e;
    }
    scores.push(Math.exp(kl / per));
  }
  const mean = scores.reduce((a, b) => a + b, 0) / splits;
  const std = Math.sqrt(scores.reduce((a, b) => a + (b - mean) ** 2, 0) / splits);
  return { mean, std, splitScores: scores };
}

/** Pool features [n, 2048] of the FID Inception for images in [-1, 1], `chunk` images at a time. */
export function fidFeatures(net: InceptionV3, images: Float32Array, n: number, channels: number, height: number, width: number, chunk = 8): Float32Array {
  const per = channels * height * width;
  const out = new Float32Array(n * 2048);
  for (let s = 0; s < n; s += chunk) {
    const m = Math.min(chunk, n - s);
    const x = cleanFidInputs(images.subarray(s * per, (s + m) * per), m, channels, height, width);
    out.set(net.forward(x, m).pool, s * 2048);
  }
  return out;
}

/** Class probabilities [n, classes] of the IS Inception for images in [-1, 1]. */
export function isProbabilities(net: InceptionV3, images: Float32Array, n: number, channels: number, height: number, width: number, chunk = 8): Float64Array {
  const per = channels * height * width;
  const out = new Float64Array(n * net.classes);
  for (let s = 0; s < n; s += chunk) {
    const m = Math.min(chunk, n - s);
    const x = inceptionScoreInputs(images.subarray(s * per, (s + m) * per), m, channels, height, width);
    out.set(softmax(net.forward(x, m).logits, m, net.classes), s * net.classes);
  }
  return out;
}

export interface FidStats {
  mu: Float64Array;
  sigma: Float64Array;
  dim: number;
  /** Where the statistics came from (file metadata or "npz"). */
  note: string;
}

/**
 * Reference statistics: clean-fid's `<name>_clean_custom_na.npz` (as shipped
 * in the FSVAE repository's metrics/stats_fid), or a safetensors file with
 * `mu` and `sigma` (what `spikevae fid-stats` writes).
 */
export function loadFidStats(path: string): FidStats {
  if (!existsSync(path)) throw new UserError(`${path}: FID reference statistics not found`);
  let tensors: Map<string, StoredTensor>;
  let note = '';
  if (path.endsWith('.npz')) {
    tensors = readNpz(path);
    note = 'npz';
  } else {
    const f = readSafetensors(path);
    tensors = f.tensors;
    note = String(f.metadata['note'] ?? '');
  }
  const mu = tensors.get('mu');
  const sigma = tensors.get('sigma');
  if (!mu || !sigma) throw new UserError(`${path}: FID statistics need arrays 'mu' and 'sigma' (found: ${[...tensors.keys()].join(', ') || 'none'})`);
  const dim = mu.shape[0];
  if (mu.shape.length !== 1 || sigma.shape.length !== 2 || sigma.shape[0] !== dim || sigma.shape[1] !== dim) {
    throw new UserError(`${path}: mu [${mu.shape.join(', ')}] and sigma [${sigma.shape.join(', ')}] do not fit together`);
  }
  if (dim !== 2048) throw new UserError(`${path}: statistics of ${dim}-d features; FID uses Inception's 2048-d pool features`);
  return { mu: toFloat64(mu, `${path}: 'mu'`), sigma: toFloat64(sigma, `${path}: 'sigma'`), dim, note };
}

/** Mean and covariance (np.cov, rowvar=False) of features [n, dim]. */
export function featureStats(features: Float32Array, n: number, dim = 2048): { mu: Float64Array; sigma: Float64Array } {
  const { mean, cov } = covariance(features, n, dim);
  return { mu: mean, sigma: cov };
}

export function fidFromFeatures(features: Float32Array, n: number, stats: FidStats): number {
  const { mean, cov } = covariance(features, n, stats.dim);
  return frechetDistance(mean, cov, stats.mu, stats.sigma, stats.dim);
}
