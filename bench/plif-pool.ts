/**
 * The MNIST classifier's two fused neuron + 2×2 max pooling backward kernels
 * (plifPoolBackward) on their own, at the training shapes (batch 16, T = 8,
 * 128 channels): the first layer (28×28, its input repeated over the steps,
 * no batch norm) and the second (14×14, an input per step through the fused
 * batch-norm affine). Random inputs, spikes at --rate (default: the trained
 * network's 0.12 and 0.02). Median of 7 calls; nanoseconds per neuron-step.
 * --matrix: every combination of side (28, 14), input (repeated over the
 * steps or one per step) and affine (none or batch norm) instead, to tell
 * what makes the second layer slower per neuron-step than the first.
 * Usage: node dist/bench/plif-pool.js [--rate 0.12] [--matrix]. Prints JSON lines.
 */
import { parseArgs } from 'node:util';
import { backend } from '../src/engine/backend/index.js';
import { Random } from '../src/engine/random.js';

const { values } = parseArgs({ options: { rate: { type: 'string' }, matrix: { type: 'boolean', default: false } } });
const be = backend();
const rng = new Random(3);
const STEPS = 8;
const BATCH = 16;
const CHANNELS = 128;

function measure(layer: string, side: number, repeated: boolean, withAffine: boolean, rate: number): void {
  const size = BATCH * CHANNELS * side * side;
  const x = new Float32Array(repeated ? size : STEPS * size);
  for (let i = 0; i < x.length; i++) x[i] = 2 * rng.uniform() - 0.5;
  const o = new Float32Array(STEPS * size);
  for (let i = 0; i < o.length; i++) o[i] = rng.uniform() < rate ? 1 : 0;
  const gPooled = new Float32Array((STEPS * size) / 4);
  for (let i = 0; i < gPooled.length; i++) gPooled[i] = rng.uniform() - 0.5;
  const gx = new Float32Array(x.length);
  const sums = new Float64Array(2);
  const affine = withAffine
    ? { channels: CHANNELS, inner: side * side, a: new Float32Array(CHANNELS).fill(1.1), b: new Float32Array(CHANNELS).fill(0.01), perStep: false }
    : null;
  const ms: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    be.plifPoolBackward(STEPS, size, x, o, gPooled, gx, 0.7, 0.5, 2, affine, repeated, sums, side, side);
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const median = ms[ms.length >> 1];
  console.log(JSON.stringify({ bench: 'plif-pool-backward', layer, side, rate, ms: median, nsPerNeuronStep: (median * 1e6) / (STEPS * size), backend: be.name }));
}

for (const rate of values.rate ? [Number(values.rate)] : [0.12, 0.02]) {
  if (!values.matrix) {
    measure('first (repeated input)', 28, true, false, rate);
    measure('second (per-step input, batch-norm affine)', 14, false, true, rate);
    continue;
  }
  for (const side of [28, 14])
    for (const repeated of [true, false])
      for (const affine of [false, true]) measure(`${side}x${side}, ${repeated ? 'repeated' : 'per-step'} input, ${affine ? 'batch-norm affine' : 'no affine'}`, side, repeated, affine, rate);
}
