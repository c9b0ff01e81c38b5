/**
 * The native kernel back-end: loads the N-API addon built by node-gyp during
 * `npm install` (native/build/Release/spikevae_native.node), chooses the
 * widest instruction set the CPU has (SPIKEVAE_ISA=avx512|avx2|scalar
 * overrides) and the thread count (SPIKEVAE_THREADS, default: all cores).
 * Loading never throws: failure is reported as a reason string so the library
 * can fall back to the portable kernels.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Conv2dGeometry, KernelBackend } from './types.js';

interface Addon {
  gemm(ta: boolean, tb: boolean, m: number, n: number, k: number, a: Float32Array, b: Float32Array, c: Float32Array, beta: number, aBinary: boolean): void;
  conv2dForward(g: Conv2dGeometry, x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, xBinary: boolean): void;
  conv2dBackwardData(g: Conv2dGeometry, gy: Float32Array, w: Float32Array, gx: Float32Array, accumulate: boolean, gyBinary: boolean): void;
  conv2dBackwardWeight(g: Conv2dGeometry, x: Float32Array, gy: Float32Array, gw: Float32Array, accumulate: boolean, xBinary: boolean): void;
  lifForward(steps: number, size: number, x: Float32Array, u: Float32Array, o: Float32Array, decay: number, threshold: number): void;
  lifBackward(steps: number, size: number, u: Float32Array, o: Float32Array, go: Float32Array, gx: Float32Array, decay: number, halfWidth: number, height: number): void;
  lifStep(size: number, x: Float32Array, u: Float32Array, o: Float32Array, decay: number, threshold: number): void;
  affineLifForward(steps: number, size: number, C: number, inner: number, x: Float32Array, a: Float32Array, b: Float32Array, o: Float32Array, decay: number, threshold: number, repeated: boolean): void;
  lifBackwardRecompute(
    steps: number, size: number, C: number, inner: number, x: Float32Array, a: Float32Array, b: Float32Array, o: Float32Array, go: Float32Array, gx: Float32Array,
    decay: number, halfWidth: number, height: number, repeated: boolean,
    mean: Float64Array | null, invStd: Float64Array | null, sumG: Float64Array | null, sumGX: Float64Array | null,
  ): void;
  plifForward(
    steps: number, size: number, x: Float32Array, o: Float32Array, k: number, threshold: number,
    C: number, inner: number, a: Float32Array | null, b: Float32Array | null, perStep: boolean, repeated: boolean,
  ): void;
  plifBackward(
    steps: number, size: number, x: Float32Array, o: Float32Array, go: Float32Array, gx: Float32Array, k: number, threshold: number, alpha: number,
    C: number, inner: number, a: Float32Array | null, b: Float32Array | null, perStep: boolean, repeated: boolean, sums: Float64Array,
  ): void;
  plifPoolForward(
    steps: number, size: number, x: Float32Array, o: Float32Array, pooled: Float32Array, k: number, threshold: number,
    C: number, inner: number, a: Float32Array | null, b: Float32Array | null, perStep: boolean, repeated: boolean, H: number, W: number,
  ): void;
  plifPoolBackward(
    steps: number, size: number, x: Float32Array, o: Float32Array, gPooled: Float32Array, gx: Float32Array, k: number, threshold: number, alpha: number,
    C: number, inner: number, a: Float32Array | null, b: Float32Array | null, perStep: boolean, repeated: boolean, sums: Float64Array, H: number, W: number,
  ): void;
  maxPool2x2Forward(planes: number, H: number, W: number, x: Float32Array, y: Float32Array): void;
  maxPool2x2Backward(planes: number, H: number, W: number, x: Float32Array, g: Float32Array, gx: Float32Array, accumulate: boolean): void;
  timeWeightedSum(steps: number, size: number, x: Float32Array, coef: Float32Array, out: Float32Array): void;
  affineLifTimeSum(steps: number, size: number, C: number, inner: number, x: Float32Array, a: Float32Array, b: Float32Array, coef: Float32Array, out: Float32Array, decay: number, threshold: number): void;
  lifBackwardTimeSum(
    steps: number, size: number, C: number, inner: number, x: Float32Array, a: Float32Array, b: Float32Array, coef: Float32Array, g: Float32Array, gx: Float32Array,
    decay: number, threshold: number, halfWidth: number, height: number, mean: Float64Array | null, invStd: Float64Array | null, sumG: Float64Array | null, sumGX: Float64Array | null,
  ): void;
  timeWeightedSpread(steps: number, size: number, g: Float32Array, coef: Float32Array, gx: Float32Array, accumulate: boolean): void;
  channelMeanVar(outer: number, C: number, inner: number, x: Float32Array, mean: Float64Array, variance: Float64Array): void;
  adamwUpdate(p: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, decay: number, b1: number, b2: number, stepSize: number, bc2Sqrt: number, eps: number): boolean;
  channelSums(outer: number, C: number, inner: number, x: Float32Array, sum: Float64Array): void;
  channelAffine(outer: number, C: number, inner: number, x: Float32Array, a: Float32Array, b: Float32Array, y: Float32Array): void;
  leakyRelu(n: number, x: Float32Array, y: Float32Array, slope: number): void;
  leakyReluBackward(n: number, x: Float32Array, g: Float32Array, gx: Float32Array, slope: number, accumulate: boolean): void;
  channelGradSums(outer: number, C: number, inner: number, g: Float32Array, x: Float32Array, mean: Float64Array, invStd: Float64Array, sumG: Float64Array, sumGX: Float64Array): void;
  channelNormBackward(outer: number, C: number, inner: number, g: Float32Array, x: Float32Array, a: Float32Array, mean: Float64Array, invStd: Float64Array, sumG: Float64Array, sumGX: Float64Array, batchStats: boolean, gx: Float32Array, accumulate: boolean): void;
  configure(isa: string, threads: number, spikeKernels: string): string;
  info(): NativeInfo;
  peakGflops(seconds: number, threads: number): number;
  memoryBandwidth(mib: number, threads: number): number;
  allocBuffer(bytes: number, zero: boolean): ArrayBuffer;
  releaseBuffer(buffer: ArrayBuffer): boolean;
  poolStats(): PoolStats;
}

/**
 * Bytes of pooled blocks handed out, free in the pool, the highest handed-out
 * total so far, and all bytes ever taken fresh from the system (page faults).
 */
