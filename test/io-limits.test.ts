/**
 * Resource limits and malformed-input handling of the file readers: small
 * crafted files (deflate bombs, a 400-byte .pth viewing one float as
 * [16384, 16384]) are refused before the reader allocates or loops, and
 * every malformed structure ends in one UserError naming the file. The
 * files are built here, byte by byte (test/crafted.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, crc32, deflateRawSync, gzipSync } from 'node:zlib';
import { parsePth } from '../src/io/pth.js';
import { parseNpz } from '../src/io/npy.js';
import { parseIdx, readIdxBytes } from '../src/data/idx.js';
import { UserError } from '../src/util/errors.js';
import { decodeLimit, decompressBounded } from '../src/util/limits.js';
import { Pickle, legacyPth, stateDictPickle, zipArchive, zipPth, type TensorRecord } from './crafted.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MiB = 2 ** 20;

/**
 * Raw deflate data that inflates to `mib` MiB of zeros, about 1 KiB per MiB:
 * one fully flushed block of a MiB of zeros repeated, then an empty final block.
 */
function deflateBomb(mib: number): Buffer {
  const chunk = deflateRawSync(Buffer.alloc(MiB), { level: 9, finishFlush: constants.Z_FULL_FLUSH });
  return Buffer.concat([...Array<Buffer>(mib).fill(chunk), Buffer.from([0x03, 0x00])]);
}

function f32(...v: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(v).buffer);
}

/** Asserts a UserError naming `file` whose message matches `re`, and reports how long the refusal took. */
function refuses(t: { diagnostic(s: string): void }, fn: () => unknown, file: string, re: RegExp): void {
  const t0 = performance.now();
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof UserError, `not a UserError: ${e.stack}`);
    assert.ok(e.message.startsWith(`${file}:`), e.message);
    assert.match(e.message, re);
    return true;
  });
  t.diagnostic(`refused in ${(performance.now() - t0).toFixed(1)} ms`);
}

const one: TensorRecord = { name: 'w', key: '0', storageNumel: 1, size: [1], stride: [1] };

test('the crafted-file builders make files the reader accepts', () => {
  const { stateDict } = parsePth(zipPth(stateDictPickle([{ ...one, storageNumel: 6, size: [2, 3], stride: [3, 1] }]), [{ key: '0', data: f32(0, 1, 2, 3, 4, 5), deflate: true }]), 'ok.pth');
  assert.deepEqual(Array.from(stateDict.get('w')!.data as Float32Array), [0, 1, 2, 3, 4, 5]);
  const legacy = parsePth(legacyPth(stateDictPickle([{ ...one, storageNumel: 2, size: [2], stride: [1] }]), [{ key: '0', numel: 2n, bytes: f32(7, 8) }]), 'ok-legacy.pth');
  assert.deepEqual(Array.from(legacy.stateDict.get('w')!.data as Float32Array), [7, 8]);
  // And the bomb is what it claims: 3 MiB of zeros from about 3 KiB.
  const bomb = deflateBomb(3);
  assert.ok(bomb.length < 4000);
  const { stateDict: big } = parsePth(zipPth(stateDictPickle([{ ...one, storageNumel: 3 * MiB / 4, size: [3 * MiB / 4] }]), [{ key: '0', data: Buffer.alloc(3 * MiB) }]), 'zeros.pth');
  assert.equal(big.get('w')!.data.length, (3 * MiB) / 4);
});

test('a 1 MB deflate bomb (1 GiB of zeros) is refused before it is inflated, whatever size it declares', (t) => {
  const bomb = deflateBomb(1000);
  assert.ok(bomb.length > 1_000_000 && bomb.length < 1_100_000, `${bomb.length}`);
  // Declares its true size; the pickle says the storage holds one float.
  const honest = zipPth(stateDictPickle([one]), [{ key: '0', deflated: bomb, declaredSize: 1000 * MiB }]);
  refuses(t, () => parsePth(honest, 'declares-too-much.pth'), 'declares-too-much.pth', /storage '0' has 1048576000 bytes; its 1 elements of F32 need 4/);
  // Declares what one float needs but inflates further: stopped at the declared 4 bytes.
  const lying = zipPth(stateDictPickle([one]), [{ key: '0', deflated: bomb, declaredSize: 4 }]);
  refuses(t, () => parsePth(lying, 'lies.pth'), 'lies.pth', /deflate data in 'archive\/data\/0' expands to more than 4 bytes/);
  // Consistent all the way (the pickle asks for 2^28 floats): over the file's byte budget.
  const consistent = zipPth(stateDictPickle([{ ...one, storageNumel: 2 ** 28, size: [2 ** 28] }]), [{ key: '0', deflated: bomb, declaredSize: 2 ** 30 }]);
  refuses(t, () => parsePth(consistent, 'consistent.pth'), 'consistent.pth', /would need 1024 MiB; a file of this size may decode to at most \d+ MiB/);
  // The pickle itself as the bomb.
  const pickleBomb = zipArchive([{ name: 'archive/data.pkl', deflated: bomb, declaredSize: 1000 * MiB }]);
  refuses(t, () => parsePth(pickleBomb, 'pkl.pth'), 'pkl.pth', /'archive\/data.pkl' would need 1000 MiB/);
});

