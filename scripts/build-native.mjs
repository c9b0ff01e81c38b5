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
// npm puts its bundled node-gyp on PATH for lifecycle scripts; when this
// script is run by hand, fall back to npm's copy next to the node binary.
// Build against the headers installed with this Node (no download): npm passes
// its nodedir setting to lifecycle scripts; by hand, use the system headers.
const args = ['rebuild', '--directory', 'native'];
const nodedir = process.env.npm_config_nodedir || (existsSync('/usr/include/node/node_api.h') ? '/usr' : '');
if (nodedir) args.push(`--nodedir=${nodedir}`);
let r = spawnSync('node-gyp', args, { cwd: root, stdio: 'inherit' });
if (r.error && r.error.code === 'ENOENT') {
  const bundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(bundled)) r = spawnSync(process.execPath, [bundled, ...args], { cwd: root, stdio: 'inherit' });
}
if (r.status !== 0) {
  console.warn('spikevae: the native addon could not be built; the portable TypeScript kernels will be used (slower).');
}
process.exit(0);
