/**
 * The native kernels compiled to WebAssembly SIMD (native/src/wasm.cc, built
 * by scripts/build-wasm.ts): what the web page runs, one thread per module
 * (the page runs one module per Web Worker). No platform dependencies: the
 * caller hands over the module's bytes (fetched in a browser, read from disk
 * in Node's tests).
 *
 * Each call copies its arrays into the module's memory, runs the kernel and
 * copies the outputs back; arguments are checked against the sizes the
 * kernel reads, as the addon checks them.
 */
import type { Conv2dGeometry, KernelBackend } from './types.js';
import { leakyRelu, leakyReluBackward } from './typescript.js';

interface WasmExports {
  memory: WebAssembly.Memory;
  _initialize(): void;
  malloc(bytes: number): number;
  free(ptr: number): void;
  [kernel: `spv_${string}`]: (...args: number[]) => number | void;
}

type Data = Float32Array | Float64Array;
/** An array argument: read by the kernel ('in'), written ('out'), or both. */
type Arg = [Data | null, 'in' | 'out' | 'inout', number];

/** The kernels' view of an array argument of `count` elements (fewer may be passed than the array holds). */
function arg(data: Data | null, mode: Arg[1], count: number): Arg {
  if (data !== null && data.length < count) throw new RangeError(`wasm kernels: an argument has ${data.length} elements, needs ${count}`);
  return [data, mode, count];
}

/** `count` elements of data's type at byte offset `ptr` of the module's memory. */
function view(data: Data, heap: ArrayBuffer, ptr: number, count: number): Data {
  return data instanceof Float64Array ? new Float64Array(heap, ptr, count) : new Float32Array(heap, ptr, count);
}

/** The plane geometry a fused pooling needs (as the addon checks it). */
function checkPoolPlanes(kernel: string, size: number, H: number, W: number): void {
  if (!(H > 0 && W > 0 && H % 2 === 0 && W % 2 === 0 && W <= 256) || size % (H * W) !== 0) {
    throw new RangeError(`wasm ${kernel}: pooled planes need an even height and an even width of at most 256 that divide the size`);
  }
}

function geometry(g: Conv2dGeometry): number[] {
  return [g.batch, g.inChannels, g.inHeight, g.inWidth, g.outChannels, g.outHeight, g.outWidth, g.kernel, g.stride, g.padding];
}

/**
 * Instantiates the module (its bytes, or compiled already: a page compiles
 * it once and hands it to each worker) and returns the back-end over it.
 */