test('a 5 MB deflate bomb (5 GiB) is refused the same way, in an .npz too', (t) => {
  const bomb = deflateBomb(5000);
  const pth = zipPth(stateDictPickle([one]), [{ key: '0', deflated: bomb, declaredSize: 0xfffffffe }]);
  refuses(t, () => parsePth(pth, 'bomb5.pth'), 'bomb5.pth', /storage '0' has 4294967294 bytes; its 1 elements of F32 need 4/);
  const npz = zipArchive([{ name: 'mu.npy', deflated: bomb, declaredSize: 0xfffffffe }]);
  refuses(t, () => parseNpz(npz, 'bomb5.npz'), 'bomb5.npz', /'mu.npy' would need 4096 MiB/);
  const npzLying = zipArchive([{ name: 'mu.npy', deflated: bomb, declaredSize: 1000 }]);
  refuses(t, () => parseNpz(npzLying, 'lies.npz'), 'lies.npz', /expands to more than 1000 bytes/);
});

test('a 400-byte .pth viewing one float as [16384, 16384] with stride 0 is refused before the gather loop', (t) => {
  const file = zipPth(stateDictPickle([{ ...one, size: [16384, 16384], stride: [0, 0] }]), [{ key: '0', data: f32(1) }]);
  assert.ok(file.length < 700, `${file.length} bytes`);
  refuses(t, () => parsePth(file, 'stride0.pth'), 'stride0.pth', /tensor view \[16384, 16384\] holds 268435456 elements, more than its storage '0' \(1\)/);
  // The legacy format goes through the same check.
  const legacy = legacyPth(stateDictPickle([{ ...one, size: [16384, 16384], stride: [0, 0] }]), [{ key: '0', numel: 1n, bytes: f32(1) }]);
  refuses(t, () => parsePth(legacy, 'stride0-legacy.pth'), 'stride0-legacy.pth', /holds 268435456 elements, more than its storage/);
});

