/**
 * PyTorch .pth reading (fixtures pickled by Python itself, see
 * fixtures/make_pth.py), refusal of anything that is not a state_dict, the
 * writer's round trip, and the official FSVAE FAD autoencoder's layout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePth, parsePth, readPth } from '../src/io/pth.js';
import type { StoredTensor } from '../src/io/safetensors.js';
import { UserError } from '../src/util/errors.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures');

for (const fixture of ['state_dict.pth', 'legacy_state_dict.pth']) test(`reads a state_dict pickled by Python (${fixture}): shapes, dtypes, values, a non-contiguous view`, () => {
  const { stateDict } = readPth(join(fixtures, fixture));
  assert.deepEqual([...stateDict.keys()], ['layer.weight', 'bn.num_batches_tracked', 'vec', 'transposed']);
  const w = stateDict.get('layer.weight')!;
  assert.equal(w.dtype, 'F32');
  assert.deepEqual(w.shape, [4, 2, 3, 3, 1]);
  assert.deepEqual(Array.from(w.data as Float32Array), Array.from({ length: 72 }, (_, i) => i));
  const n = stateDict.get('bn.num_batches_tracked')!;
  assert.equal(n.dtype, 'I64');
  assert.deepEqual(n.shape, []);
  assert.equal((n.data as BigInt64Array)[0], 36000n);
  assert.deepEqual(Array.from(stateDict.get('vec')!.data as Float64Array), [0.5, -1.25, 3]);
  // storage [99, 0..5] at offset 1 viewed with strides (1, 3): the transpose of [[0,1,2],[3,4,5]].
  const t = stateDict.get('transposed')!;
  assert.deepEqual(t.shape, [3, 2]);
  assert.deepEqual(Array.from(t.data as Float32Array), [0, 3, 1, 4, 2, 5]);
});

test('a truncated legacy-format file is one clear error', () => {
  const good = readFileSync(join(fixtures, 'legacy_state_dict.pth'));
  const p = join(tmpdir(), `spikevae-legacy-${process.pid}.pth`);
  writeFileSync(p, good.subarray(0, good.length - 10));
  try {
    assert.throws(() => readPth(p), (e: Error) => e instanceof UserError && e.message.startsWith(p) && /truncated/.test(e.message));
  } finally {
    rmSync(p, { force: true });
  }
});

test('finds the state_dict inside a checkpoint dict and keeps the scalars', () => {
  const r = readPth(join(fixtures, 'checkpoint_dict.pth'));
  assert.equal(r.stateDict.size, 4);
  assert.deepEqual(r.extra, { epoch: 7 });
});

test('refuses a pickle that names os.system, and runs nothing', () => {
  const marker = '/tmp/spikevae-pwned';
  rmSync(marker, { force: true });
  assert.throws(
    () => readPth(join(fixtures, 'malicious.pth')),
    (e: Error) => e instanceof UserError && /refuses to load pickle global 'os.system'/.test(e.message) && e.message.includes('malicious.pth'),
  );
  assert.equal(existsSync(marker), false);
});

test('bad files get one clear error naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikevae-pth-'));
  try {
    const good = readFileSync(join(fixtures, 'state_dict.pth'));
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['truncated.pth', good.subarray(0, good.length - 40), /truncated|not a zip/],
      ['text.pth', Buffer.from('hello world, not a checkpoint'), /not a PyTorch checkpoint/],
      ['legacy.pth', Buffer.from([0x80, 0x02, 0x8a, 0x0a]), /truncated/],
    ];
    for (const [name, bytes, re] of cases) {
      const p = join(dir, name);
      writeFileSync(p, bytes);
      assert.throws(() => readPth(p), (e: Error) => e instanceof UserError && re.test(e.message) && e.message.startsWith(p), name);
    }
    assert.throws(() => readPth(join(dir, 'missing.pth')), /missing.pth: no such file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the writer round-trips every dtype it supports', () => {
  const sd = new Map<string, StoredTensor>([
    ['a.weight', { dtype: 'F32', shape: [2, 3, 3, 3, 1], data: Float32Array.from({ length: 54 }, (_, i) => i * 0.5 - 3) }],
    ['a.bn.num_batches_tracked', { dtype: 'I64', shape: [], data: BigInt64Array.of(123456789012n) }],
    ['b', { dtype: 'F64', shape: [2], data: Float64Array.of(Math.PI, -0) }],
    ['c', { dtype: 'I32', shape: [1, 2], data: Int32Array.of(-5, 70000) }],
  ]);
  const back = parsePth(encodePth(sd), 'roundtrip.pth').stateDict;
  assert.deepEqual([...back.keys()], [...sd.keys()]);
  for (const [k, t] of sd) {
    const u = back.get(k)!;
    assert.equal(u.dtype, t.dtype, k);
    assert.deepEqual(u.shape, t.shape, k);
    assert.ok(Buffer.from(u.data.buffer).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), k);
  }
});
