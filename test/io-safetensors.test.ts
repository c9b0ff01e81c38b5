/** safetensors: the official FAD files shipped in assets/fad, round trips of every dtype, and each malformed case. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors, parseSafetensors, readSafetensors, toCount, toFloat32, StoredTensor } from '../src/io/safetensors.js';
import { UserError } from '../src/util/errors.js';
import { packagePath } from '../src/util/package.js';

const shared = packagePath('assets', 'fad');
const statsFile = join(shared, 'stats_mnist_test_64.safetensors');

test('reads the official FAD statistics and autoencoder weights', () => {
  const f = readSafetensors(statsFile);
  assert.equal(f.tensors.get('mu')!.dtype, 'F32');
  assert.deepEqual(f.tensors.get('mu')!.shape, [64]);
  assert.equal(f.tensors.get('sigma')!.dtype, 'F64');
  assert.deepEqual(f.tensors.get('sigma')!.shape, [64, 64]);
  const sigma = f.tensors.get('sigma')!.data as Float64Array;
  for (let i = 0; i < 64; i++) assert.equal(sigma[i * 64 + (i + 1) % 64], sigma[((i + 1) % 64) * 64 + i], 'covariance is symmetric');
  const ae = readSafetensors(join(shared, 'ae_mnist_64.safetensors'));
  assert.deepEqual(ae.tensors.get('latent_layer.weight')!.shape, [64, 1024]);
  const nbt = ae.tensors.get('encoder.0.1.num_batches_tracked')!;
  assert.equal(nbt.dtype, 'I64');
  assert.equal(toCount(nbt), 36000, '150 epochs x 240 batches');
});

test('round trip of every dtype, with metadata', () => {
  const tensors: Record<string, StoredTensor> = {
    f32: { dtype: 'F32', shape: [2, 3], data: Float32Array.of(1, -2, 3.5, 0, 1e-30, 7) },
    f64: { dtype: 'F64', shape: [2], data: Float64Array.of(Math.E, -1) },
    i64: { dtype: 'I64', shape: [], data: BigInt64Array.of(-9007199254740993n) },
    i32: { dtype: 'I32', shape: [1], data: Int32Array.of(-7) },
    u8: { dtype: 'U8', shape: [3], data: Uint8Array.of(0, 128, 255) },
    f16: { dtype: 'F16', shape: [2], data: Uint16Array.of(0x3c00, 0xc000) },
    bf16: { dtype: 'BF16', shape: [1], data: Uint16Array.of(0x3f80) },
  };
  const bytes = encodeSafetensors(tensors, { note: 'hello' });
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLen % 8, 0, 'header padded to 8 bytes');
  const back = parseSafetensors(bytes, 'x.safetensors');
  assert.deepEqual(back.metadata, { note: 'hello' });
  for (const [k, t] of Object.entries(tensors)) {
    const u = back.tensors.get(k)!;
    assert.equal(u.dtype, t.dtype);
    assert.deepEqual(u.shape, t.shape);
    assert.deepEqual(Array.from(u.data as ArrayLike<number | bigint>), Array.from(t.data as ArrayLike<number | bigint>));
  }
  assert.deepEqual(Array.from(toFloat32(back.tensors.get('f16')!)), [1, -2]);
  assert.deepEqual(Array.from(toFloat32(back.tensors.get('bf16')!)), [1]);
});

test('malformed files, and files whose tensors do not tile the data section exactly: one clear error naming the file and the problem', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikevae-st-'));
  try {
    const good = encodeSafetensors({ w: { dtype: 'F32', shape: [4], data: Float32Array.of(1, 2, 3, 4) } });
    /** A file whose header is `obj` as JSON and `pad` spaces, its length field off by `lengthDelta`, then `data`. */
    const header = (obj: unknown, data: Uint8Array = new Uint8Array(16), pad = 0, lengthDelta = 0) => {
      const json = Buffer.from(JSON.stringify(obj) + ' '.repeat(pad));
      const out = Buffer.alloc(8 + json.length + data.length);
      out.writeBigUInt64LE(BigInt(json.length + lengthDelta), 0);
      json.copy(out, 8);
      Buffer.from(data).copy(out, 8 + json.length);
      return out;
    };
    const four = new Uint8Array(Float32Array.of(1, 2, 3, 4).buffer);
    const w = { w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } };
    assert.deepEqual(Array.from(parseSafetensors(header(w, four, 3), 'ok').tensors.get('w')!.data as Float32Array), [1, 2, 3, 4]);
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['short', good.subarray(0, 5), /only 5 bytes/],
      ['truncated', good.subarray(0, good.length - 4), /outside the .*data section \(truncated\?\)/],
      ['hugeheader', Buffer.from([0xff, 0xff, 0, 0, 0, 0, 0, 0, 0x7b]), /header length .* runs past the end/],
      ['badjson', Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{{{{')]), /not valid JSON/],
      ['dtype', header({ w: { dtype: 'F99', shape: [4], data_offsets: [0, 16] } }), /unknown dtype "F99"/],
      ['size', header({ w: { dtype: 'F32', shape: [5], data_offsets: [0, 16] } }), /needs 20 bytes but has 16/],
      ['overlap', header({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }), /overlap/],
      // The tiling the reference library checks. One byte of padding counted as data: every value would be read a byte early.
      ['shifted', header(w, four, 3, -1), /1 bytes after the last tensor belong to no tensor \(trailing data, or a wrong header length\?\)/],
      ['gap', header({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, four), /4 bytes before tensor 'b' belong to no tensor/],
      ['late-start', header({ w: { dtype: 'F32', shape: [3], data_offsets: [4, 16] } }, four), /4 bytes before tensor 'w' belong to no tensor/],
      ['trailing', header(w, new Uint8Array([...four, 9, 9, 9])), /3 bytes after the last tensor/],
      ['empty-file-with-data', header({}, four), /16 bytes after the last tensor/],
      ['utf8', Buffer.concat([Buffer.from([9, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"a\xff":1} ', 'latin1')]), /header is not valid UTF-8/],
      ['metadata-array', header({ __metadata__: ['x'] }, new Uint8Array(0)), /__metadata__ is not an object/],
    ];
    for (const [name, bytes, re] of cases) {
      const p = join(dir, `${name}.safetensors`);
      writeFileSync(p, bytes);
      assert.throws(() => readSafetensors(p), (e: Error) => e instanceof UserError && re.test(e.message) && e.message.startsWith(p), name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('integer and boolean data is refused where floats are read, and a counter must be one integer', () => {
  const i32: StoredTensor = { dtype: 'I32', shape: [2], data: Int32Array.of(1, 2) };
  const u32: StoredTensor = { dtype: 'U32', shape: [2], data: Uint32Array.of(1, 2) };
  assert.throws(() => toFloat32(i32, "f.safetensors: tensor 'w'"), /f\.safetensors: tensor 'w' has dtype I32, not a floating-point type/);
  assert.throws(() => toFloat32(u32, 'w'), /has dtype U32/);
  assert.throws(() => toFloat32({ dtype: 'BOOL', shape: [1], data: Uint8Array.of(1) }, 'w'), /has dtype BOOL/);
  assert.equal(toCount({ dtype: 'I64', shape: [], data: BigInt64Array.of(36000n) }), 36000);
  assert.throws(() => toCount({ dtype: 'I64', shape: [2], data: BigInt64Array.of(1n, 2n) }, 'n'), /n holds 2 values; a counter holds one/);
  assert.throws(() => toCount({ dtype: 'F32', shape: [], data: Float32Array.of(1) }, 'n'), /n has dtype F32; a counter is an integer/);
});

test("the project's own safetensors files pass the stricter checks", (t) => {
  let files: string[];
  try {
    files = readdirSync(shared).filter((f) => f.endsWith('.safetensors'));
  } catch {
    return t.skip(`${shared} not available`);
  }
  assert.ok(files.length >= 6);
  for (const f of files) {
    const { tensors } = readSafetensors(join(shared, f));
    for (const [name, tensor] of tensors) if (!name.endsWith('num_batches_tracked')) toFloat32(tensor, `${f}: ${name}`);
  }
});
