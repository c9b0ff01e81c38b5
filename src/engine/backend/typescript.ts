/**
 * Portable TypeScript kernels: plain loops with no platform dependencies.
 * This back-end is the oracle for the native one, so clarity wins over speed
 * here; it is still written with cache-friendly loop orders so the library
 * stays usable when the addon is missing.
 */
import type { Conv2dGeometry, KernelBackend, NeuronAffine } from './types.js';

function gemm(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  beta: 0 | 1,
  aBinary = false,
): void {
  if (beta === 0) c.fill(0, 0, m * n);
  // Accumulate row by row: C[i,:] += A[i,p] * B[p,:]. With B not transposed the
  // inner loop is contiguous; with transB we use dot products instead.
  if (!transB) {
    const row = new Float64Array(n);
    for (let i = 0; i < m; i++) {
      row.fill(0);
      for (let p = 0; p < k; p++) {
        const av = transA ? a[p * m + i] : a[i * k + p];
        if (av === 0) continue;
        const bo = p * n;
        if (aBinary) for (let j = 0; j < n; j++) row[j] += b[bo + j];
        else for (let j = 0; j < n; j++) row[j] += av * b[bo + j];
      }
      const co = i * n;
      for (let j = 0; j < n; j++) c[co + j] += row[j];
    }
  } else {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        const bo = j * k;
        if (transA) for (let p = 0; p < k; p++) s += a[p * m + i] * b[bo + p];
        else {
          const ao = i * k;
          for (let p = 0; p < k; p++) s += a[ao + p] * b[bo + p];
        }
        c[i * n + j] += s;
      }
    }
  }
}

const conv2dForward: KernelBackend['conv2dForward'] = (g, x, w, bias, y) => {
  const { batch, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW } = g;
  const { kernel: K, stride: S, padding: P } = g;
  const plane = OH * OW;
  const acc = new Float64Array(plane);
  for (let n = 0; n < batch; n++) {
    for (let o = 0; o < O; o++) {
      acc.fill(bias ? bias[o] : 0);
      for (let c = 0; c < C; c++) {
        const xo = (n * C + c) * H * W;
        for (let kh = 0; kh < K; kh++) {
          for (let kw = 0; kw < K; kw++) {
            const wv = w[((o * C + c) * K + kh) * K + kw];
            if (wv === 0) continue;
            for (let oh = 0; oh < OH; oh++) {
              const ih = oh * S - P + kh;
              if (ih < 0 || ih >= H) continue;
              const row = xo + ih * W;
              for (let ow = 0; ow < OW; ow++) {
                const iw = ow * S - P + kw;
                if (iw < 0 || iw >= W) continue;
                acc[oh * OW + ow] += wv * x[row + iw];
              }
            }
          }
        }
      }
      const yo = (n * O + o) * plane;
      for (let i = 0; i < plane; i++) y[yo + i] = acc[i];
    }
  }
};

const conv2dBackwardData: KernelBackend['conv2dBackwardData'] = (g, gy, w, gx, accumulate) => {
  const { batch, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW } = g;
  const { kernel: K, stride: S, padding: P } = g;
  const acc = new Float64Array(H * W);
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < C; c++) {
      acc.fill(0);
      for (let o = 0; o < O; o++) {
        const go = (n * O + o) * OH * OW;
        for (let kh = 0; kh < K; kh++) {
          for (let kw = 0; kw < K; kw++) {
            const wv = w[((o * C + c) * K + kh) * K + kw];
            if (wv === 0) continue;
            for (let oh = 0; oh < OH; oh++) {
              const ih = oh * S - P + kh;
              if (ih < 0 || ih >= H) continue;
              for (let ow = 0; ow < OW; ow++) {
                const iw = ow * S - P + kw;
                if (iw < 0 || iw >= W) continue;
                acc[ih * W + iw] += wv * gy[go + oh * OW + ow];
              }
            }
          }
        }
      }
      const xo = (n * C + c) * H * W;
      if (accumulate) for (let i = 0; i < H * W; i++) gx[xo + i] += acc[i];
      else for (let i = 0; i < H * W; i++) gx[xo + i] = acc[i];
    }
  }
};