export interface PoolStats {
  liveBytes: number;
  freeBytes: number;
  maxLiveBytes: number;
  freshBytes: number;
}

let addon: Addon | null = null;
let loadError: string | null = null;

function addonPath(): string {
  // dist/src/engine/backend/native.js → <root>/native/build/Release/
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', '..', '..', '..', 'native', 'build', 'Release', 'spikevae_native.node'), join(here, '..', '..', '..', 'native', 'build', 'Release', 'spikevae_native.node')];
  return candidates.find((p) => existsSync(p)) ?? candidates[0];
}

function load(): Addon | null {
  if (addon || loadError) return addon;
  const p = addonPath();
  if (!existsSync(p)) {
    loadError = `addon not built (${p} missing; run 'npm install' with g++ available)`;
    return null;
  }
  try {
    addon = createRequire(import.meta.url)(p) as Addon;
  } catch (e) {
    loadError = `addon failed to load: ${(e as Error).message}`;
    return null;
  }
  return addon;
}

function threadsFromEnv(): number {
  const v = process.env.SPIKEVAE_THREADS;
  if (v === undefined || v === '') return availableParallelism();
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error(`SPIKEVAE_THREADS must be a whole number from 1 to 256, got '${v}'`);
  return n;
}

/**
 * How products with spike (0/1) inputs run: 'event' adds the weights of
 * active inputs (work per spike), 'dense' uses the dense kernels; '' picks
 * the faster one for the instruction set (dense with AVX-512, event
 * otherwise; see docs/performance.md). SPIKEVAE_SPIKE_KERNELS sets it.
 */
export type SpikeKernels = '' | 'dense' | 'event';

export interface NativeInfo {
  isa: string;
  threads: number;
  hardwareThreads: number;
  spikeKernels: 'dense' | 'event';
}

/** Re-selects the instruction set, thread count and spike products (tests compare them). Returns an error string or ''. */
export function configureNative(isa: '' | 'avx512' | 'avx2' | 'scalar', threads: number, spikeKernels: SpikeKernels = ''): string {
  const a = load();
  if (!a) return loadError ?? 'native addon unavailable';
  return a.configure(isa, threads, spikeKernels);
}

