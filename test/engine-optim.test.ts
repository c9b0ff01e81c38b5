/** The optimizer as the classifiers use it: Adam (AdamW without decay) and the cosine schedule; and Random's fill loops. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pooledMemoryStats, withPool } from '../src/engine/alloc.js';
import { AdamW, cosineAnnealingFactor } from '../src/engine/optim.js';
import { Random } from '../src/engine/random.js';
import { Tensor } from '../src/engine/tensor.js';

test('cosine annealing equals PyTorch\'s chained CosineAnnealingLR (T_max 64, eta_min 0), also past T_max', () => {
  // torch.optim.lr_scheduler.CosineAnnealingLR.get_lr, written out (eta_min = 0).
  const tMax = 64;
  let lr = 1;
  for (let e = 1; e <= 300; e++) {
    if ((e - 1 - tMax) % (2 * tMax) === 0) lr = lr + (1 - Math.cos(Math.PI / tMax)) / 2;
    else lr = ((1 + Math.cos((Math.PI * e) / tMax)) / (1 + Math.cos((Math.PI * (e - 1)) / tMax))) * lr;
    assert.ok(Math.abs(cosineAnnealingFactor(e, tMax) - lr) < 1e-9, `epoch ${e}: ${cosineAnnealingFactor(e, tMax)} vs ${lr}`);
  }
  assert.equal(cosineAnnealingFactor(0, tMax), 1);
  assert.ok(Math.abs(cosineAnnealingFactor(32, tMax) - 0.5) < 1e-15);
  assert.ok(cosineAnnealingFactor(64, tMax) < 1e-15);
});

test('Adam (weight decay 0): the first step moves each parameter by lr against the sign of its gradient; a schedule multiplies the base rates', () => {
  const p = Tensor.from([1, -2, 3], [3], true);
  const opt = new AdamW([{ params: [p], lr: 0.01, weightDecay: 0 }]);
  p.grad = Float32Array.from([0.5, -4, 1e-3]);
  opt.step();
  // m̂ = g, v̂ = g²: p − lr·g/(|g| + 1e-8).
  const want = [1 - 0.01, -2 + 0.01, 3 - (0.01 * 1e-3) / (1e-3 + 1e-8)];
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(p.data[i] - want[i]) < 1e-6, `p[${i}] = ${p.data[i]}`);
  opt.setLearningRateFactor(0.25);
  assert.equal(opt.groups[0].lr, 0.0025);
  opt.setLearningRateFactor(1);
  assert.equal(opt.groups[0].lr, 0.01);
  // A resumed run's new --lr rescales the base the schedule multiplies.
  opt.scaleLearningRates(2);
  opt.setLearningRateFactor(0.5);
  assert.equal(opt.groups[0].lr, 0.01);
});

test('zeroGrad hands pooled gradients back to the pool at once (not at the next garbage collection)', { skip: !pooledMemoryStats() && 'no native addon (plain arrays)' }, () => withPool(() => {
  const p = new Tensor(new Float32Array(1 << 18), [1 << 18], true);
  const opt = new AdamW([{ params: [p], lr: 0.01, weightDecay: 0 }]);
  const grad = p.gradBuffer();
  const live = pooledMemoryStats()!.liveBytes;
  opt.zeroGrad();
  assert.equal(p.grad, null);
  assert.equal(grad.length, 0, 'the old gradient is detached');
  assert.equal(pooledMemoryStats()!.liveBytes, live - (1 << 20));
}));

test('Random.fillInt draws exactly what int() draws one at a time, rejections included, and leaves the same state', () => {
  // n = 2^30 + 1 rejects the draws ≥ 3n, about a quarter of them, so the rejection path runs often.
  for (const n of [20, 7, 2 ** 30 + 1, 2 ** 31]) {
    const one = new Random(11);
    const many = new Random(11);
    const expected = Int32Array.from({ length: 1000 }, () => one.int(n));
    assert.deepEqual(many.fillInt(new Int32Array(1000), n), expected, `n = ${n}`);
    assert.equal(many.nextUint32(), one.nextUint32(), `state after n = ${n}`);
  }
  assert.throws(() => new Random(1).fillInt(new Int32Array(1), 2 ** 31 + 1), /bad range/);
});

test('Random.fillUniform draws exactly what uniform() draws one at a time and leaves the same state', () => {
  for (const seed of [0, 11, 0xffffffff]) {
    const one = new Random(seed);
    const many = new Random(seed);
    const expected = Float32Array.from({ length: 1000 }, () => one.uniform());
    assert.deepEqual(many.fillUniform(new Float32Array(1000)), expected, `seed ${seed}`);
    assert.deepEqual(many.getState(), one.getState(), `state after seed ${seed}`);
    assert.equal(many.nextUint32(), one.nextUint32());
  }
});

test('Random is xoshiro128**: the reference implementation\'s first outputs from the state {1, 2, 3, 4}', () => {
  // Blackman & Vigna's xoshiro128starstar.c stepped by hand (Python, outside this project).
  const expected = [11520, 0, 5927040, 70819200, 2031721883, 1637235492];
  const r = new Random(0);
  r.setState([1, 2, 3, 4]);
  assert.deepEqual(expected.map(() => r.nextUint32()), expected);
  const f = new Random(0);
  f.setState([1, 2, 3, 4]);
  // fillInt with n = 2^31 keeps the low 31 bits of each draw (no rejections: 2^32 is a multiple of n).
  assert.deepEqual([...f.fillInt(new Int32Array(6), 2 ** 31)], expected.map((v) => v % 2 ** 31));
});
