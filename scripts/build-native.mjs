// Builds the native kernel addon with node-gyp during `npm install`.
// A failed build must not fail the install: the library then runs on the
// portable TypeScript kernels and says so once at run time.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'native', 'binding.gyp'))) process.exit(0);
if (process.env.SPIKEVAE_SKIP_NATIVE) {
  console.warn('spikevae: SPIKEVAE_SKIP_NATIVE is set; not building the native addon');
  process.exit(0);
}
const r = spawnSync('node-gyp', ['rebuild', '--directory', 'native'], {
  cwd: root,
  stdio: 'inherit',
  shell: process.platform === 'win32',
});
if (r.status !== 0) {
  console.warn('spikevae: the native addon could not be built; the portable TypeScript kernels will be used (slower).');
}
process.exit(0);