export function nativeInfo(): NativeInfo | null {
  return load()?.info() ?? null;
}

/** Peak FMA throughput (GFLOP/s) measured with a register-only loop on `threads` threads. */
export function nativePeakGflops(seconds = 0.5, threads = availableParallelism()): number {
  const a = load();
  if (!a) throw new Error(loadError ?? 'native addon unavailable');
  return a.peakGflops(seconds, threads);
}

/**
 * GB/s (bytes read + written) of a copy-and-scale over two arrays of `mib` MiB
 * each on `threads` threads, with ordinary stores: the memory side of the
 * roofline in the benchmarks.
 */
export function nativeMemoryBandwidth(mib = 256, threads = availableParallelism()): number {
  const a = load();
  if (!a) throw new Error(loadError ?? 'native addon unavailable');
  return a.memoryBandwidth(mib, threads);
}

export interface NativeAllocator {
  alloc(bytes: number, zero: boolean): ArrayBuffer;
  release(buffer: ArrayBuffer): boolean;
  stats(): PoolStats;
  /** A full garbage collection, whose finalizers return collected blocks to the pool. */
  collectGarbage(): void;
}

let collect: (() => void) | null | undefined;

function collectGarbage(): void {
  if (collect === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      collect = runInNewContext('gc') as () => void;
    } catch {
      collect = null;
    }
  }
  collect?.();
}

/**
 * The addon's pooled allocator (zeroed ArrayBuffers whose memory is reused
 * warm after garbage collection), or null when the addon is unavailable or
 * SPIKEVAE_POOL=0.
 */
export function nativeAllocator(): NativeAllocator | null {
  if (process.env.SPIKEVAE_POOL === '0') return null;
  const a = load();
  return a ? { alloc: (bytes, zero) => a.allocBuffer(bytes, zero), release: (buffer) => a.releaseBuffer(buffer), stats: () => a.poolStats(), collectGarbage } : null;
}

