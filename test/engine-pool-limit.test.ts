/**
 * The buffer pool's slack limit, in a process of its own (node --test runs
 * each file separately) so the pool starts empty: free blocks may exceed the
 * live peak by a quarter of it, but never take free and live blocks together
 * beyond 2 GiB. The blocks are never written (allocFloat32Output), so they
 * cost address space, not memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocFloat32Output, pooledMemoryStats, releaseFloat32, withPool } from '../src/engine/alloc.js';

const pooled = pooledMemoryStats() !== null;

test('the slack never lets free and live blocks together pass 2 GiB', { skip: !pooled && 'no native addon (plain arrays)' }, () => withPool(() => {
  const MiB = 1 << 20;
  const floats = (mib: number): number => (mib * MiB) / 4;
  const s0 = pooledMemoryStats()!;
  assert.equal(s0.liveBytes + s0.freeBytes, 0, 'a fresh process starts with an empty pool');
  const big = allocFloat32Output(floats(1800));
  releaseFloat32(big);
  // 200 MiB cannot use the 1,800 MiB block: fresh, and 2,000 MiB stays within 2 GiB.
  const a = allocFloat32Output(floats(200));
  assert.equal(pooledMemoryStats()!.freeBytes, 1800 * MiB, 'the 1,800 MiB block is kept');
  // 100 MiB more would make 2,100 MiB: within a quarter above the 1,800 MiB
  // peak, but beyond 2 GiB, so the free block is given back.
  const b = allocFloat32Output(floats(100));
  const s1 = pooledMemoryStats()!;
  assert.equal(s1.freeBytes, 0, 'the 1,800 MiB block was given back');
  assert.equal(s1.liveBytes, 300 * MiB);
  releaseFloat32(a);
  releaseFloat32(b);
}));
