/**
 * Allocation of large float arrays. Activations and gradients of hundreds of
 * megabytes are created and dropped every training step; memory fresh from
 * the system is page-faulted on first touch, which cost more than the
 * kernels writing it (see docs/performance.md). Arrays of at least
 * POOL_MIN_FLOATS come from the native addon's pool, which returns collected
 * blocks to a free list and hands them out again warm (zeroed, like any new
 * Float32Array). Small arrays, and every array when the addon is missing or
 * SPIKEVAE_POOL=0, are ordinary Float32Arrays.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { nativeAllocator } from './backend/native.js';

const POOL_MIN_FLOATS = 1 << 16;
const pooled = nativeAllocator();

const scopes: Float32Array[][] = [];

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
  if (pooled !== null && n >= POOL_MIN_FLOATS) {
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

let collect: (() => void) | null | undefined;

/**
 * Lets the pool take back the previous step's arrays before the next step
 * allocates: a full garbage collection (V8 sees only small wrappers of these
 * large external buffers, so on its own it collects them late and the
 * process would hold about two steps' worth of memory). Call it between
 * training steps, then yield to the event loop so the finalizers run.
 * Costs a few milliseconds; does nothing without the pool.
 */
export function reclaimPooledMemory(): void {
  if (pooled === null) return;
  if (collect === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      collect = runInNewContext('gc') as () => void;
    } catch {
      collect = null;
    }
  }
  collect?.();
}