export function loadNativeBackend(): { backend: KernelBackend } | { error: string } {
  const a = load();
  if (!a) return { error: loadError ?? 'native addon unavailable' };
  let threads: number;
  try {
    threads = threadsFromEnv();
  } catch (e) {
    return { error: (e as Error).message };
  }
  const isa = (process.env.SPIKEVAE_ISA ?? '') as '' | 'avx512' | 'avx2' | 'scalar';
  const spikes = (process.env.SPIKEVAE_SPIKE_KERNELS ?? '') as SpikeKernels;
  const err = a.configure(isa, threads, spikes);
  if (err) return { error: `SPIKEVAE_ISA=${isa || '(auto)'} SPIKEVAE_SPIKE_KERNELS=${spikes || '(auto)'}: ${err}` };
  const backend: KernelBackend = {
    name: 'native',
    get description() {
      const i = a.info();
      return `native ${i.isa}, ${i.threads} thread${i.threads === 1 ? '' : 's'}, ${i.spikeKernels} spike products`;
    },
    gemm: (ta, tb, m, n, k, A, B, C, beta, aBinary = false) => a.gemm(ta, tb, m, n, k, A, B, C, beta, aBinary),
    conv2dForward: (g, x, w, bias, y, xBinary = false) => a.conv2dForward(g, x, w, bias, y, xBinary),
    conv2dBackwardData: (g, gy, w, gx, accumulate, gyBinary = false) => a.conv2dBackwardData(g, gy, w, gx, accumulate, gyBinary),
    conv2dBackwardWeight: (g, x, gy, gw, accumulate, xBinary = false) => a.conv2dBackwardWeight(g, x, gy, gw, accumulate, xBinary),
    lifForward: (steps, size, x, u, o, decay, threshold) => a.lifForward(steps, size, x, u, o, decay, threshold),
    lifBackward: (steps, size, u, o, go, gx, decay, halfWidth, height) => a.lifBackward(steps, size, u, o, go, gx, decay, halfWidth, height),
    channelMeanVar: (outer, C, inner, x, mean, variance) => a.channelMeanVar(outer, C, inner, x, mean, variance),
    affineLifForward: (steps, size, C, inner, x, aC, bC, o, decay, threshold, repeated) =>
      a.affineLifForward(steps, size, C, inner, x, aC, bC, o, decay, threshold, repeated),
    lifBackwardRecompute: (steps, size, C, inner, x, aC, bC, o, go, gx, decay, halfWidth, height, repeated, sums) =>
      a.lifBackwardRecompute(steps, size, C, inner, x, aC, bC, o, go, gx, decay, halfWidth, height, repeated,
        sums?.mean ?? null, sums?.invStd ?? null, sums?.sumG ?? null, sums?.sumGX ?? null),
    plifForward: (steps, size, x, o, k, threshold, af, repeated) =>
      a.plifForward(steps, size, x, o, k, threshold, af?.channels ?? 0, af?.inner ?? 1, af?.a ?? null, af?.b ?? null, af?.perStep ?? false, repeated),
    plifBackward: (steps, size, x, o, go, gx, k, threshold, alpha, af, repeated, sums) =>
      a.plifBackward(steps, size, x, o, go, gx, k, threshold, alpha, af?.channels ?? 0, af?.inner ?? 1, af?.a ?? null, af?.b ?? null, af?.perStep ?? false, repeated, sums),
    plifPoolForward: (steps, size, x, o, pooled, k, threshold, af, repeated, H, W) =>
      a.plifPoolForward(steps, size, x, o, pooled, k, threshold, af?.channels ?? 0, af?.inner ?? 1, af?.a ?? null, af?.b ?? null, af?.perStep ?? false, repeated, H, W),
    plifPoolBackward: (steps, size, x, o, gPooled, gx, k, threshold, alpha, af, repeated, sums, H, W) =>
      a.plifPoolBackward(steps, size, x, o, gPooled, gx, k, threshold, alpha, af?.channels ?? 0, af?.inner ?? 1, af?.a ?? null, af?.b ?? null, af?.perStep ?? false, repeated, sums, H, W),
    maxPool2x2Forward: (planes, H, W, x, y) => a.maxPool2x2Forward(planes, H, W, x, y),
    maxPool2x2Backward: (planes, H, W, x, g, gx, accumulate) => a.maxPool2x2Backward(planes, H, W, x, g, gx, accumulate),
    lifStep: (size, x, u, o, decay, threshold) => a.lifStep(size, x, u, o, decay, threshold),
    affineLifTimeSum: (steps, size, C, inner, x, aC, bC, coef, out, decay, threshold) => a.affineLifTimeSum(steps, size, C, inner, x, aC, bC, coef, out, decay, threshold),
    lifBackwardTimeSum: (steps, size, C, inner, x, aC, bC, coef, g, gx, decay, threshold, halfWidth, height, sums) =>
      a.lifBackwardTimeSum(steps, size, C, inner, x, aC, bC, coef, g, gx, decay, threshold, halfWidth, height, sums?.mean ?? null, sums?.invStd ?? null, sums?.sumG ?? null, sums?.sumGX ?? null),
    timeWeightedSum: (steps, size, x, coef, out) => a.timeWeightedSum(steps, size, x, coef, out),
    timeWeightedSpread: (steps, size, g, coef, gx, accumulate) => a.timeWeightedSpread(steps, size, g, coef, gx, accumulate),
    adamwUpdate: (p, grad, m, v, decay, b1, b2, stepSize, bc2Sqrt, eps) => a.adamwUpdate(p, grad, m, v, decay, b1, b2, stepSize, bc2Sqrt, eps),
    channelSums: (outer, C, inner, x, sum) => a.channelSums(outer, C, inner, x, sum),
    channelAffine: (outer, C, inner, x, aC, bC, y) => a.channelAffine(outer, C, inner, x, aC, bC, y),
    leakyRelu: (n, x, y, slope) => a.leakyRelu(n, x, y, slope),
    leakyReluBackward: (n, x, g, gx, slope, accumulate) => a.leakyReluBackward(n, x, g, gx, slope, accumulate),
    channelGradSums: (outer, C, inner, g, x, mean, invStd, sumG, sumGX) => a.channelGradSums(outer, C, inner, g, x, mean, invStd, sumG, sumGX),
    channelNormBackward: (outer, C, inner, g, x, aC, mean, invStd, sumG, sumGX, batchStats, gx, accumulate) =>
      a.channelNormBackward(outer, C, inner, g, x, aC, mean, invStd, sumG, sumGX, batchStats, gx, accumulate),
  };
  return { backend };
}
