/**
 * The pooled allocator: arrays come back zeroed even when their block is
 * reused, a released array is detached (reads as empty, never aliases the next
 * array), releasingScope releases only what was allocated inside it, and a
 * training step with released activations gives bit-identical parameters to
 * one without.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocFloat32, allocFloat32Output, pooledMemoryStats, releaseFloat32, releasingScope, withPool } from '../src/engine/alloc.js';
import { getNativeBackend } from '../src/engine/backend/index.js';
import type { PoolStats } from '../src/engine/backend/native.js';
import { createModel } from '../src/models/index.js';
import { Random } from '../src/engine/random.js';
import { Tensor } from '../src/engine/tensor.js';
import { AdamW } from '../src/engine/optim.js';

const N = 1 << 17; // above the pooling threshold
const pooled = getNativeBackend() !== null && process.env.SPIKEVAE_POOL !== '0';

test('outside a pooled region arrays are ordinary (V8 frees them without an event-loop turn)', () => {
  const a = allocFloat32(N);
  releaseFloat32(a);
  assert.equal(a.length, N, 'not pooled, so not detached');
});

test('pooled arrays are zeroed on reuse, and a released array is detached', { skip: !pooled && 'no native addon (plain arrays)' }, () => withPool(() => {
  const a = allocFloat32(N);
  a.fill(7);
  releaseFloat32(a);
  assert.equal(a.length, 0, 'released array reads as empty');
  const b = allocFloat32(N); // most likely a's block again
  assert.equal(b.length, N);
  assert.ok(b.every((v) => v === 0));
  b.fill(3);
  releaseFloat32(b);
  const c = allocFloat32Output(N);
  assert.equal(c.length, N);
  c.fill(1);
  // Small arrays and foreign buffers are ignored by release.
  const small = allocFloat32(10);
  releaseFloat32(small);
  assert.equal(small.length, 10);
  const plain = new Float32Array(N);
  releaseFloat32(plain);
  assert.equal(plain.length, N);
}));

test('free blocks raise the pool at most a slack (a quarter of the live peak, never beyond 2 GiB in all) above its live peak; a block up to 1.5x the request is reused', { skip: !pooled && 'no native addon (plain arrays)' }, () => withPool(() => {
  const MiB = 1 << 20;
  const floats = (mib: number): number => (mib * MiB) / 4;
  const withinBound = (s: PoolStats, what: string): void => {
    const bound = Math.max(s.maxLiveBytes, Math.min(s.maxLiveBytes + Math.floor(s.maxLiveBytes / 4), 2048 * MiB));
    assert.ok(s.liveBytes + s.freeBytes <= bound, `${what}: live ${s.liveBytes} + free ${s.freeBytes} above the peak ${s.maxLiveBytes} + slack`);
  };
  const s0 = pooledMemoryStats()!;
  // Sizes far above anything else in this file, so the first is a fresh block.
  const a = allocFloat32(floats(400));
  releaseFloat32(a);
  const s1 = pooledMemoryStats()!;
  assert.equal(s1.liveBytes, s0.liveBytes);
  assert.ok(s1.freeBytes >= 400 * MiB, 'the released block is kept');
  // 700 MiB: more than 1.5 x 400, so fresh memory; 700 + 400 exceeds the new
  // peak (700) plus its slack (175), so the free 400 MiB block is given back.
  const b = allocFloat32(floats(700));
  const s2 = pooledMemoryStats()!;
  assert.equal(s2.liveBytes, s0.liveBytes + 700 * MiB);
  assert.ok(s2.freeBytes < 400 * MiB, 'the 400 MiB block was given back');
  withinBound(s2, 'after 700 MiB');
  releaseFloat32(b);
  // 500 MiB fits the free 700 MiB block (within 1.5x): reused, zeroed, no fresh memory.
  const c = allocFloat32(floats(500));
  const s3 = pooledMemoryStats()!;
  assert.equal(s3.liveBytes, s0.liveBytes + 700 * MiB, 'counted as the 700 MiB block it took');
  assert.equal(s3.maxLiveBytes, s2.maxLiveBytes, 'no new peak');
  assert.equal(s3.freshBytes, s2.freshBytes, 'no fresh memory');
  assert.equal(c.length, floats(500));
  assert.ok(c[0] === 0 && c[c.length - 1] === 0);
  releaseFloat32(c);
  // 150 MiB does not fit the 700 MiB block: fresh, and 150 + 700 stays within
  // the peak plus its slack, so the 700 MiB block is kept for a later request.
  const d = allocFloat32(floats(150));
  const s4 = pooledMemoryStats()!;
  assert.ok(s4.freshBytes >= s3.freshBytes + 150 * MiB, 'fresh memory');
  assert.ok(s4.freeBytes >= 700 * MiB, 'the 700 MiB block is kept within the slack');
  withinBound(s4, 'after 150 MiB');
  releaseFloat32(d);
  assert.equal(pooledMemoryStats()!.liveBytes, s0.liveBytes);
}));

test('releasingScope releases what it allocated and nothing from outside', { skip: !pooled && 'no native addon (plain arrays)' }, () => {
  const outside = allocFloat32(N);
  let inner: Float32Array | null = null;
  const kept = releasingScope(() => {
    inner = allocFloat32(N);
    inner[0] = 5;
    outside[0] = 4;
    return inner.slice(0, 4);
  });
  assert.equal(inner!.length, 0);
  assert.equal(outside.length, N);
  assert.deepEqual(Array.from(kept), [5, 0, 0, 0]);
});

for (const kind of ['fsvae', 'esvae', 'ann-vae', 'fad-ae'] as const) test(`a ${kind} step with activations released during backward updates the parameters bit-identically`, () => {
  const run = (release: boolean) => {
    const model = createModel(kind, 'mnist', { timeSteps: 4, latentDim: 16 }, 3);
    model.train();
    model.beginEpoch(0, 10);
    const opt = new AdamW(model.paramGroups(1e-3, 1e-3));
    const rng = new Random(9);
    // Big enough that activations are pooled (at least 65,536 floats).
    const n = kind === 'fsvae' || kind === 'esvae' ? 4 : 16;
    const x = new Tensor(new Float32Array(n * 1024).map((_, i) => Math.sin(i * 0.37)), [n, 1, 32, 32]);
    for (let s = 0; s < 2; s++) {
      withPool(() => {
        const { loss } = model.lossOnBatch(x, rng);
        loss.backward(undefined, { releaseActivations: release });
        opt.step();
        opt.zeroGrad();
      });
    }
    return model.parameters().map((p) => Array.from(p.data));
  };
  assert.deepEqual(run(true), run(false));
});
