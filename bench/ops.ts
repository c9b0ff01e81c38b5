/**
 * `npm run bench:ops`: forward and backward time and GFLOP/s of every FSVAE
 * layer's kernels at batch 64 and T = 16 (1,024 images per convolution call;
 * 64 for encoder.0 and final_layer.1, which training runs once per image: on
 * the image before it is repeated over time, and on the decoder's spikes
 * after the membrane output's weighted sum over time), on each back-end,
 * against this machine's measured peak FMA throughput.
 * Inputs of spiking layers are random spikes at the given firing rate, so the
 * event-driven kernels are measured as training uses them. GFLOP/s counts the
 * dense work (2·MACs), so event-driven kernels can exceed the peak.
 * Backward time is split into the input gradient and the weight gradient
 * (encoder.0's input gradient is measured, though training never needs the
 * image's gradient). The TypeScript back-end runs a smaller batch and is
 * scaled; --native-only skips it; --only=<text> measures the layers whose
 * name contains the text. Each kernel is also compared with its roofline
 * (FMA peak or measured memory bandwidth, whichever binds). JSON lines.
 */
import { availableParallelism } from 'node:os';
import { getNativeBackend, typescriptBackend } from '../src/engine/backend/index.js';
import { nativeAllocator, nativePeakGflops, nativeInfo, nativeMemoryBandwidth } from '../src/engine/backend/native.js';
import type { Conv2dGeometry, KernelBackend } from '../src/engine/backend/types.js';
import { Random } from '../src/engine/random.js';

const quick = process.argv.includes('--quick');
const nativeOnly = process.argv.includes('--native-only');
const rateArg = process.argv.find((a) => a.startsWith('--rate='));
const RATE = rateArg ? Number(rateArg.slice(7)) : 0.15;
// --only=<text>: measure only the layers whose name contains the text.
const onlyArg = process.argv.find((a) => a.startsWith('--only='));
const ONLY = onlyArg ? onlyArg.slice(7) : '';
const rng = new Random(7);
const T = 16;
const N = 64;

// Arrays come from the addon's buffer pool when it is there, as a training
// step's activations do (64-byte aligned; blocks of 2 MiB and more on huge
// pages): plain Float32Arrays made the single-channel layers look up to 1.7×
// slower than they run in training.
const pool = nativeAllocator();
function zeros(n: number): Float32Array {
  return pool ? new Float32Array(pool.alloc(4 * n, true)) : new Float32Array(n);
}

function data(n: number, binary: boolean): Float32Array {
  const a = zeros(n);
  for (let i = 0; i < n; i++) a[i] = binary ? (rng.uniform() < RATE ? 1 : 0) : rng.normal();
  return a;
}

// Median of 5 timing windows (each ≥ minSeconds/5 of repeated calls): one
// mean over a single window swung ±10 % with the VM's background activity.
function time(fn: () => void, minSeconds = quick ? 0.05 : 0.3): number {
  fn();
  const windows: number[] = [];
  for (let w = 0; w < 5; w++) {
    let reps = 0;
    const t0 = performance.now();
    do {
      fn();
      reps++;
    } while (performance.now() - t0 < (minSeconds * 1000) / 5);
    windows.push((performance.now() - t0) / 1000 / reps);
  }
  return windows.sort((a, b) => a - b)[2];
}

interface Layer {
  name: string;
  kind: 'conv' | 'convT' | 'linear';
  binary: boolean;
  /** Called on N images rather than T·N (see the header). */
  perImage?: boolean;
  // conv: geometry in the conv2d direction; linear: m, in, out
  geo?: Omit<Conv2dGeometry, 'batch'>;
  lin?: { in: number; out: number };
}

function conv(C: number, H: number, O: number, s: number): Omit<Conv2dGeometry, 'batch'> {
  const OH = Math.floor((H + 2 - 3) / s) + 1;
  return { inChannels: C, inHeight: H, inWidth: H, outChannels: O, outHeight: OH, outWidth: OH, kernel: 3, stride: s, padding: 1 };
}

