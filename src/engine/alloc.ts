/**
 * Allocation of large float arrays. Activations and gradients of hundreds of
 * megabytes are created and dropped every training step; memory fresh from
 * the system is page-faulted on first touch, which cost more than the
 * kernels writing it (see docs/performance.md). Inside a pooled region
 * (`withPool`, `releasingScope`), arrays of at least POOL_MIN_FLOATS come
 * from the native addon's pool, which hands blocks out again warm once they
 * are released explicitly or collected (zeroed, like any new Float32Array).
 *
 * Collected blocks only come back when the event loop turns (N-API runs the
 * finalizers from a macrotask), so pooling is confined to regions that are
 * followed by `reclaimPooledMemory()` and a turn of the event loop — a
 * training step — or that release everything themselves. Everywhere else
 * (evaluation loops, sampling) arrays are ordinary Float32Arrays that V8
 * frees on its own; a long synchronous loop over pooled arrays would
 * otherwise hold every array it ever made.
 */
import { nativeAllocator, type PoolStats } from './backend/native.js';

const POOL_MIN_FLOATS = 1 << 16;
const pooled = nativeAllocator();

const scopes: Float32Array[][] = [];
let pooledRegions = 0;

/**
 * Runs fn with large arrays drawn from the pool. The caller must then call
 * reclaimPooledMemory() and let the event loop turn (as the trainer does
 * between steps) before the next region, so collected arrays return.
 */
export function withPool<T>(fn: () => T): T {
  pooledRegions++;
  try {
    return fn();
  } finally {
    pooledRegions--;
  }
}

/** A zero-filled Float32Array of n elements. */
export function allocFloat32(n: number): Float32Array {
  return allocate(n, true);
}

/**
 * A Float32Array of n elements whose content is unspecified: only for outputs
 * that the caller overwrites completely before anything reads them (saves
 * clearing a reused pooled block).
 */
export function allocFloat32Output(n: number): Float32Array {
  return allocate(n, false);
}

function allocate(n: number, zero: boolean): Float32Array {
  if (pooled !== null && n >= POOL_MIN_FLOATS && (pooledRegions > 0 || scopes.length > 0)) {
    const a = new Float32Array(pooled.alloc(n * 4, zero));
    if (scopes.length > 0) scopes[scopes.length - 1].push(a);
    return a;
  }
  return new Float32Array(n);
}

/**
 * Runs fn and then releases every pooled array allocated inside it, so a
 * no-gradient loop (FSVAE's O(T²) prefix passes) reuses the same memory on
 * each iteration instead of holding all of it until the step ends. fn must
 * return nothing allocated inside (copy what it keeps: small arrays are never
 * pooled, and `.slice()` makes an ordinary copy).
 */
export function releasingScope<T>(fn: () => T): T {
  scopes.push([]);
  try {
    return fn();
  } finally {
    for (const a of scopes.pop()!) releaseFloat32(a);
  }
}

/**
 * Hands a pooled array back before garbage collection would: for arrays the
 * caller alone owns and will never read again (the autodiff's intermediate
 * gradients). The buffer is detached, so any stray view becomes empty rather
 * than silently sharing memory with the next array. Other arrays are ignored.
 */
export function releaseFloat32(a: Float32Array): void {
  if (pooled === null || a.length < POOL_MIN_FLOATS || a.byteOffset !== 0 || a.buffer.byteLength !== a.length * 4) return;
  pooled.release(a.buffer as ArrayBuffer);
}

/** The pool's byte counts (null without the pool): for benchmarks and tests. */
export function pooledMemoryStats(): PoolStats | null {
  return pooled?.stats() ?? null;
}

/**
 * Lets the pool take back the previous step's arrays before the next step
 * allocates. Backward releases nearly every array of a step explicitly (FSVAE
 * at batch 64 leaves ~40 MiB of a 770 MiB peak live, at batch 250 ~36 MiB of
 * 3 GiB: bench/fsvae-step.ts reports it as liveAfterStepMiB); the rest is
 * held by small wrappers that V8 collects late, since it does not see the
 * large external buffers behind them. So when what is still live passes an
 * eighth of the live peak, a full garbage collection runs (a few
 * milliseconds to tens of them); call it between training steps, then yield
 * to the event loop so the finalizers return the blocks. Collecting after
 * every step, as before, cost 1-2 % of FSVAE's and ESVAE's speed at batch 64
 * and 5-8 % of the ANN VAE's, for no less memory or fresh memory (V8's own
 * minor collections return most wrappers). Does nothing without the pool.
 */
export function reclaimPooledMemory(): void {
  if (pooled === null) return;
  const s = pooled.stats();
  if (s.liveBytes <= s.maxLiveBytes / 8) return;
  pooled.collectGarbage();
}
