// Builds the native kernel addon with node-gyp during `npm install`.
// A failed build must not fail the install: the library then runs on the
// portable TypeScript kernels and says so once at run time.
//
// An addon that is up to date is not rebuilt (a rebuild takes about 40 s):
// native/build/stamp.json records a hash of everything the build reads (the
// sources, binding.gyp, this script, the Node version and ABI, the compiler's
// version and the flag variables). `npm rebuild` or SPIKEVAE_REBUILD_NATIVE=1
// builds anyway.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'native', 'binding.gyp'))) process.exit(0);
if (process.env.SPIKEVAE_SKIP_NATIVE) {
  console.warn('spikevae: SPIKEVAE_SKIP_NATIVE is set; not building the native addon');
  process.exit(0);
}
const addon = join(root, 'native', 'build', 'Release', 'spikevae_native.node');
const stampPath = join(root, 'native', 'build', 'stamp.json');
// Build against the headers installed with this Node (no download): npm passes
// its nodedir setting to lifecycle scripts; by hand, use the system headers.
const nodedir = process.env.npm_config_nodedir || (existsSync('/usr/include/node/node_api.h') ? '/usr' : '');

function compilerVersion() {
  const cxx = process.env.CXX || 'g++';
  const r = spawnSync(cxx, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? `${cxx}: ${r.stdout.split('\n')[0]}` : `${cxx}: unavailable`;
}

function buildInputs() {
  const h = createHash('sha256');
  const srcDir = join(root, 'native', 'src');
  const files = [join(root, 'native', 'binding.gyp'), fileURLToPath(import.meta.url), ...readdirSync(srcDir).sort().map((f) => join(srcDir, f))];
  for (const f of files) h.update(`${f.slice(root.length)}\0`).update(readFileSync(f)).update('\0');
  const env = ['CXX', 'CC', 'CXXFLAGS', 'CFLAGS', 'CPPFLAGS', 'LDFLAGS'].map((k) => `${k}=${process.env[k] ?? ''}`);
  const toolchain = [`node ${process.version} abi ${process.versions.modules} ${process.platform}-${process.arch}`, `nodedir=${nodedir}`, compilerVersion(), ...env];
  h.update(toolchain.join('\n'));
  return { hash: h.digest('hex'), toolchain };
}

const inputs = buildInputs();
const forced = process.env.npm_command === 'rebuild' || Boolean(process.env.SPIKEVAE_REBUILD_NATIVE);
if (!forced && existsSync(addon) && existsSync(stampPath)) {
  let stamp = null;
  try {
    stamp = JSON.parse(readFileSync(stampPath, 'utf8'));
  } catch {
    // an unreadable stamp means: build
  }
  if (stamp && stamp.hash === inputs.hash) {
    console.log('spikevae: native addon is up to date (sources, Node and compiler unchanged); `npm rebuild` or SPIKEVAE_REBUILD_NATIVE=1 rebuilds it');
    process.exit(0);
  }
}

rmSync(stampPath, { force: true });
// npm puts its bundled node-gyp on PATH for lifecycle scripts; when this
// script is run by hand, fall back to npm's copy next to the node binary.
const args = ['rebuild', '--directory', 'native'];
if (nodedir) args.push(`--nodedir=${nodedir}`);
let r = spawnSync('node-gyp', args, { cwd: root, stdio: 'inherit' });
if (r.error && r.error.code === 'ENOENT') {
  const bundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(bundled)) r = spawnSync(process.execPath, [bundled, ...args], { cwd: root, stdio: 'inherit' });
}
if (r.status !== 0 || !existsSync(addon)) {
  console.warn('spikevae: the native addon could not be built; the portable TypeScript kernels will be used (slower).');
} else {
  writeFileSync(stampPath, JSON.stringify({ hash: inputs.hash, toolchain: inputs.toolchain, built: new Date().toISOString() }, null, 2) + '\n');
}
process.exit(0);
