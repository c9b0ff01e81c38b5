/**
 * Robustness of the decoder to perturbed latent spike trains (ESVAE paper,
 * §IV-D, Table II, Fig. 5 and Fig. 12), for FSVAE and ESVAE.
 *
 * Definitions (the paper gives no code; these are ours, stated precisely):
 *   - time shuffle: for each image, one random permutation of the T time steps
 *     is applied to its whole latent z[·, n, ·] (every neuron keeps its spike
 *     count; only the timing changes);
 *   - noise of amplitude a: every latent entry z[t, n, c] is flipped
 *     (0 ↔ 1) independently with probability a — the paper adds "Gaussian
 *     noise with probability a so that some of the existing spikes disappear
 *     or new spikes appear"; a flip is exactly that effect on a binary spike.
 * Each perturbed latent is decoded; the reconstruction MSE ([-1, 1] scale) is
 * measured against the original images and against the vanilla (unperturbed)
 * reconstructions.
 */
import { Random } from '../engine/random.js';
import { Tensor, noGrad } from '../engine/tensor.js';
import { ESVAE } from '../models/esvae.js';
import { FSVAE } from '../models/fsvae.js';
import type { GenerativeModel } from '../models/types.js';
import { UserError } from '../util/errors.js';

export const NOISE_AMPLITUDES = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3];

export interface RobustnessRow {
  perturbation: string;
  mseToOriginal: number;
  mseToVanilla: number;
}

export interface RobustnessResult {
  rows: RobustnessRow[];
  /** Images for a figure: [input, vanilla, shuffled, noised a...] each [n, C, H, W]. */
  panels: Array<{ label: string; images: Float32Array }>;
}

function latentOf(model: GenerativeModel, x: Tensor, rng: Random): Tensor {
  if (model instanceof ESVAE) return model.encodeLatent(x, rng).z;
  if (model instanceof FSVAE) return model.posteriorForward(model.encodeSpikes(x), rng).sampledZ;
  throw new UserError(`robustness applies to spiking latents (FSVAE, ESVAE), not to '${model.kind}'`);
}

export function timeShuffle(z: Tensor, rng: Random): Tensor {
  const [T, N, C] = z.shape;
  const out = new Float32Array(z.size);
  for (let n = 0; n < N; n++) {
    const perm = rng.permutation(T);
    for (let t = 0; t < T; t++) out.set(z.data.subarray((perm[t] * N + n) * C, (perm[t] * N + n + 1) * C), (t * N + n) * C);
  }
  const r = new Tensor(out, z.shape);
  r.binary = true;
  return r;
}

export function flipNoise(z: Tensor, a: number, rng: Random): Tensor {
  const out = new Float32Array(z.size);
  for (let i = 0; i < z.size; i++) out[i] = rng.uniform() < a ? 1 - z.data[i] : z.data[i];
  const r = new Tensor(out, z.shape);
  r.binary = true;
  return r;
}

function mse(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s / a.length;
}

export function robustness(model: GenerativeModel, images: Tensor, seed = 0, amplitudes = NOISE_AMPLITUDES): RobustnessResult {
  const decoder = model as unknown as FSVAE;
  return noGrad(() => {
    model.eval();
    const rng = new Random(seed);
    const z = latentOf(model, images, rng);
    const vanilla = decoder.decode(z).data;
    const rows: RobustnessRow[] = [];
    const panels = [
      { label: 'Input', images: images.data },
      { label: 'Reconstructed', images: vanilla },
    ];
    const add = (label: string, zz: Tensor) => {
      const out = decoder.decode(zz).data;
      rows.push({ perturbation: label, mseToOriginal: mse(out, images.data), mseToVanilla: mse(out, vanilla) });
      panels.push({ label, images: out });
    };
    rows.push({ perturbation: 'none', mseToOriginal: mse(vanilla, images.data), mseToVanilla: 0 });
    add('Time shuffled', timeShuffle(z, rng));
    for (const a of amplitudes) add(`Noised a=${a.toFixed(2)}`, flipNoise(z, a, rng));
    return { rows, panels };
  });
}