export async function createWasmBackend(source: BufferSource | WebAssembly.Module): Promise<KernelBackend> {
  const imports = {
    env: { emscripten_notify_memory_growth: () => {} },
    wasi_snapshot_preview1: {
      proc_exit: (code: number) => {
        throw new Error(`wasm kernels: aborted (exit ${code}; out of memory?)`);
      },
    },
  };
  const instance = source instanceof WebAssembly.Module ? await WebAssembly.instantiate(source, imports) : (await WebAssembly.instantiate(source, imports)).instance;
  const w = instance.exports as unknown as WasmExports;
  w._initialize();

  /**
   * Copies the arguments in (8-byte aligned, one allocation), runs fn with
   * their addresses (0 for null) and copies the written ones back.
   */
  function call(args: Arg[], fn: (ptrs: number[]) => void): void {
    const offsets: number[] = [];
    let bytes = 0;
    for (const [data, , count] of args) {
      offsets.push(bytes);
      if (data) bytes += Math.ceil((count * data.BYTES_PER_ELEMENT) / 8) * 8;
    }
    const base = w.malloc(Math.max(bytes, 8));
    if (base === 0) throw new Error(`wasm kernels: out of memory (${(bytes / 2 ** 20).toFixed(0)} MiB for one call)`);
    try {
      // The memory may have grown (and its old buffer detached) in malloc.
      const heap = w.memory.buffer;
      const ptrs = args.map(([data], i) => (data ? base + offsets[i] : 0));
      args.forEach(([data, mode, count], i) => {
        if (data && mode !== 'out') view(data, heap, ptrs[i], count).set(data.subarray(0, count));
      });
      fn(ptrs);
      // The kernels' scratch allocations may have grown it again.
      const after = w.memory.buffer;
      args.forEach(([data, mode, count], i) => {
        if (data && mode !== 'in') data.set(view(data, after, ptrs[i], count));
      });
    } finally {
      w.free(base);
    }
  }

  const size = (g: Conv2dGeometry) => ({
    x: g.batch * g.inChannels * g.inHeight * g.inWidth,
    y: g.batch * g.outChannels * g.outHeight * g.outWidth,
    w: g.outChannels * g.inChannels * g.kernel * g.kernel,
  });
  return {
    name: 'wasm',
    description: 'WebAssembly SIMD kernels (the native ones compiled for the web), 1 thread',
    // Spike inputs too are multiplied densely (see wasm.cc).
    gemm(ta, tb, m, n, k, a, b, c, beta) {
      call([arg(a, 'in', m * k), arg(b, 'in', k * n), arg(c, beta ? 'inout' : 'out', m * n)], ([pa, pb, pc]) => w.spv_gemm(+ta, +tb, m, n, k, pa, pb, pc, beta));
    },
    conv2dForward(g, x, wt, bias, y, xBinary = false) {
      const s = size(g);
      call([arg(x, 'in', s.x), arg(wt, 'in', s.w), arg(bias, 'in', g.outChannels), arg(y, 'out', s.y)], ([px, pw, pb, py]) =>
        w.spv_conv_forward(...geometry(g), px, pw, pb, py, +xBinary),
      );
    },
    conv2dBackwardData(g, gy, wt, gx, accumulate, gyBinary = false) {
      const s = size(g);
      call([arg(gy, 'in', s.y), arg(wt, 'in', s.w), arg(gx, accumulate ? 'inout' : 'out', s.x)], ([pgy, pw, pgx]) =>
        w.spv_conv_backward_data(...geometry(g), pgy, pw, pgx, +accumulate, +gyBinary),
      );
    },
    conv2dBackwardWeight(g, x, gy, gw, accumulate, xBinary = false) {
      const s = size(g);
      call([arg(x, 'in', s.x), arg(gy, 'in', s.y), arg(gw, accumulate ? 'inout' : 'out', s.w)], ([px, pgy, pgw]) =>
        w.spv_conv_backward_weight(...geometry(g), px, pgy, pgw, +accumulate, +xBinary),
      );
    },
    lifForward(steps, size, x, u, o, decay, threshold) {
      const n = steps * size;
      call([arg(x, 'in', n), arg(u, 'out', n), arg(o, 'out', n)], ([px, pu, po]) => w.spv_lif_forward(steps, size, px, pu, po, decay, threshold));
    },
    lifBackward(steps, size, u, o, go, gx, decay, halfWidth, height) {
      const n = steps * size;
      call([arg(u, 'in', n), arg(o, 'in', n), arg(go, 'in', n), arg(gx, 'out', n)], ([pu, po, pgo, pgx]) =>
        w.spv_lif_backward(steps, size, pu, po, pgo, pgx, decay, halfWidth, height),
      );
    },
    affineLifForward(steps, size, C, inner, x, a, b, o, decay, threshold, repeated) {
      call([arg(x, 'in', (repeated ? 1 : steps) * size), arg(a, 'in', C), arg(b, 'in', C), arg(o, 'out', steps * size)], ([px, pa, pb, po]) =>
        w.spv_affine_lif_forward(steps, size, C, inner, px, pa, pb, po, decay, threshold, +repeated),
      );
    },
    lifBackwardRecompute(steps, size, C, inner, x, a, b, o, go, gx, decay, halfWidth, height, repeated, sums) {
      if (repeated && gx === go) throw new RangeError("wasm lifBackwardRecompute: a repeated input's gradient cannot overwrite go");
      const n = (repeated ? 1 : steps) * size;
      // go and gx may be one array: each gets its own copy, and only gx's comes back.
      call(
        [arg(x, 'in', n), arg(a, 'in', C), arg(b, 'in', C), arg(o, 'in', steps * size), arg(go, 'in', steps * size), arg(gx, 'out', n),
          arg(sums?.mean ?? null, 'in', C), arg(sums?.invStd ?? null, 'in', C), arg(sums?.sumG ?? null, 'out', C), arg(sums?.sumGX ?? null, 'out', C)],
        ([px, pa, pb, po, pgo, pgx, pm, pis, psg, psgx]) =>
          w.spv_lif_backward_recompute(steps, size, C, inner, px, pa, pb, po, pgo, pgx, decay, halfWidth, height, +repeated, pm, pis, psg, psgx),
      );
    },
    plifPoolForward(steps, size, x, o, pooled, k, threshold, af, repeated, H, W) {
      checkPoolPlanes('plifPoolForward', size, H, W);
      const coefs = af ? (af.perStep ? steps : 1) * af.channels : 0;
      call(
        [arg(x, 'in', (repeated ? 1 : steps) * size), arg(o, 'out', steps * size), arg(pooled, 'out', (steps * size) / 4), arg(af?.a ?? null, 'in', coefs), arg(af?.b ?? null, 'in', coefs)],
        ([px, po, pp, pa, pb]) =>
          w.spv_plif_pool_forward(steps, size, px, po, pp, k, threshold, af?.channels ?? 0, af?.inner ?? 1, pa, pb, +(af?.perStep ?? false), +repeated, H, W),
      );
    },
    plifPoolBackward(steps, size, x, o, gPooled, gx, k, threshold, alpha, af, repeated, sums, H, W) {
      checkPoolPlanes('plifPoolBackward', size, H, W);
      const coefs = af ? (af.perStep ? steps : 1) * af.channels : 0;
      call(
        [arg(x, 'in', (repeated ? 1 : steps) * size), arg(o, 'in', steps * size), arg(gPooled, 'in', (steps * size) / 4), arg(gx, 'out', (repeated ? 1 : steps) * size),
          arg(af?.a ?? null, 'in', coefs), arg(af?.b ?? null, 'in', coefs), arg(sums, 'out', 2)],
        ([px, po, pgp, pgx, pa, pb, ps]) =>
          w.spv_plif_pool_backward(steps, size, px, po, pgp, pgx, k, threshold, alpha, af?.channels ?? 0, af?.inner ?? 1, pa, pb, +(af?.perStep ?? false), +repeated, ps, H, W),
      );
    },
    maxPool2x2Forward(planes, H, W, x, y) {
      if (H % 2 || W % 2) throw new RangeError('wasm maxPool2x2Forward: needs even sizes');
      const n = planes * H * W;
      call([arg(x, 'in', n), arg(y, 'out', n / 4)], ([px, py]) => w.spv_max_pool2x2_forward(planes, H, W, px, py));
    },
    maxPool2x2Backward(planes, H, W, x, g, gx, accumulate) {
      if (H % 2 || W % 2) throw new RangeError('wasm maxPool2x2Backward: needs even sizes');
      const n = planes * H * W;
      call([arg(x, 'in', n), arg(g, 'in', n / 4), arg(gx, accumulate ? 'inout' : 'out', n)], ([px, pg, pgx]) =>
        w.spv_max_pool2x2_backward(planes, H, W, px, pg, pgx, +accumulate),
      );
    },
    lifStep(size, x, u, o, decay, threshold) {
      call([arg(x, 'in', size), arg(u, 'inout', size), arg(o, 'inout', size)], ([px, pu, po]) => w.spv_lif_step(size, px, pu, po, decay, threshold));
    },
    affineLifTimeSum(steps, size, C, inner, x, a, b, coef, out, decay, threshold) {
      call([arg(x, 'in', steps * size), arg(a, 'in', C), arg(b, 'in', C), arg(coef, 'in', steps), arg(out, 'out', size)], ([px, pa, pb, pc, po]) =>
        w.spv_affine_lif_time_sum(steps, size, C, inner, px, pa, pb, pc, po, decay, threshold),
      );
    },
    lifBackwardTimeSum(steps, size, C, inner, x, a, b, coef, g, gx, decay, threshold, halfWidth, height, sums) {
      call(
        [arg(x, 'in', steps * size), arg(a, 'in', C), arg(b, 'in', C), arg(coef, 'in', steps), arg(g, 'in', size), arg(gx, 'out', steps * size),
          arg(sums?.mean ?? null, 'in', C), arg(sums?.invStd ?? null, 'in', C), arg(sums?.sumG ?? null, 'out', C), arg(sums?.sumGX ?? null, 'out', C)],
        ([px, pa, pb, pc, pg, pgx, pm, pis, psg, psgx]) =>
          w.spv_lif_backward_time_sum(steps, size, C, inner, px, pa, pb, pc, pg, pgx, decay, threshold, halfWidth, height, pm, pis, psg, psgx),
      );
    },
    plifForward(steps, size, x, o, k, threshold, af, repeated) {
      const coefs = af ? (af.perStep ? steps : 1) * af.channels : 0;
      call([arg(x, 'in', (repeated ? 1 : steps) * size), arg(o, 'out', steps * size), arg(af?.a ?? null, 'in', coefs), arg(af?.b ?? null, 'in', coefs)], ([px, po, pa, pb]) =>
        w.spv_plif_forward(steps, size, px, po, k, threshold, af?.channels ?? 0, af?.inner ?? 1, pa, pb, +(af?.perStep ?? false), +repeated),
      );
    },
    plifBackward(steps, size, x, o, go, gx, k, threshold, alpha, af, repeated, sums) {
      if (repeated && gx === go) throw new RangeError("wasm plifBackward: a repeated input's gradient cannot overwrite go");
      const coefs = af ? (af.perStep ? steps : 1) * af.channels : 0;
      // go and gx may be one array: each gets its own copy, and only gx's comes back.
      call(
        [arg(x, 'in', (repeated ? 1 : steps) * size), arg(o, 'in', steps * size), arg(go, 'in', steps * size), arg(gx, 'out', (repeated ? 1 : steps) * size),
          arg(af?.a ?? null, 'in', coefs), arg(af?.b ?? null, 'in', coefs), arg(sums, 'out', 2)],
        ([px, po, pgo, pgx, pa, pb, ps]) =>
          w.spv_plif_backward(steps, size, px, po, pgo, pgx, k, threshold, alpha, af?.channels ?? 0, af?.inner ?? 1, pa, pb, +(af?.perStep ?? false), +repeated, ps),
      );
    },
    timeWeightedSum(steps, size, x, coef, out) {
      call([arg(x, 'in', steps * size), arg(coef, 'in', steps), arg(out, 'out', size)], ([px, pc, po]) => w.spv_time_weighted_sum(steps, size, px, pc, po));
    },
    timeWeightedSpread(steps, size, g, coef, gx, accumulate) {
      call([arg(g, 'in', size), arg(coef, 'in', steps), arg(gx, accumulate ? 'inout' : 'out', steps * size)], ([pg, pc, pgx]) =>
        w.spv_time_weighted_spread(steps, size, pg, pc, pgx, +accumulate),
      );
    },
    channelMeanVar(outer, C, inner, x, mean, variance) {
      call([arg(x, 'in', outer * C * inner), arg(mean, 'out', C), arg(variance, 'out', C)], ([px, pm, pv]) => w.spv_channel_mean_var(outer, C, inner, px, pm, pv));
    },
    adamwUpdate(p, grad, m, v, decay, b1, b2, stepSize, bc2Sqrt, eps) {
      const n = p.length;
      let finite = false;
      call([arg(p, 'inout', n), arg(grad, 'in', n), arg(m, 'inout', n), arg(v, 'inout', n)], ([pp, pg, pm, pv]) => {
        finite = w.spv_adamw_update(n, pp, pg, pm, pv, decay, b1, b2, stepSize, bc2Sqrt, eps) === 1;
      });
      return finite;
    },
    channelSums(outer, C, inner, x, sum) {
      call([arg(x, 'in', outer * C * inner), arg(sum, 'out', C)], ([px, ps]) => w.spv_channel_sums(outer, C, inner, px, ps));
    },
    // Elementwise and memory-bound: copying in and out of the module's memory
    // would cost more than the loop, so these run as the TypeScript kernels.
    leakyRelu,
    leakyReluBackward,
    channelAffine(outer, C, inner, x, a, b, y) {
      const n = outer * C * inner;
      call([arg(x, 'in', n), arg(a, 'in', C), arg(b, 'in', C), arg(y, 'out', n)], ([px, pa, pb, py]) => w.spv_channel_affine(outer, C, inner, px, pa, pb, py));
    },
    channelGradSums(outer, C, inner, g, x, mean, invStd, sumG, sumGX) {
      const n = outer * C * inner;
      call([arg(g, 'in', n), arg(x, 'in', n), arg(mean, 'in', C), arg(invStd, 'in', C), arg(sumG, 'out', C), arg(sumGX, 'out', C)], ([pg, px, pm, pis, psg, psgx]) =>
        w.spv_channel_grad_sums(outer, C, inner, pg, px, pm, pis, psg, psgx),
      );
    },
    channelNormBackward(outer, C, inner, g, x, a, mean, invStd, sumG, sumGX, batchStats, gx, accumulate) {
      const n = outer * C * inner;
      call(
        [arg(g, 'in', n), arg(x, 'in', n), arg(a, 'in', C), arg(mean, 'in', C), arg(invStd, 'in', C), arg(sumG, 'in', C), arg(sumGX, 'in', C), arg(gx, accumulate ? 'inout' : 'out', n)],
        ([pg, px, pa, pm, pis, psg, psgx, pgx]) => w.spv_channel_norm_backward(outer, C, inner, pg, px, pa, pm, pis, psg, psgx, +batchStats, pgx, +accumulate),
      );
    },
  };
}
