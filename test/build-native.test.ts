/**
 * scripts/build-native.mjs (npm install's native build) skips an addon whose
 * stamp matches its sources and toolchain, and builds again when a source
 * changes. Runs on a copy of the script and native/ in a temp folder, so the
 * project's own addon is never touched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const STAMP = join(ROOT, 'native', 'build', 'stamp.json');
const ADDON = join(ROOT, 'native', 'build', 'Release', 'spikevae_native.node');

function copyProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'spikevae-build-'));
  mkdirSync(join(dir, 'scripts'));
  cpSync(join(ROOT, 'scripts', 'build-native.mjs'), join(dir, 'scripts', 'build-native.mjs'));
  cpSync(join(ROOT, 'native', 'binding.gyp'), join(dir, 'native', 'binding.gyp'));
  cpSync(join(ROOT, 'native', 'src'), join(dir, 'native', 'src'), { recursive: true });
  cpSync(ADDON, join(dir, 'native', 'build', 'Release', 'spikevae_native.node'));
  cpSync(STAMP, join(dir, 'native', 'build', 'stamp.json'));
  return dir;
}

function build(dir: string) {
  const env = { ...process.env };
  delete env.npm_command;
  delete env.SPIKEVAE_REBUILD_NATIVE;
  delete env.SPIKEVAE_SKIP_NATIVE;
  return spawnSync(process.execPath, [join(dir, 'scripts', 'build-native.mjs')], { encoding: 'utf8', env });
}

test('npm install does not rebuild an up-to-date addon, and rebuilds when a source changes', { skip: existsSync(STAMP) ? false : 'no native/build/stamp.json (addon not built by npm install)' }, () => {
  const dir = copyProject();
  try {
    const addon = join(dir, 'native', 'build', 'Release', 'spikevae_native.node');
    const before = statSync(addon).mtimeMs;
    const same = build(dir);
    assert.equal(same.status, 0, same.stderr);
    assert.match(same.stdout, /native addon is up to date/);
    assert.equal(statSync(addon).mtimeMs, before, 'the addon was rewritten');

    // A changed source (here one that cannot compile, so the test stays fast)
    // must start a build; the failed build removes the stamp and says so.
    appendFileSync(join(dir, 'native', 'src', 'kernels.cc'), '\n#error changed source\n');
    const changed = build(dir);
    assert.equal(changed.status, 0, 'a failed native build must not fail npm install');
    assert.doesNotMatch(changed.stdout, /up to date/);
    assert.match(changed.stderr, /native addon could not be built/);
    assert.equal(existsSync(join(dir, 'native', 'build', 'stamp.json')), false, 'stale stamp kept after a failed build');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