const conv2dBackwardWeight: KernelBackend['conv2dBackwardWeight'] = (g, x, gy, gw, accumulate) => {
  const { batch, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW } = g;
  const { kernel: K, stride: S, padding: P } = g;
  for (let o = 0; o < O; o++) {
    for (let c = 0; c < C; c++) {
      for (let kh = 0; kh < K; kh++) {
        for (let kw = 0; kw < K; kw++) {
          let s = 0;
          for (let n = 0; n < batch; n++) {
            const xo = (n * C + c) * H * W;
            const go = (n * O + o) * OH * OW;
            for (let oh = 0; oh < OH; oh++) {
              const ih = oh * S - P + kh;
              if (ih < 0 || ih >= H) continue;
              for (let ow = 0; ow < OW; ow++) {
                const iw = ow * S - P + kw;
                if (iw < 0 || iw >= W) continue;
                s += gy[go + oh * OW + ow] * x[xo + ih * W + iw];
              }
            }
          }
          const idx = ((o * C + c) * K + kh) * K + kw;
          gw[idx] = accumulate ? gw[idx] + s : s;
        }
      }
    }
  }
};

const lifStep: KernelBackend['lifStep'] = (size, x, u, o, decay, threshold) => {
  const fDecay = Math.fround(decay);
  const fThreshold = Math.fround(threshold);
  for (let j = 0; j < size; j++) {
    const ut = Math.fround(Math.fround(Math.fround(fDecay * u[j]) * (1 - o[j])) + x[j]);
    u[j] = ut;
    o[j] = ut > fThreshold ? 1 : 0;
  }
};

const lifForward: KernelBackend['lifForward'] = (steps, size, x, u, o, decay, threshold) => {
  const fDecay = Math.fround(decay);
  // PyTorch compares a float32 tensor with a Python scalar in float32.
  const fThreshold = Math.fround(threshold);
  for (let i = 0; i < size; i++) {
    let uPrev = 0;
    let oPrev = 0;
    for (let t = 0; t < steps; t++) {
      const idx = t * size + i;
      // Float32 rounding at each step, as PyTorch's float32 arithmetic does.
      const ut = Math.fround(Math.fround(Math.fround(fDecay * uPrev) * (1 - oPrev)) + x[idx]);
      const ot = ut > fThreshold ? 1 : 0;
      u[idx] = ut;
      o[idx] = ot;
      uPrev = ut;
      oPrev = ot;
    }
  }
};

const lifBackward: KernelBackend['lifBackward'] = (steps, size, u, o, go, gx, decay, halfWidth, height) => {
  for (let i = 0; i < size; i++) {
    let gNext = 0; // dL/du_{t+1}
    for (let t = steps - 1; t >= 0; t--) {
      const idx = t * size + i;
      const ut = u[idx];
      const gO = go[idx] - decay * ut * gNext;
      const sg = Math.abs(ut) < halfWidth ? height : 0;
      const gU = gO * sg + decay * (1 - o[idx]) * gNext;
      gx[idx] = gU;
      gNext = gU;
    }
  }
};

/** A repeated input ([size], driving every step) written out over the steps. */
function expandSteps(steps: number, size: number, x: Float32Array, repeated: boolean): Float32Array {
  if (!repeated) return x;
  const full = new Float32Array(steps * size);
  for (let t = 0; t < steps; t++) full.set(x.subarray(0, size), t * size);
  return full;
}

/** channelAffine, then lifForward, in full. */
const affineLifForward: KernelBackend['affineLifForward'] = (steps, size, C, inner, x, a, b, o, decay, threshold, repeated) => {
  const y = new Float32Array(steps * size);
  channelAffine((steps * size) / (C * inner), C, inner, expandSteps(steps, size, x, repeated), a, b, y);
  lifForward(steps, size, y, y, o, decay, threshold);
};

/**
 * The membrane replayed in full (affine, then the forward recurrence over the
 * stored spikes), then lifBackward; the gradient sums are channelGradSums of the result.
 */
const lifBackwardRecompute: KernelBackend['lifBackwardRecompute'] = (
  steps, size, C, inner, x, a, b, o, go, gx, decay, halfWidth, height, repeated, sums,
) => {
  replayedLifBackward(steps, size, C, inner, x, a, b, o, go, gx, decay, halfWidth, height, repeated);
  if (sums) {
    const n = repeated ? size : steps * size;
    channelGradSums(n / (C * inner), C, inner, gx, x, sums.mean, sums.invStd, sums.sumG, sums.sumGX);
  }
};