test('views are bounded by their storage: reach past the end, negative sizes and strides, a broken record', (t) => {
  const storage = [{ key: '0', data: f32(0, 1, 2, 3, 4, 5) }];
  const cases: Array<[string, Partial<TensorRecord>, RegExp]> = [
    ['reach', { size: [2, 3], stride: [4, 1] }, /reaches element 6 of storage '0', which holds 6/],
    ['offset', { size: [6], stride: [1], offset: 1 }, /reaches element 6/],
    ['negative-size', { size: [-2, 3], stride: [3, 1] }, /negative or non-integer size or stride \(\[-2, 3\]/],
    ['negative-stride', { size: [2, 3], stride: [-3, 1] }, /negative or non-integer size or stride/],
    ['rank', { size: [2, 3], stride: [3] }, /malformed tensor record/],
  ];
  for (const [name, rec, re] of cases) {
    const file = zipPth(stateDictPickle([{ ...one, storageNumel: 6, ...rec }]), storage);
    refuses(t, () => parsePth(file, `${name}.pth`), `${name}.pth`, re);
  }
  // Allowed: an overlapping but in-bounds view (a transposed 2x3) and an empty one.
  const ok = parsePth(
    zipPth(stateDictPickle([{ ...one, storageNumel: 6, size: [3, 2], stride: [1, 3] }, { ...one, name: 'e', storageNumel: 6, size: [0, 5], stride: [5, 1] }]), storage),
    'ok.pth',
  );
  assert.deepEqual(Array.from(ok.stateDict.get('w')!.data as Float32Array), [0, 3, 1, 4, 2, 5]);
  assert.equal(ok.stateDict.get('e')!.data.length, 0);
});

test('many tensors sharing one storage cannot multiply memory past the file budget', (t) => {
  const numel = MiB; // 4 MiB of floats, stored raw in a legacy file
  const records = Array.from({ length: 40 }, (_, i) => ({ ...one, name: `t${i}`, storageNumel: numel, size: [numel] }));
  const file = legacyPth(stateDictPickle(records), [{ key: '0', numel: BigInt(numel), bytes: new Uint8Array(numel * 4) }]);
  assert.ok(40 * 4 * MiB > decodeLimit(file.length));
  refuses(t, () => parsePth(file, 'shared.pth'), 'shared.pth', /a file of this size may decode to at most/);
});

test('malformed pickles, zips and storages: one UserError naming the file, never an internal error', (t) => {
  const pkl = (...ops: number[]) => new Pickle().op(...ops).stop();
  const asZip = (p: Uint8Array) => zipPth(p, []);
  const good = zipPth(stateDictPickle([one]), [{ key: '0', data: f32(1) }]);
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['append-empty', asZip(pkl(0x4b, 1, 0x61)), /corrupt pickle: opcode 0x61 at byte \d+ needs a value on an empty stack/],
    ['append-nothing', asZip(pkl(0x61)), /opcode 0x61 .* pops an empty stack/],
    ['appends-no-mark', asZip(pkl(0x5d, 0x65)), /opcode 0x65 .* has no MARK/],
    ['append-to-int', asZip(pkl(0x4b, 1, 0x4b, 2, 0x61)), /appends to something that is not a list/],
    ['setitem-empty', asZip(pkl(0x73)), /opcode 0x73 .* pops an empty stack/],
    ['setitems-odd', asZip(pkl(0x7d, 0x28, 0x4b, 1, 0x75)), /has a key without a value/],
    ['tuple3-short', asZip(pkl(0x4b, 1, 0x87)), /opcode 0x87 .* pops an empty stack/],
    ['stop-empty', asZip(pkl()), /opcode 0x2e .* pops an empty stack/],
    ['binget-missing', asZip(pkl(0x68, 7)), /reads memo entry 7, which was never stored/],
    ['binput-empty', asZip(pkl(0x71, 0)), /opcode 0x71 at byte 2 needs a value on an empty stack/],
    ['reduce-no-args', asZip(new Pickle().global('collections', 'OrderedDict').op(0x4b, 1, 0x52).stop()), /calls a function without an argument tuple/],
    ['stack-global-int', asZip(pkl(0x4b, 1, 0x4b, 2, 0x93)), /names a global with non-string parts/],
    ['build-empty', asZip(pkl(0x4e, 0x62)), /opcode 0x62 .* needs a value on an empty stack/],
    ['mark-pop', asZip(pkl(0x28, 0x85)), /opcode 0x85 .* pops an empty stack/],
    ['bad-numel', asZip(stateDictPickle([{ ...one, storageNumel: -1 }])), /names a storage without a key or an element count/],
    ['cd-extra-past-end', patch(good, centralDirectory(good) + 30, [0xff, 0xff]), /central directory entry 0 runs past the end of the directory/],
    ['cd-name-past-end', patch(good, centralDirectory(good) + 28, [0xff, 0xff]), /central directory entry 0 runs past the end/],
    ['stored-size-lie', patch(good, centralDirectory(good) + 24, [0x10, 0, 0, 0]), /stored entry 'archive\/data.pkl' holds \d+ bytes but declares 16/],
    ['storage-short', zipPth(stateDictPickle([{ ...one, storageNumel: 2, size: [2] }]), [{ key: '0', data: f32(1) }]), /storage '0' has 4 bytes; its 2 elements of F32 need 8/],
    ['legacy-negative-numel', legacyPth(stateDictPickle([one]), [{ key: '0', numel: -5n, bytes: f32(1) }]), /storage '0' has a negative element count -5/],
    ['legacy-append', Buffer.concat([new Pickle().long(0x1950a86a20f9469cfc6cn, 10).stop(), pkl(0x61)]), /pops an empty stack/],
    // A list nested 200,000 deep where the protocol number belongs: described, not printed recursively.
    ['legacy-deep', Buffer.concat([new Pickle().long(0x1950a86a20f9469cfc6cn, 10).stop(), Uint8Array.of(0x80, 2), Buffer.alloc(200_000, 0x5d), Buffer.alloc(199_999, 0x61), Uint8Array.of(0x2e)]), /unsupported legacy protocol version a 1-item tuple/],
  ];
  for (const [name, bytes, re] of cases) refuses(t, () => parsePth(bytes, `${name}.pth`), `${name}.pth`, re);
  // Many values: bounded by the interpreter's value count, not by memory.
  const many = new Pickle().op(0x5d, 0x28);
  const nones = new Uint8Array(4_100_000).fill(0x4e);
  const flood = zipPth(Buffer.concat([many.stop().subarray(0, -1), nones, Uint8Array.of(0x65, 0x2e)]), []);
  refuses(t, () => parsePth(flood, 'flood.pth'), 'flood.pth', /more than 4000000 values/);
});

test('gzipped IDX files inflate no further than the budget', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'spikevae-idx-bomb-'));
  try {
    const p = join(dir, 'train-images-idx3-ubyte.gz');
    writeFileSync(p, gzipBomb(1000));
    refuses(t, () => parseIdx(readIdxBytes(p), p, 3), p, /gzip data expands to more than \d+ bytes/);
    // A limit beyond the largest Buffer (a budget for a multi-GB file) is not an error in itself.
    assert.equal(decompressBounded('gzip', gzipSync(Buffer.from('ok')), 2 ** 40, 'big.gz').toString(), 'ok');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A valid gzip member of `mib` MiB of zeros whose body is deflateBomb(mib). */
function gzipBomb(mib: number): Buffer {
  const head = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  const zeros = Buffer.alloc(MiB);
  let crc = 0;
  for (let i = 0; i < mib; i++) crc = crc32(zeros, crc);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE((mib * MiB) % 2 ** 32, 4);
  return Buffer.concat([head, deflateBomb(mib), trailer]);
}

/** Offset of the central directory (from the end record). */
function centralDirectory(zip: Uint8Array): number {
  return Buffer.from(zip).readUInt32LE(zip.length - 6);
}

function patch(bytes: Uint8Array, at: number, values: number[]): Uint8Array {
  const out = Uint8Array.from(bytes);
  out.set(values, at);
  return out;
}
