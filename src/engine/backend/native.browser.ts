/**
 * What the web page's bundle uses in place of native.ts (scripts/build-web.ts
 * substitutes it): a browser cannot load the N-API addon, so the library runs
 * on the TypeScript kernels until the page installs the WebAssembly ones
 * (wasm.ts). Exports what the browser-reachable modules import from
 * native.ts, with the same types (test/web-stand-ins.test.ts checks names
 * and arities).
 */
import type { KernelBackend } from './types.js';
import type { NativeAllocator } from './native.js';

export type { NativeAllocator, PoolStats } from './native.js';

export function loadNativeBackend(): { backend: KernelBackend } | { error: string } {
  return { error: 'native kernels cannot load in a web browser' };
}

export function nativeAllocator(): NativeAllocator | null {
  return null;
}
