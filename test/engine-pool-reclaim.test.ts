/**
 * reclaimPooledMemory in a process of its own (node --test runs each file
 * separately), so the pool's live peak is this test's: arrays dropped without
 * release are more than an eighth of it, so a collection runs and their
 * blocks come back after one event-loop turn, as the trainer relies on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocFloat32Output, pooledMemoryStats, reclaimPooledMemory, withPool } from '../src/engine/alloc.js';

const pooled = pooledMemoryStats() !== null;

test('arrays dropped without release return to the pool after reclaimPooledMemory and an event-loop turn', { skip: !pooled && 'no native addon (plain arrays)' }, async () => {
  const MiB = 1 << 20;
  assert.equal(pooledMemoryStats()!.maxLiveBytes, 0, 'a fresh process starts with an empty pool');
  withPool(() => {
    // Dropped at once: only a collection can give their blocks back.
    for (let i = 0; i < 3; i++) allocFloat32Output((64 * MiB) / 4)[0] = i;
  });
  assert.equal(pooledMemoryStats()!.liveBytes, 192 * MiB);
  reclaimPooledMemory();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(pooledMemoryStats()!.liveBytes, 0, 'the three blocks came back');
});