const layers: Layer[] = [
  { name: 'encoder.0 conv 1→32 32→16', kind: 'conv', binary: false, perImage: true, geo: conv(1, 32, 32, 2) },
  { name: 'encoder.1 conv 32→64 16→8', kind: 'conv', binary: true, geo: conv(32, 16, 64, 2) },
  { name: 'encoder.2 conv 64→128 8→4', kind: 'conv', binary: true, geo: conv(64, 8, 128, 2) },
  { name: 'encoder.3 conv 128→256 4→2', kind: 'conv', binary: true, geo: conv(128, 4, 256, 2) },
  { name: 'before_latent 1024→128', kind: 'linear', binary: true, lin: { in: 1024, out: 128 } },
  { name: 'posterior.layers.0 256→256', kind: 'linear', binary: true, lin: { in: 256, out: 256 } },
  { name: 'posterior.layers.1 256→512', kind: 'linear', binary: true, lin: { in: 256, out: 512 } },
  { name: 'posterior.layers.2 512→2560', kind: 'linear', binary: true, lin: { in: 512, out: 2560 } },
  { name: 'decoder_input 128→1024', kind: 'linear', binary: true, lin: { in: 128, out: 1024 } },
  // Transposed convs: geometry of the equivalent conv2d (its input is the deconv's output).
  { name: 'decoder.0 convT 256→128 2→4', kind: 'convT', binary: true, geo: { ...conv(128, 4, 256, 2), inHeight: 4, inWidth: 4, outHeight: 2, outWidth: 2 } },
  { name: 'decoder.1 convT 128→64 4→8', kind: 'convT', binary: true, geo: { ...conv(64, 8, 128, 2), outHeight: 4, outWidth: 4 } },
  { name: 'decoder.2 convT 64→32 8→16', kind: 'convT', binary: true, geo: { ...conv(32, 16, 64, 2), outHeight: 8, outWidth: 8 } },
  { name: 'final_layer.0 convT 32→32 16→32', kind: 'convT', binary: true, geo: { ...conv(32, 32, 32, 2), outHeight: 16, outWidth: 16 } },
  { name: 'final_layer.1 convT 32→1 s1', kind: 'convT', binary: false, perImage: true, geo: conv(1, 32, 32, 1) },
];

interface Timing {
  fwd: number;
  bwdData: number;
  bwdWeight: number;
  flops: number;
  /** float32 values each kernel must at least read and write (weight-gradient output read and written: it accumulates) */
  floats: { fwd: number; bwdData: number; bwdWeight: number };
}

function measure(be: KernelBackend, layer: Layer, images: number): Timing {
  if (layer.kind === 'linear') {
    const { in: k, out: n } = layer.lin!;
    const m = images;
    const x = data(m * k, layer.binary);
    const w = data(n * k, false);
    const y = zeros(m * n);
    const gy = data(m * n, false);
    const gx = zeros(m * k);
    const gw = zeros(n * k);
    const fwd = time(() => be.gemm(false, true, m, n, k, x, w, y, 0, layer.binary));
    const bwdData = time(() => be.gemm(false, false, m, k, n, gy, w, gx, 0));
    const bwdWeight = time(() => be.gemm(true, false, n, k, m, gy, x, gw, 1));
    const flops = 2 * m * n * k;
    const floats = { fwd: m * k + n * k + m * n, bwdData: m * n + n * k + m * k, bwdWeight: m * n + m * k + 2 * n * k };
    return { fwd, bwdData, bwdWeight, flops, floats };
  }
  const g: Conv2dGeometry = { batch: images, ...layer.geo! };
  const xs = images * g.inChannels * g.inHeight * g.inWidth;
  const ys = images * g.outChannels * g.outHeight * g.outWidth;
  const ws = g.outChannels * g.inChannels * 9;
  const w = data(ws, false);
  const gw = zeros(ws);
  const flops = 2 * images * g.outHeight * g.outWidth * g.outChannels * g.inChannels * 9;
  const floats = { fwd: xs + ws + ys, bwdData: ys + ws + xs, bwdWeight: xs + ys + 2 * ws };
  if (layer.kind === 'conv') {
    const x = data(xs, layer.binary);
    const y = zeros(ys);
    const gy = data(ys, false);
    const gx = zeros(xs);
    const fwd = time(() => be.conv2dForward(g, x, w, null, y, layer.binary));
    const bwdData = time(() => be.conv2dBackwardData(g, gy, w, gx, false));
    const bwdWeight = time(() => be.conv2dBackwardWeight(g, x, gy, gw, true, layer.binary));
    return { fwd, bwdData, bwdWeight, flops, floats };
  }
  // transposed: input spikes live on the conv's output side
  const xin = data(ys, layer.binary);
  const out = zeros(xs);
  const gout = data(xs, false);
  const gin = zeros(ys);
  const fwd = time(() => be.conv2dBackwardData(g, xin, w, out, false, layer.binary));
  const bwdData = time(() => be.conv2dForward(g, gout, w, null, gin));
  const bwdWeight = time(() => be.conv2dBackwardWeight(g, gout, xin, gw, true));
  return { fwd, bwdData, bwdWeight, flops, floats };
}