function replayedLifBackward(
  steps: number, size: number, C: number, inner: number, x: Float32Array, a: Float32Array, b: Float32Array,
  o: Float32Array, go: Float32Array, gx: Float32Array, decay: number, halfWidth: number, height: number, repeated: boolean,
): void {
  const u = new Float32Array(steps * size);
  channelAffine((steps * size) / (C * inner), C, inner, expandSteps(steps, size, x, repeated), a, b, u);
  const fDecay = Math.fround(decay);
  for (let t = 1; t < steps; t++) {
    for (let i = 0; i < size; i++) {
      const idx = t * size + i;
      const prev = idx - size;
      u[idx] = Math.fround(Math.fround(Math.fround(fDecay * u[prev]) * (1 - o[prev])) + u[idx]);
    }
  }
  if (!repeated) {
    lifBackward(steps, size, u, o, go, gx, decay, halfWidth, height);
    return;
  }
  const perStep = new Float32Array(steps * size);
  lifBackward(steps, size, u, o, go, perStep, decay, halfWidth, height);
  for (let i = 0; i < size; i++) {
    let s = 0;
    for (let t = steps - 1; t >= 0; t--) s += perStep[t * size + i];
    gx[i] = s;
  }
}

/** affineLifForward into a spikes array, then timeWeightedSum of it. */
const affineLifTimeSum: KernelBackend['affineLifTimeSum'] = (steps, size, C, inner, x, a, b, coef, out, decay, threshold) => {
  const o = new Float32Array(steps * size);
  affineLifForward(steps, size, C, inner, x, a, b, o, decay, threshold, false);
  timeWeightedSum(steps, size, o, coef, out);
};

/** The spikes written out by affineLifForward, the output gradient by timeWeightedSpread, then lifBackwardRecompute. */
const lifBackwardTimeSum: KernelBackend['lifBackwardTimeSum'] = (steps, size, C, inner, x, a, b, coef, g, gx, decay, threshold, halfWidth, height, sums) => {
  const o = new Float32Array(steps * size);
  affineLifForward(steps, size, C, inner, x, a, b, o, decay, threshold, false);
  const go = new Float32Array(steps * size);
  timeWeightedSpread(steps, size, g, coef, go, false);
  lifBackwardRecompute(steps, size, C, inner, x, a, b, o, go, gx, decay, halfWidth, height, false, sums);
};

/** The input y of a PLIF-family layer written out over the steps: x or its repeat, or the affine of it. */
function neuronInput(steps: number, size: number, x: Float32Array, affine: NeuronAffine | null, repeated: boolean): Float32Array {
  const full = expandSteps(steps, size, x, repeated);
  if (!affine) return full;
  const { channels: C, inner, a, b, perStep } = affine;
  const y = new Float32Array(steps * size);
  if (!perStep) channelAffine((steps * size) / (C * inner), C, inner, full, a, b, y);
  else {
    for (let t = 0; t < steps; t++) {
      const step = (arr: Float32Array) => arr.subarray(t * size, (t + 1) * size);
      channelAffine(size / (C * inner), C, inner, step(full), a.subarray(t * C, (t + 1) * C), b.subarray(t * C, (t + 1) * C), step(y));
    }
  }
  return y;
}

const plifForward: KernelBackend['plifForward'] = (steps, size, x, o, k, threshold, affine, repeated) => {
  const y = neuronInput(steps, size, x, affine, repeated);
  const fk = Math.fround(k);
  const th = Math.fround(threshold);
  for (let i = 0; i < size; i++) {
    let v = 0;
    for (let t = 0; t < steps; t++) {
      const idx = t * size + i;
      const d = Math.fround(y[idx] - v);
      const h = Math.fround(v + Math.fround(d * fk));
      const s = h >= th ? 1 : 0;
      o[idx] = s;
      v = s ? 0 : h;
    }
  }
};

const plifBackward: KernelBackend['plifBackward'] = (steps, size, x, o, go, gx, k, threshold, alpha, affine, repeated, sums) => {
  const y = neuronInput(steps, size, x, affine, repeated);
  // The kernel's parameters are float32 values.
  const fk = Math.fround(k);
  const th = Math.fround(threshold);
  const fa = Math.fround(alpha);
  const c = (Math.PI / 2) * fa;
  const halfAlpha = fa / 2;
  const h = new Float32Array(steps);
  const d = new Float32Array(steps);
  let dk = 0;
  let dth = 0;
  for (let i = 0; i < size; i++) {
    let v = 0;
    for (let t = 0; t < steps; t++) {
      const idx = t * size + i;
      d[t] = y[idx] - v;
      h[t] = v + Math.fround(d[t] * fk);
      v = o[idx] ? 0 : h[t];
    }
    let dv = 0; // dL/dv_t
    let acc = 0;
    for (let t = steps - 1; t >= 0; t--) {
      const idx = t * size + i;
      const cz = c * (h[t] - th);
      const gs = go[idx] * (halfAlpha / (1 + cz * cz));
      const dh = gs + dv * (1 - o[idx]);
      const g = Math.fround(dh * fk);
      if (repeated) acc += g;
      else gx[idx] = g;
      dk += dh * d[t];
      dth -= gs;
      dv = dh * (1 - fk);
    }
    if (repeated) gx[i] = acc;
  }
  sums[0] = dk;
  sums[1] = dth;
};

