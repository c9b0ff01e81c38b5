// Builds the web page (web/) into dist/web/, a folder any static file host
// serves: the bundled page and engine worker (esbuild), the WebAssembly
// kernels (build-wasm.ts; without emcc the page runs the TypeScript ones),
// 64 test images per dataset found here, the checkpoints in pretrained/, and
// manifest.json listing them. `npm run build:web` runs it after type-checking.
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { buildWasm } from './build-wasm.js';
import { openDataset } from '../src/data/index.js';
import { InMemoryDataset } from '../src/data/memory.js';
import { readCheckpoint } from '../src/models/checkpoint.js';
import { UserError } from '../src/util/errors.js';

// dist/scripts/build-web.js → the repository root
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const webOutDir = join(root, 'dist', 'web');

/**
 * The library's Node-only modules and the browser stand-ins the bundle uses
 * instead (test/web-stand-ins.test.ts checks that each stand-in exports what
 * its module does, with the same arities).
 */
export const NODE_STAND_INS: Record<string, string> = {
  'src/engine/backend/native.ts': 'src/engine/backend/native.browser.ts',
  'src/util/files.ts': 'src/util/files.browser.ts',
  'src/util/atomic.ts': 'src/util/atomic.browser.ts',
  'src/util/package.ts': 'src/util/package.browser.ts',
};

/** Test images shipped per dataset (the first ones of the test split). */
const TEST_IMAGES = 64;

const standIns: Plugin = {
  name: 'node-stand-ins',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      const file = relative(root, resolve(args.resolveDir, args.path).replace(/\.js$/, '.ts')).split('\\').join('/');
      const standIn = NODE_STAND_INS[file];
      return standIn ? { path: join(root, standIn) } : undefined;
    });
  },
};

export interface WebBuild {
  outDir: string;
  /** Whether the WebAssembly kernels are in the build. */
  kernels: boolean;
  models: ManifestModel[];
  testImages: string[];
}

interface ManifestModel {
  name: string;
  file: string;
  kind: string;
  dataset: string | null;
  decoding: string | null;
  bytes: number;
}

export async function buildWeb(log: (line: string) => void = (line) => console.error(line), outDir = webOutDir): Promise<WebBuild> {
  const wasm = await buildWasm(log);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  // platform 'browser' fails the build on any import of a Node built-in the stand-ins do not cover.
  await build({
    entryPoints: { main: join(root, 'web', 'src', 'main.ts'), worker: join(root, 'web', 'src', 'worker.ts') },
    outdir: outDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome109', 'firefox115', 'safari16.4'],
    minify: true,
    sourcemap: true,
    plugins: [standIns],
    logLevel: 'warning',
  });
  for (const f of ['index.html', 'style.css']) copyFileSync(join(root, 'web', f), join(outDir, f));
  if (wasm) copyFileSync(wasm, join(outDir, basename(wasm)));

  const testImages: Record<string, { file: string; count: number; channels: number; size: number }> = {};
  mkdirSync(join(outDir, 'test-images'));
  for (const name of ['mnist', 'fashion']) {
    let ds;
    try {
      ds = await openDataset(name, 'test', { limit: TEST_IMAGES });
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      log(`spikevae: no ${name} test images in the page (${e.message.split(';')[0]})`);
      continue;
    }
    if (!(ds instanceof InMemoryDataset)) throw new Error(`${name}: expected an in-memory dataset`);
    const count = Math.min(TEST_IMAGES, ds.length);
    const per = ds.channels * ds.height * ds.width;
    // The images exactly as the CLI feeds them (after the dataset's resize), then the labels.
    const bytes = new Uint8Array(count * (per + 1));
    bytes.set(ds.pixels.subarray(0, count * per));
    bytes.set(ds.labels.subarray(0, count), count * per);
    const file = `test-images/${name}.bin`;
    writeFileSync(join(outDir, file), bytes);
    testImages[name] = { file, count, channels: ds.channels, size: ds.height };
    await ds.close();
  }

  const models: ManifestModel[] = [];
  const pretrained = join(root, 'pretrained');
  if (existsSync(pretrained)) {
    mkdirSync(join(outDir, 'models'));
    for (const f of readdirSync(pretrained).filter((f) => f.endsWith('.safetensors') && !f.endsWith('.optimizer.safetensors')).sort(preferredOrder)) {
      const ck = readCheckpoint(join(pretrained, f));
      // The page samples, reconstructs and interpolates: generative models only.
      if (ck.model === 'alif-classifier') continue;
      const file = `models/${f}`;
      copyFileSync(join(pretrained, f), join(outDir, file));
      models.push({
        name: f.replace(/\.safetensors$/, ''),
        file,
        kind: ck.model,
        dataset: ck.file.metadata['spikevae.dataset'] ?? null,
        decoding: typeof ck.config.decoding === 'string' ? ck.config.decoding : null,
        bytes: statSync(join(pretrained, f)).size,
      });
    }
  }
  const manifest = { kernels: wasm ? basename(wasm) : null, models, testImages };
  writeFileSync(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return { outDir, kernels: wasm !== null, models, testImages: Object.keys(testImages) };
}

/** FSVAE on MNIST first (the page loads the first model), then by name. */
function preferredOrder(a: string, b: string): number {
  const rank = (f: string) => (f.startsWith('fsvae-mnist') ? 0 : 1);
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  buildWeb().then(
    (r) => {
      console.error(
        `spikevae: built the web page in ${relative(process.cwd(), r.outDir) || '.'}/ (${r.kernels ? 'WebAssembly SIMD kernels' : 'TypeScript kernels only'}, ` +
          `${r.models.length} pretrained model${r.models.length === 1 ? '' : 's'}, test images: ${r.testImages.join(', ') || 'none'}); serve it with 'npm run demo' or any static file server`,
      );
    },
    (e: Error) => {
      console.error(e instanceof UserError ? `spikevae: ${e.message}` : e);
      process.exit(1);
    },
  );
}