const native = getNativeBackend();
let peakAll = NaN;
let peakOne = NaN;
let bandwidth = NaN;
if (native) {
  peakOne = nativePeakGflops(quick ? 0.2 : 1, 1);
  peakAll = nativePeakGflops(quick ? 0.2 : 1, availableParallelism());
  bandwidth = nativeMemoryBandwidth(quick ? 64 : 256, availableParallelism());
  console.log(JSON.stringify({ bench: 'peak', isa: nativeInfo()?.isa, spikeKernels: nativeInfo()?.spikeKernels, gflopsOneThread: peakOne, gflopsAllThreads: peakAll, memoryGBps: bandwidth, threads: availableParallelism() }));
}

/**
 * The roofline: the least time a kernel can take on this machine, bound by
 * its arithmetic at the FMA peak or by reading its inputs and writing its
 * output once at the measured (DRAM) copy bandwidth, whichever is longer.
 * Kernels with few multiply-adds per value moved (the single-channel layers:
 * 9 per output) are memory-bound by that measure; at 64 images their arrays
 * (0.3-8 MB) stay in this machine's 32 MiB L3 cache between the benchmark's
 * calls, so they can beat it (fractions above 1).
 */
function rooflineSeconds(flops: number, floats: number): number {
  return Math.max(flops / (peakAll * 1e9), (4 * floats) / (bandwidth * 1e9));
}
for (const layer of layers.filter((l) => l.name.includes(ONLY))) {
  const images = layer.perImage ? N : T * N;
  for (const [name, be, scale] of [
    ['native', native, 1],
    ['typescript', typescriptBackend, quick ? 64 : 16],
  ] as const) {
    if (!be || (nativeOnly && name === 'typescript')) continue;
    const n = Math.max(1, Math.floor(images / scale));
    const r = measure(be, layer, n);
    const f = r.fwd * scale;
    const bd = r.bwdData * scale;
    const bw = r.bwdWeight * scale;
    const b = bd + bw;
    const flops = r.flops * scale;
    console.log(
      JSON.stringify({
        bench: 'op',
        layer: layer.name,
        backend: name,
        images,
        spikeInput: layer.binary,
        firingRate: layer.binary ? RATE : null,
        forwardMs: f * 1000,
        backwardMs: b * 1000,
        forwardGflops: flops / f / 1e9,
        backwardGflops: (2 * flops) / b / 1e9,
        forwardFractionOfPeak: flops / f / 1e9 / peakAll,
        backwardFractionOfPeak: (2 * flops) / b / 1e9 / peakAll,
        inputGradientMs: bd * 1000,
        weightGradientMs: bw * 1000,
        inputGradientFractionOfPeak: flops / bd / 1e9 / peakAll,
        weightGradientFractionOfPeak: flops / bw / 1e9 / peakAll,
        forwardFractionOfRoofline: rooflineSeconds(flops, r.floats.fwd * scale) / f,
        inputGradientFractionOfRoofline: rooflineSeconds(flops, r.floats.bwdData * scale) / bd,
        weightGradientFractionOfRoofline: rooflineSeconds(flops, r.floats.bwdWeight * scale) / bw,
        memoryBound: {
          forward: (4 * r.floats.fwd * scale) / (bandwidth * 1e9) > flops / (peakAll * 1e9),
          inputGradient: (4 * r.floats.bwdData * scale) / (bandwidth * 1e9) > flops / (peakAll * 1e9),
          weightGradient: (4 * r.floats.bwdWeight * scale) / (bandwidth * 1e9) > flops / (peakAll * 1e9),
        },
        extrapolatedFrom: scale > 1 ? n : undefined,
      }),
    );
  }
}