/** The winner (0-3, row-major) of the 2×2 window at x[i], x[i + 1], x[i + W], x[i + W + 1]: strict >, or NaN. */
function windowWinner(x: Float32Array, i: number, W: number): number {
  let best = x[i];
  let at = 0;
  let v = x[i + 1];
  if (v > best || v !== v) (best = v), (at = 1);
  v = x[i + W];
  if (v > best || v !== v) (best = v), (at = 2);
  v = x[i + W + 1];
  if (v > best || v !== v) at = 3;
  return at;
}

const maxPool2x2Forward: KernelBackend['maxPool2x2Forward'] = (planes, H, W, x, y) => {
  const OW = W / 2;
  const rows = planes * (H / 2);
  for (let r = 0; r < rows; r++) {
    const row = 2 * r * W;
    for (let ow = 0; ow < OW; ow++) {
      const i = row + 2 * ow;
      const a = windowWinner(x, i, W);
      y[r * OW + ow] = x[i + (a >> 1) * W + (a & 1)];
    }
  }
};

const maxPool2x2Backward: KernelBackend['maxPool2x2Backward'] = (planes, H, W, x, g, gx, accumulate) => {
  const OW = W / 2;
  const rows = planes * (H / 2);
  for (let r = 0; r < rows; r++) {
    const row = 2 * r * W;
    for (let ow = 0; ow < OW; ow++) {
      const i = row + 2 * ow;
      const a = windowWinner(x, i, W);
      const gv = g[r * OW + ow];
      if (accumulate) gx[i + (a >> 1) * W + (a & 1)] += gv;
      else {
        gx[i] = a === 0 ? gv : 0;
        gx[i + 1] = a === 1 ? gv : 0;
        gx[i + W] = a === 2 ? gv : 0;
        gx[i + W + 1] = a === 3 ? gv : 0;
      }
    }
  }
};

const plifPoolForward: KernelBackend['plifPoolForward'] = (steps, size, x, o, pooled, k, threshold, affine, repeated, height, width) => {
  plifForward(steps, size, x, o, k, threshold, affine, repeated);
  maxPool2x2Forward((steps * size) / (height * width), height, width, o, pooled);
};

const plifPoolBackward: KernelBackend['plifPoolBackward'] = (steps, size, x, o, gPooled, gx, k, threshold, alpha, affine, repeated, sums, height, width) => {
  const go = new Float32Array(steps * size);
  maxPool2x2Backward((steps * size) / (height * width), height, width, o, gPooled, go, false);
  plifBackward(steps, size, x, o, go, gx, k, threshold, alpha, affine, repeated, sums);
};

const timeWeightedSum: KernelBackend['timeWeightedSum'] = (steps, size, x, coef, out) => {
  out.fill(0, 0, size);
  for (let t = 0; t < steps; t++) {
    const c = coef[t];
    const o = t * size;
    // The double sum of two floats rounds on the store exactly as a float add.
    for (let i = 0; i < size; i++) out[i] += Math.fround(x[o + i] * c);
  }
};

const timeWeightedSpread: KernelBackend['timeWeightedSpread'] = (steps, size, g, coef, gx, accumulate) => {
  for (let t = 0; t < steps; t++) {
    const c = coef[t];
    const o = t * size;
    if (accumulate) for (let i = 0; i < size; i++) gx[o + i] += g[i] * c;
    else for (let i = 0; i < size; i++) gx[o + i] = g[i] * c;
  }
};

const channelMeanVar: KernelBackend['channelMeanVar'] = (outer, C, inner, x, mean, variance) => {
  const count = outer * inner;
  mean.fill(0);
  variance.fill(0);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < C; c++) {
      const base = (o * C + c) * inner;
      let s = 0;
      for (let i = 0; i < inner; i++) s += x[base + i];
      mean[c] += s;
    }
  }
  for (let c = 0; c < C; c++) mean[c] /= count;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < C; c++) {
      const base = (o * C + c) * inner;
      const m = mean[c];
      let s = 0;
      for (let i = 0; i < inner; i++) {
        const d = x[base + i] - m;
        s += d * d;
      }
      variance[c] += s;
    }
  }
  for (let c = 0; c < C; c++) variance[c] /= count;
};

