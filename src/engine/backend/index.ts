/**
 * Chooses the kernel back-end once per process: the native addon when it can
 * be loaded (unless SPIKEVAE_BACKEND=typescript), otherwise the portable
 * TypeScript kernels, with a single warning saying so.
 */
import type { KernelBackend } from './types.js';
import { typescriptBackend } from './typescript.js';

export type { KernelBackend, Conv2dGeometry } from './types.js';
export { typescriptBackend } from './typescript.js';

import { loadNativeBackend } from './native.js';

let nativeError: string | null = null;
let nativeBackend: KernelBackend | null = null;
{
  const r = loadNativeBackend();
  if ('backend' in r) nativeBackend = r.backend;
  else nativeError = r.error;
}

// A web page has no process: its bundle replaces the addon loader
// (native.browser.ts) and installs its kernels with setBackend.
const env: Record<string, string | undefined> = typeof process === 'undefined' ? {} : process.env;
let current: KernelBackend = typescriptBackend;
const requested = env.SPIKEVAE_BACKEND;
if (requested === 'typescript' || requested === 'ts') {
  current = typescriptBackend;
} else if (nativeBackend) {
  current = nativeBackend;
} else {
  if (requested === 'native') throw new Error(`SPIKEVAE_BACKEND=native but the native addon is unavailable: ${nativeError}`);
  if (!env.SPIKEVAE_QUIET && typeof process !== 'undefined') {
    process.stderr.write(`spikevae: native kernels unavailable (${nativeError}); using the portable TypeScript kernels (slower)\n`);
  }
}

/** The back-end every op uses. */
export function backend(): KernelBackend {
  return current;
}

/** Switches back-end (tests and benchmarks compare them). */
export function setBackend(b: KernelBackend): void {
  current = b;
}

/** The native back-end, or null with the reason in nativeUnavailableReason(). */
export function getNativeBackend(): KernelBackend | null {
  return nativeBackend;
}

export function nativeUnavailableReason(): string | null {
  return nativeError;
}
