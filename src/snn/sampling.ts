/**
 * ESVAE's latent operations (reference-semantics.md §3.2-3.3), with the exact
 * semantics of the official code.
 */
import { Tensor, makeResult } from '../engine/tensor.js';
import type { Random } from '../engine/random.js';
import { ShapeError, fmtShape } from '../util/errors.js';
import { SURROGATE_HALF_WIDTH } from './functional.js';

/**
 * Reparameterizable Bernoulli spikes ("SampledSpikeAct"): rates r [N, C]
 * repeated over T, z[t,n,c] = (r[n,c] > u[t,n,c]) with u ~ U(0,1) drawn
 * independently per element and step. Backward: dz/dr = 1 where
 * |r − u| < 0.5 (a window centred on the noise), summed over T through the
 * repeat. Returns time-major spikes [T, N, C]. Pass `noise` to fix u (tests).
 */
export function bernoulliSpikes(r: Tensor, steps: number, rng: Random, noise?: Float32Array): Tensor {
  if (r.ndim !== 2) throw new ShapeError('bernoulliSpikes', `rates must be [N, C], got ${fmtShape(r.shape)}`);
  const m = r.size;
  const u = noise ?? rng.fillUniform(new Float32Array(steps * m));
  if (u.length !== steps * m) throw new ShapeError('bernoulliSpikes', `noise has ${u.length} values, needs ${steps * m}`);
  const z = new Float32Array(steps * m);
  const rd = r.data;
  for (let t = 0; t < steps; t++) for (let i = 0; i < m; i++) z[t * m + i] = rd[i] > u[t * m + i] ? 1 : 0;
  const out = makeResult('bernoulliSpikes', z, [steps, ...r.shape], [r], (g) => {
    const gr = r.gradBuffer();
    const height = 1 / (2 * SURROGATE_HALF_WIDTH);
    for (let t = 0; t < steps; t++)
      for (let i = 0; i < m; i++) if (Math.abs(rd[i] - u[t * m + i]) < SURROGATE_HALF_WIDTH) gr[i] += g[t * m + i] * height;
  });
  out.binary = true;
  return out;
}

/**
 * Squared MMD with the official 5-kernel Gaussian mixture (MMD_loss, 'rbf'):
 * Z = [X; Y], D_ij = ‖Z_i − Z_j‖², base bandwidth = ΣD/(n² − n) computed
 * without gradient, divided by 2^(5//2) = 4, bandwidths ×{1, 2, 4, 8, 16};
 * K = Σ_b exp(−D/bw_b); MMD² = mean K_XX + mean K_YY − mean K_XY − mean K_YX
 * (the biased V-statistic, diagonals included). `fixedBandwidth` replaces
 * the adaptive base bandwidth (before the division by 4), like fix_sigma.
 */
export function mmdRbf(x: Tensor, y: Tensor, kernelNum = 5, kernelMul = 2, fixedBandwidth?: number): Tensor {
  if (x.ndim !== 2 || y.ndim !== 2 || x.shape[0] !== y.shape[0] || x.shape[1] !== y.shape[1]) {
    throw new ShapeError('mmdRbf', `X ${fmtShape(x.shape)} and Y ${fmtShape(y.shape)} must both be [N, C]`);
  }
  const [N, C] = x.shape;
  const n = 2 * N;
  // Z = [X; Y] in one contiguous array: the loops below are O(n²·C), 16 M
  // terms a step at ESVAE's batch of 256, and reading through a per-element
  // choice of X or Y kept them from being compiled tight.
  const Z = new Float64Array(n * C);
  Z.set(x.data);
  Z.set(y.data, N * C);
  const D = new Float64Array(n * n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const zi = i * C;
    for (let j = i + 1; j < n; j++) {
      const zj = j * C;
      let s = 0;
      for (let c = 0; c < C; c++) s += (Z[zi + c] - Z[zj + c]) ** 2;
      D[i * n + j] = s;
      D[j * n + i] = s;
      total += 2 * s;
    }
  }
  // fix_sigma of the official MMD_loss; the default adaptive rule otherwise.
  let bw = fixedBandwidth ?? total / (n * n - n);
  bw /= kernelMul ** Math.floor(kernelNum / 2);
  const bws = Float64Array.from({ length: kernelNum }, (_, b) => bw * kernelMul ** b);
  // K and dK/dD depend on D alone, and D is symmetric: each pair's kernel is
  // evaluated once (exp is deterministic, so both halves get the same value),
  // and the loss still adds every (i, j) in row order.
  const K = new Float64Array(n * n);
  const dK = new Float64Array(n * n); // dK_ij/dD_ij
  for (let i = 0; i < n; i++)
    for (let j = i; j < n; j++) {
      let k = 0;
      let dk = 0;
      const d = D[i * n + j];
      for (let b = 0; b < kernelNum; b++) {
        const e = bw > 0 ? Math.exp(-d / bws[b]) : 1;
        k += e;
        dk -= bw > 0 ? e / bws[b] : 0;
      }
      K[i * n + j] = K[j * n + i] = k;
      dK[i * n + j] = dK[j * n + i] = dk;
    }
  const within = 1 / (N * N);
  const across = -1 / (N * N);
  let loss = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) loss += ((i < N) === (j < N) ? within : across) * K[i * n + j];
  return makeResult('mmdRbf', new Float32Array([loss]), [], [x, y], (g) => {
    // dL/dZ_i = Σ_j 4·s_ij·K'_ij·(Z_i − Z_j) (s and K are symmetric); the bandwidth is a constant.
    const gx = x.requiresGrad ? x.gradBuffer() : null;
    const gy = y.requiresGrad ? y.gradBuffer() : null;
    for (let i = 0; i < n; i++) {
      const dst = i < N ? gx : gy;
      if (!dst) continue;
      const row = (i < N ? i : i - N) * C;
      const zi = i * C;
      for (let j = 0; j < n; j++) {
        if (j === i) continue;
        const w = 4 * ((i < N) === (j < N) ? within : across) * dK[i * n + j] * g[0];
        const zj = j * C;
        for (let c = 0; c < C; c++) dst[row + c] += w * (Z[zi + c] - Z[zj + c]);
      }
    }
  });
}