const adamwUpdate: KernelBackend['adamwUpdate'] = (d, grad, m, v, decay, b1, b2, stepSize, bc2Sqrt, eps) => {
  let poison = 0; // NaN exactly when a stored value is NaN or infinite
  for (let i = 0; i < d.length; i++) {
    const gi = grad[i];
    d[i] *= decay;
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    d[i] -= (stepSize * m[i]) / (Math.sqrt(v[i]) / bc2Sqrt + eps);
    poison += d[i] * 0 + m[i] * 0 + v[i] * 0;
  }
  return Number.isFinite(poison);
};

const channelSums: KernelBackend['channelSums'] = (outer, C, inner, x, sum) => {
  sum.fill(0);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < C; c++) {
      const base = (o * C + c) * inner;
      let s = 0;
      for (let i = 0; i < inner; i++) s += x[base + i];
      sum[c] += s;
    }
  }
};

// The factor looked up by the sign test, not chosen by a branch: batch-norm
// outputs are positive or negative at random, and a mispredicted branch made
// the loop 4× slower. v·1 = v exactly.
export const leakyRelu: KernelBackend['leakyRelu'] = (n, x, y, slope) => {
  const factor = Float64Array.of(slope, 1);
  for (let i = 0; i < n; i++) {
    const v = x[i];
    y[i] = v * factor[+(v > 0)];
  }
};

export const leakyReluBackward: KernelBackend['leakyReluBackward'] = (n, x, g, gx, slope, accumulate) => {
  const factor = Float64Array.of(slope, 1);
  if (accumulate) for (let i = 0; i < n; i++) gx[i] += g[i] * factor[+(x[i] > 0)];
  else for (let i = 0; i < n; i++) gx[i] = 0 + g[i] * factor[+(x[i] > 0)];
};

const channelAffine: KernelBackend['channelAffine'] = (outer, C, inner, x, a, b, y) => {
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < C; c++) {
      const base = (o * C + c) * inner;
      const av = a[c];
      const bv = b[c];
      for (let i = 0; i < inner; i++) y[base + i] = av * x[base + i] + bv;
    }
  }
};

const channelGradSums: KernelBackend['channelGradSums'] = (outer, C, inner, g, x, mean, invStd, sumG, sumGX) => {
  sumG.fill(0);
  sumGX.fill(0);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < C; c++) {
      const base = (o * C + c) * inner;
      const m = mean[c];
      const is = invStd[c];
      let s1 = 0;
      let s2 = 0;
      for (let i = 0; i < inner; i++) {
        const gv = g[base + i];
        s1 += gv;
        s2 += gv * (x[base + i] - m) * is;
      }
      sumG[c] += s1;
      sumGX[c] += s2;
    }
  }
};

const channelNormBackward: KernelBackend['channelNormBackward'] = (
  outer, C, inner, g, x, a, mean, invStd, sumG, sumGX, batchStats, gx, accumulate,
) => {
  // Each element is read before it is written, so gx may be g itself; the
  // first gradient is 0 + value, what adding to a cleared buffer gives.
  const count = outer * inner;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < C; c++) {
      const base = (o * C + c) * inner;
      const av = a[c];
      const mg = batchStats ? sumG[c] / count : 0;
      const mgx = batchStats ? sumGX[c] / count : 0;
      const m = mean[c];
      const is = invStd[c];
      for (let i = 0; i < inner; i++) {
        const d = batchStats ? av * (g[base + i] - mg - (x[base + i] - m) * is * mgx) : av * g[base + i];
        gx[base + i] = (accumulate ? gx[base + i] : 0) + d;
      }
    }
  }
};

export const typescriptBackend: KernelBackend = {
  name: 'typescript',
  description: 'portable TypeScript kernels',
  gemm,
  conv2dForward,
  conv2dBackwardData,
  conv2dBackwardWeight,
  lifForward,
  lifBackward,
  lifBackwardRecompute,
  affineLifForward,
  lifStep,
  affineLifTimeSum,
  lifBackwardTimeSum,
  plifForward,
  plifBackward,
  plifPoolForward,
  plifPoolBackward,
  maxPool2x2Forward,
  maxPool2x2Backward,
  timeWeightedSum,
  timeWeightedSpread,
  channelMeanVar,
  adamwUpdate,
  channelSums,
  channelAffine,
  leakyRelu,
  leakyReluBackward,
  channelGradSums,
  channelNormBackward,
};
