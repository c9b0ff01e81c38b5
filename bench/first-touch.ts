/**
 * Why the buffer pool exists: the batch-norm backward of the last FSVAE
 * decoder layer (1,024 images × 32 channels × 32×32, 134 MB) written into a
 * warm output buffer versus a freshly allocated one (first-touch page faults).
 * Prints one JSON line; part of `npm run bench`.
 */
import { backend } from '../src/engine/backend/index.js';

const be = backend();
const outer = 1024;
const C = 32;
const inner = 32 * 32;
const n = outer * C * inner;
const g = new Float32Array(n).map((_, i) => Math.sin(i));
const x = new Float32Array(n).map((_, i) => Math.cos(i));
const a = new Float32Array(C).fill(1);
const mean = new Float64Array(C).fill(0.5);
const invStd = new Float64Array(C).fill(3);
const sumG = new Float64Array(C);
const sumGX = new Float64Array(C);
be.channelGradSums(outer, C, inner, g, x, mean, invStd, sumG, sumGX);
const warm = new Float32Array(n);
be.channelNormBackward(outer, C, inner, g, x, a, mean, invStd, sumG, sumGX, true, warm, false);
const time = (out: Float32Array) => {
  const t0 = performance.now();
  be.channelNormBackward(outer, C, inner, g, x, a, mean, invStd, sumG, sumGX, true, out, false);
  return performance.now() - t0;
};
const warmMs: number[] = [];
const freshMs: number[] = [];
for (let r = 0; r < 3; r++) {
  warmMs.push(time(warm));
  freshMs.push(time(new Float32Array(n)));
}
const median = (v: number[]) => [...v].sort((p, q) => p - q)[1];
console.log(JSON.stringify({ bench: 'first-touch', kernel: 'channelNormBackward', megabytes: (n * 4) / 1e6, warmMs: median(warmMs), freshMs: median(freshMs), backend: be.description }));
