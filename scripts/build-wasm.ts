// Compiles the native kernels to WebAssembly SIMD for the web page
// (native/src/wasm.cc; the 16-byte vector build of kernels.cc and
// smallconv.cc, whose GCC vector extensions become simd128) with Emscripten's
// emcc, into native/build-wasm/spikevae-kernels.wasm. Skipped when that file
// is newer than every source. Without emcc (Debian: apt-get install
// emscripten) nothing is built and the page runs the TypeScript kernels.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// dist/scripts/build-wasm.js → the repository root
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const srcDir = join(root, 'native', 'src');
const outDir = join(root, 'native', 'build-wasm');
export const wasmPath = join(outDir, 'spikevae-kernels.wasm');

const SOURCES = ['wasm.cc', 'kernels.cc', 'smallconv.cc', 'lif.cc', 'plif.cc', 'pool.cc', 'norm.cc', 'optim.cc', 'scratch.cc'];
// The exports wasm.ts calls, and malloc/free for its argument copies.
const EXPORTS = [
  'malloc', 'free', 'spv_gemm', 'spv_conv_forward', 'spv_conv_backward_data', 'spv_conv_backward_weight', 'spv_lif_forward',
  'spv_lif_backward', 'spv_affine_lif_forward', 'spv_lif_backward_recompute', 'spv_affine_lif_time_sum', 'spv_lif_step', 'spv_lif_backward_time_sum', 'spv_plif_forward', 'spv_plif_backward', 'spv_plif_pool_forward', 'spv_plif_pool_backward', 'spv_max_pool2x2_forward', 'spv_max_pool2x2_backward', 'spv_time_weighted_sum', 'spv_time_weighted_spread',
  'spv_adamw_update', 'spv_channel_affine', 'spv_channel_mean_var', 'spv_channel_sums', 'spv_channel_grad_sums', 'spv_channel_norm_backward',
];
const COMPILE = ['-O3', '-msimd128', '-std=c++17', '-fno-rtti', '-DSPV_ISA=scalar', '-DSPV_VEC_BYTES=16'];
const LINK = [
  '-O3', '-msimd128', '--no-entry', '-sSTANDALONE_WASM', '-sALLOW_MEMORY_GROWTH=1', '-sMAXIMUM_MEMORY=4GB', '-sINITIAL_MEMORY=16MB',
  `-sEXPORTED_FUNCTIONS=${EXPORTS.map((e) => '_' + e).join(',')}`,
];

export function emccAvailable(): boolean {
  const r = spawnSync('emcc', ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

function upToDate(): boolean {
  if (!existsSync(wasmPath)) return false;
  const built = statSync(wasmPath).mtimeMs;
  const inputs = [...readdirSync(srcDir).map((f) => join(srcDir, f)), join(root, 'scripts', 'build-wasm.ts')];
  return inputs.every((f) => statSync(f).mtimeMs < built);
}

function run(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('emcc', args, { cwd: outDir, stdio: ['ignore', 'inherit', 'inherit'] });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`emcc ${args.join(' ')} failed (exit ${code})`))));
  });
}

/**
 * Builds the module if needed. Returns its path, or null (with the reason
 * printed) when emcc is missing.
 */
export async function buildWasm(log: (line: string) => void = (line) => console.error(line)): Promise<string | null> {
  if (upToDate()) return wasmPath;
  if (!emccAvailable()) {
    log('spikevae: emcc not found (Debian: apt-get install emscripten); the web page will run the TypeScript kernels, far slower');
    return null;
  }
  mkdirSync(outDir, { recursive: true });
  log('spikevae: compiling the kernels to WebAssembly SIMD (emcc)');
  // Two compilers at a time: the machines have two cores.
  const queue = [...SOURCES];
  const worker = async () => {
    for (let f; (f = queue.shift()); ) await run([...COMPILE, '-c', join(srcDir, f), '-o', f.replace(/\.cc$/, '.o')]);
  };
  await Promise.all([worker(), worker()]);
  const tmp = wasmPath.replace(/\.wasm$/, '.tmp.wasm'); // emcc picks its output kind by the extension
  rmSync(tmp, { force: true });
  await run([...LINK, ...SOURCES.map((f) => f.replace(/\.cc$/, '.o')), '-o', tmp]);
  renameSync(tmp, wasmPath);
  return wasmPath;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  buildWasm().then((p) => p && console.error(`spikevae: ${p}`), (e: Error) => {
    console.error(`spikevae: ${e.message}`);
    process.exit(1);
  });
}
