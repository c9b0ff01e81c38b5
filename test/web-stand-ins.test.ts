/**
 * The browser stand-ins the web bundle substitutes for the library's
 * Node-only modules (scripts/build-web.ts, NODE_STAND_INS): each exports only
 * names its module exports, as functions of the same arity, and says plainly
 * that a page cannot do what the module does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NODE_STAND_INS } from '../scripts/build-web.js';
import { loadNativeBackend, nativeAllocator } from '../src/engine/backend/native.browser.js';
import { fileExists, readFileOrFail } from '../src/util/files.browser.js';
import { writeFileAtomic } from '../src/util/atomic.browser.js';
import { UserError } from '../src/util/errors.js';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..');
const compiled = (source: string) => pathToFileURL(join(dist, source.replace(/\.ts$/, '.js'))).href;

test('every browser stand-in exports a subset of its module, functions of the same arity', async () => {
  assert.ok(Object.keys(NODE_STAND_INS).length >= 3);
  for (const [source, standIn] of Object.entries(NODE_STAND_INS)) {
    const real = (await import(compiled(source))) as Record<string, unknown>;
    const stand = (await import(compiled(standIn))) as Record<string, unknown>;
    assert.ok(Object.keys(stand).length > 0, `${standIn} exports nothing`);
    for (const [name, value] of Object.entries(stand)) {
      assert.ok(name in real, `${standIn} exports '${name}', which ${source} does not`);
      assert.equal(typeof value, typeof real[name], `${standIn}: '${name}'`);
      if (typeof value === 'function') assert.equal(value.length, (real[name] as (...a: unknown[]) => unknown).length, `${standIn}: arity of '${name}'`);
    }
  }
});

test('the stand-ins refuse with one clear line: no addon, no file system', () => {
  assert.deepEqual(loadNativeBackend(), { error: 'native kernels cannot load in a web browser' });
  assert.equal(nativeAllocator(), null);
  assert.equal(fileExists('/etc/hostname'), false);
  assert.throws(() => readFileOrFail('model.safetensors'), (e: Error) => e instanceof UserError && /model\.safetensors: a web page cannot read files by name/.test(e.message));
  assert.throws(() => writeFileAtomic('out.png', 'x'), (e: Error) => e instanceof UserError && /out\.png: a web page cannot write files/.test(e.message));
});
