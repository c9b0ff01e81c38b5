/**
 * Where one FSVAE training step's time goes: every kernel call of one step
 * (after two warm-up steps) is timed and grouped by kernel and shape; the rest
 * is JavaScript (elementwise ops, bookkeeping, allocation).
 * Usage: node dist/bench/profile.js [--batch 64] [--model fsvae]. Prints JSON lines, every
 * kernel and shape, longest first (so any kernel's share of a step can be looked up).
 */
import { withPool } from '../src/engine/alloc.js';
import { parseArgs } from 'node:util';
import { backend } from '../src/engine/backend/index.js';
import type { KernelBackend } from '../src/engine/backend/types.js';
import { warmTrainingStep } from './warm-step.js';

const { values } = parseArgs({ options: { batch: { type: 'string', default: '64' }, model: { type: 'string', default: 'fsvae' } } });
const batch = Number(values.batch);
const be = backend() as unknown as Record<string, (...a: unknown[]) => void>;
const stats = new Map<string, { ms: number; calls: number }>();
for (const k of Object.keys(be)) {
  const f = be[k];
  if (typeof f !== 'function') continue;
  be[k] = (...a: unknown[]) => {
    const t0 = performance.now();
    f(...a);
    const dt = performance.now() - t0;
    let key = k;
    if (k === 'gemm') key += ` ${a[0] ? 'T' : 'N'}${a[1] ? 'T' : 'N'} m${a[2]} n${a[3]} k${a[4]}${a[9] ? ' spikes' : ''}`;
    else if (k.startsWith('conv')) {
      const g = a[0] as { inChannels: number; inHeight: number; outChannels: number; outHeight: number; batch: number };
      key += ` ${g.inChannels}x${g.inHeight}→${g.outChannels}x${g.outHeight} b${g.batch}${a[5] ? ' spikes' : ''}`;
    }
    const s = stats.get(key) ?? { ms: 0, calls: 0 };
    s.ms += dt;
    s.calls++;
    stats.set(key, s);
  };
}
const { model, x, rng, labels } = await warmTrainingStep(values.model!, batch);
stats.clear();
const t0 = performance.now();
let t1 = 0;
withPool(() => {
  const r = model.lossOnBatch(x, rng, labels);
  t1 = performance.now();
  r.loss.backward(undefined, { releaseActivations: true });
});
const t2 = performance.now();
const kernels = [...stats.values()].reduce((s, v) => s + v.ms, 0);
console.log(JSON.stringify({ bench: 'profile', model: values.model, batch, stepMs: t2 - t0, forwardMs: t1 - t0, backwardMs: t2 - t1, kernelMs: kernels, otherMs: t2 - t0 - kernels, backend: (backend as () => KernelBackend)().description }));
for (const [k, v] of [...stats.entries()].sort((a, b) => b[1].ms - a[1].ms)) console.log(JSON.stringify({ bench: 'profile-kernel', kernel: k, ms: v.ms, calls: v.calls }));
