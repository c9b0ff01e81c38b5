/**
 * Dense or event-driven products for spike inputs: the posterior's largest
 * product (1,024 × 2560 × 512, spikes times weights) timed with both routes,
 * on every instruction set the CPU has, at firing rates from 1 % to 30 %.
 * The crossover decides the addon's default per instruction set
 * (docs/performance.md). Prints JSON lines; part of `npm run bench`.
 */
import { getNativeBackend } from '../src/engine/backend/index.js';
import { configureNative } from '../src/engine/backend/native.js';
import { Random } from '../src/engine/random.js';

const native = getNativeBackend();
if (!native) {
  console.log(JSON.stringify({ bench: 'spike-products', skipped: 'native addon not built' }));
  process.exit(0);
}
const [m, n, k] = [1024, 2560, 512];
const rng = new Random(5);
const w = rng.fillNormal(new Float32Array(n * k));
const c = new Float32Array(m * n);
const time = (a: Float32Array): number => {
  native.gemm(false, true, m, n, k, a, w, c, 0, true);
  const reps = 5;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) native.gemm(false, true, m, n, k, a, w, c, 0, true);
  return (performance.now() - t0) / reps;
};
for (const isa of ['avx512', 'avx2'] as const) {
  for (const rate of [0.01, 0.03, 0.05, 0.1, 0.15, 0.3]) {
    const a = new Float32Array(m * k).map(() => (rng.uniform() < rate ? 1 : 0));
    const ms: Record<string, number> = {};
    for (const mode of ['dense', 'event'] as const) {
      if (configureNative(isa, 2, mode)) break; // this CPU lacks the instruction set
      ms[mode] = time(a);
    }
    if (Object.keys(ms).length === 2) console.log(JSON.stringify({ bench: 'spike-products', isa, firingRate: rate, m, n, k, denseMs: ms.dense, eventMs: ms.event }));
  }
}
configureNative('', 2);
