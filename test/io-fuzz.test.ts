/**
 * Seeded fuzzing of every checkpoint reader: valid files (spikevae
 * safetensors checkpoints of each model, torch.save zip and legacy .pth,
 * .npz statistics) are mutated — structure-aware (header JSON values,
 * checkpoint metadata, pickle opcodes, zip sizes) and byte by byte — and
 * loaded. Every outcome must be a load or a UserError naming the file in one
 * line; anything else is an internal error and fails the test.
 *
 *   SPIKEVAE_FUZZ_CASES=1000 node --test dist/test/io-fuzz.test.js   (cases per format; default 150)
 *   SPIKEVAE_FUZZ_SEED=7 ...                                         (another sequence; default 15)
 *
 * (`npm run test:fuzz` builds and runs 1000 cases per format.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Random } from '../src/engine/random.js';
import { encodePth, parsePth, readZipDirectory } from '../src/io/pth.js';
import { parseNpz } from '../src/io/npy.js';
import type { StoredTensor } from '../src/io/safetensors.js';
import { saveCheckpoint } from '../src/models/checkpoint.js';
import { createModel, loadModel, type ModelKind } from '../src/models/index.js';
import { UserError } from '../src/util/errors.js';
import { legacyPth, stateDictPickle, zipArchive, zipPth, type ZipFile } from './crafted.js';

const CASES = Number(process.env.SPIKEVAE_FUZZ_CASES ?? 150);
const SEED = Number(process.env.SPIKEVAE_FUZZ_SEED ?? 15);
const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures');

// ---------------------------------------------------------------- the harness

interface Tally {
  loaded: number;
  refused: number;
  internal: string[];
}

/** Loads one mutated file; a UserError must name the file in one line, any other error is internal. */
function attempt(tally: Tally, label: string, file: string, load: () => unknown): void {
  try {
    load();
    tally.loaded++;
  } catch (e) {
    const err = e as Error;
    if (err instanceof UserError && err.message.startsWith(`${file}:`) && !err.message.includes('\n')) tally.refused++;
    else tally.internal.push(`${label}: ${err instanceof UserError ? `UserError not naming the file in one line: ${err.message}` : (err?.stack ?? String(e))}`);
  }
}

function report(t: { diagnostic(s: string): void }, format: string, tally: Tally): void {
  t.diagnostic(`${format}: ${CASES} cases (seed ${SEED}): ${tally.loaded} loaded, ${tally.refused} refused with a UserError, ${tally.internal.length} internal errors`);
  assert.deepEqual(tally.internal.slice(0, 5), [], `${tally.internal.length} internal errors`);
}

// ---------------------------------------------------------------- mutations

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x2e, 0x28, 0x61, 0x7b, 0x7d, 0x22];
const INTERESTING_U32 = [0, 1, 2, 4, 0x7f, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** One random byte-level change of `b`, at a position in [lo, hi). */
function mutateBytes(rng: Random, b: Uint8Array, lo = 0, hi = b.length): Uint8Array {
  if (b.length === 0) return Uint8Array.of(rng.int(256));
  hi = Math.max(lo + 1, Math.min(hi, b.length));
  const at = lo + rng.int(hi - lo);
  const out = Uint8Array.from(b);
  switch (rng.int(8)) {
    case 0:
      out[at] ^= 1 << rng.int(8);
      return out;
    case 1:
      out[at] = INTERESTING_BYTES[rng.int(INTERESTING_BYTES.length)];
      return out;
    case 2: {
      const v = INTERESTING_U32[rng.int(INTERESTING_U32.length)];
      for (let i = 0; i < 4 && at + i < out.length; i++) out[at + i] = (v >>> (8 * i)) & 0xff;
      return out;
    }
    case 3:
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(16)))]);
    case 4:
      return Buffer.concat([b.subarray(0, at), Uint8Array.from({ length: 1 + rng.int(8) }, () => rng.int(256)), b.subarray(at)]);
    case 5:
      return b.subarray(0, at);
    case 6: {
      const len = 1 + rng.int(32);
      return Buffer.concat([b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)]);
    }
    default:
      return Buffer.concat([b, Uint8Array.from({ length: 1 + rng.int(16) }, () => rng.int(256))]);
  }
}

/** Pickle opcodes (the supported ones and a few others) for insertion into a pickle. */
const OPCODES = [
  0x80, 0x95, 0x7d, 0x5d, 0x29, 0x28, 0x85, 0x86, 0x87, 0x74, 0x6c, 0x61, 0x65, 0x73, 0x75, 0x58, 0x8c, 0x8d, 0x4a, 0x4b, 0x4d, 0x8a, 0x47, 0x88, 0x89,
  0x4e, 0x71, 0x72, 0x94, 0x68, 0x6a, 0x63, 0x93, 0x52, 0x81, 0x62, 0x51, 0x2e, 0x49, 0x69, 0x6f, 0x42,
];

function mutatePickle(rng: Random, pkl: Uint8Array): Uint8Array {
  if (rng.int(3) > 0) return mutateBytes(rng, pkl);
  const at = rng.int(pkl.length + 1);
  const ops = Uint8Array.from({ length: 1 + rng.int(3) }, () => OPCODES[rng.int(OPCODES.length)]);
  return Buffer.concat([pkl.subarray(0, at), ops, pkl.subarray(at)]);
}

/** Values a JSON field may be replaced by. */
function interestingValue(rng: Random): unknown {
  const values: unknown[] = [
    -1, 0, 1, 2, 3, 7, 32, 255, 257, 1000, 65536, 2 ** 31, 2 ** 53 + 2, 1e300, 0.5, -0.0,
    '', 'F32', 'I32', 'U32', 'BOOL', 'fsvae', 'taid', 'membrane', 'fsvae-large', 'ann-vae-large', 'ae', '1', '2', 'x'.repeat(300),
    null, true, false, [], [1], [-1, 4], [0, 1e9], {}, { a: 1 },
  ];
  return values[rng.int(values.length)];
}

/** Replaces, deletes or adds one field somewhere inside a JSON value (objects and arrays). */
function mutateJson(rng: Random, v: unknown, depth = 0): unknown {
  if (Array.isArray(v)) {
    const out = [...v];
    if (out.length === 0 || rng.int(4) === 0) return rng.int(2) ? [...out, interestingValue(rng)] : out.slice(1);
    const i = rng.int(out.length);
    out[i] = depth < 4 && rng.int(2) ? mutateJson(rng, out[i], depth + 1) : interestingValue(rng);
    return out;
  }
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = { ...(v as Record<string, unknown>) };
    const keys = Object.keys(out);
    const r = rng.int(10);
    if (keys.length === 0 || r === 0) out[`k${rng.int(100)}`] = interestingValue(rng);
    else if (r === 1) delete out[keys[rng.int(keys.length)]];
    else {
      const k = keys[rng.int(keys.length)];
      out[k] = depth < 4 && rng.int(3) ? mutateJson(rng, out[k], depth + 1) : interestingValue(rng);
    }
    return out;
  }
  return interestingValue(rng);
}

// ---------------------------------------------------------------- safetensors checkpoints

/** A checkpoint re-encoded with a mutated header: a tensor entry, or a metadata string (itself JSON for config/training). */
function mutateSafetensorsHeader(rng: Random, file: Uint8Array): Uint8Array {
  const n = Number(Buffer.from(file).readBigUInt64LE(0));
  const header = JSON.parse(Buffer.from(file.subarray(8, 8 + n)).toString()) as Record<string, unknown>;
  const md = header.__metadata__ as Record<string, string>;
  const jsonKeys = Object.keys(md).filter((k) => k === 'spikevae.config' || k === 'spikevae.training');
  if (rng.int(2) === 0 && jsonKeys.length > 0) {
    const k = jsonKeys[rng.int(jsonKeys.length)];
    md[k] = rng.int(8) === 0 ? String(interestingValue(rng)) : JSON.stringify(mutateJson(rng, JSON.parse(md[k])));
  } else if (rng.int(4) === 0) {
    const keys = Object.keys(md);
    md[keys[rng.int(keys.length)]] = String(interestingValue(rng));
  } else {
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    const name = names[rng.int(names.length)];
    header[name] = mutateJson(rng, header[name]);
  }
  const json = Buffer.from(JSON.stringify(header));
  const lengthDelta = rng.int(5) === 0 ? rng.int(17) - 8 : 0;
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Math.max(0, json.length + lengthDelta)));
  return Buffer.concat([len, json, file.subarray(8 + n)]);
}

test(`mutated safetensors checkpoints: every failure is a UserError naming the file`, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'spikevae-fuzz-st-'));
  try {
    const seeds: Uint8Array[] = [];
    const kinds: Array<[ModelKind, string, Parameters<typeof createModel>[2]]> = [
      ['fsvae', 'mnist', { latentDim: 4, k: 2, timeSteps: 2 }],
      ['esvae', 'cifar10', { latentDim: 4, k: 2, timeSteps: 2, decoding: 'taid' }],
      ['ann-vae', 'mnist', { latentDim: 4 }],
      ['fad-ae', 'fashion', { latentDim: 4 }],
    ];
    for (const [kind, dataset, opts] of kinds) {
      const model = createModel(kind, dataset, opts, 0);
      const p = join(dir, `${kind}.safetensors`);
      saveCheckpoint(p, model, { model: model.kind, config: model.config, dataset, training: { epoch: 1, step: 3, rng: [1, 2, 3, 4] } });
      seeds.push(readFileSync(p));
    }
    const rng = new Random(SEED);
    const tally: Tally = { loaded: 0, refused: 0, internal: [] };
    for (let i = 0; i < CASES; i++) {
      const seed = seeds[rng.int(seeds.length)];
      const headerEnd = 8 + Number(Buffer.from(seed).readBigUInt64LE(0));
      let bytes: Uint8Array;
      const mode = rng.int(10);
      if (mode < 6) bytes = mutateSafetensorsHeader(rng, seed);
      else if (mode < 9) bytes = mutateBytes(rng, seed, 0, headerEnd);
      else bytes = mutateBytes(rng, seed);
      const p = join(dir, `case-${i}.safetensors`);
      writeFileSync(p, bytes);
      attempt(tally, `case ${i}`, p, () => loadModel(p));
      rmSync(p);
    }
    report(t, 'safetensors checkpoints', tally);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- .pth (zip)

function f32(n: number): Uint8Array {
  return new Uint8Array(Float32Array.from({ length: n }, (_, i) => i - 1.5).buffer);
}

function zipSeeds(): Uint8Array[] {
  const sd = new Map<string, StoredTensor>([
    ['conv.weight', { dtype: 'F32', shape: [2, 1, 3, 3], data: new Float32Array(f32(18).buffer) }],
    ['bn.num_batches_tracked', { dtype: 'I64', shape: [], data: BigInt64Array.of(7n) }],
    ['v', { dtype: 'F64', shape: [3], data: Float64Array.of(1, 2, 3) }],
  ]);
  const views = zipPth(
    stateDictPickle([
      { name: 't', key: '0', storageNumel: 6, size: [3, 2], stride: [1, 3] },
      { name: 'u', key: '0', storageNumel: 6, offset: 2, size: [2], stride: [2] },
      { name: 'e', key: '1', storageNumel: 0, size: [0, 4], stride: [4, 1] },
    ]),
    [
      { key: '0', data: f32(6), deflate: true },
      { key: '1', data: new Uint8Array(0) },
    ],
  );
  return [encodePth(sd), views, readFileSync(join(fixtures, 'state_dict.pth')), readFileSync(join(fixtures, 'checkpoint_dict.pth'))];
}

/** The zip rebuilt with a mutated data.pkl, or with one storage entry's size, compression or bytes changed. */
function mutateZipEntries(rng: Random, zip: Uint8Array): Uint8Array {
  const entries = [...readZipDirectory(zip, 'seed').values()].map((e) => {
    const start = e.localOffset + 30 + Buffer.from(zip).readUInt16LE(e.localOffset + 26) + Buffer.from(zip).readUInt16LE(e.localOffset + 28);
    const body = zip.subarray(start, start + e.compressedSize);
    const entry: ZipFile = e.method === 8 ? { name: e.name, deflated: body, declaredSize: e.size } : { name: e.name, data: body };
    return entry;
  });
  const pkl = entries.find((e) => e.name.endsWith('data.pkl'));
  if (pkl?.data && rng.int(3) > 0) pkl.data = mutatePickle(rng, pkl.data);
  else {
    const e = entries[rng.int(entries.length)];
    const r = rng.int(3);
    if (r === 0) e.declaredSize = INTERESTING_U32[rng.int(INTERESTING_U32.length)];
    else if (r === 1 && e.data) Object.assign(e, { data: undefined, deflated: mutateBytes(rng, e.data), declaredSize: e.data.length });
    else if (e.data) e.data = mutateBytes(rng, e.data);
  }
  return zipArchive(entries);
}

test('mutated torch.save zip files: every failure is a UserError naming the file', (t) => {
  const seeds = zipSeeds();
  const rng = new Random(SEED + 1);
  const tally: Tally = { loaded: 0, refused: 0, internal: [] };
  for (let i = 0; i < CASES; i++) {
    const seed = seeds[rng.int(seeds.length)];
    // Half rebuild the archive around a changed entry; half change its bytes, mostly outside the tensor data.
    let bytes: Uint8Array;
    if (rng.int(2) === 0) bytes = mutateZipEntries(rng, seed);
    else {
      const cd = Buffer.from(seed).readUInt32LE(seed.length - 6);
      bytes = rng.int(2) === 0 ? mutateBytes(rng, seed, cd) : mutateBytes(rng, seed);
    }
    for (let extra = rng.int(3); extra > 0; extra--) bytes = mutateBytes(rng, bytes);
    const name = `case-${i}.pth`;
    attempt(tally, name, name, () => parsePth(bytes, name));
  }
  report(t, 'zip .pth', tally);
});

// ---------------------------------------------------------------- .pth (legacy)

test('mutated legacy .pth files: every failure is a UserError naming the file', (t) => {
  const crafted = legacyPth(
    stateDictPickle([
      { name: 'w', key: '0', storageNumel: 6, size: [2, 3], stride: [3, 1] },
      { name: 't', key: '0', storageNumel: 6, size: [3, 2], stride: [1, 3] },
      { name: 'b', key: '1', storage: 'DoubleStorage', storageNumel: 2, size: [2], stride: [1] },
    ]),
    [
      { key: '0', numel: 6n, bytes: f32(6) },
      { key: '1', numel: 2n, bytes: new Uint8Array(Float64Array.of(0.5, -2).buffer) },
    ],
  );
  const seeds = [readFileSync(join(fixtures, 'legacy_state_dict.pth')), crafted];
  const rng = new Random(SEED + 2);
  const tally: Tally = { loaded: 0, refused: 0, internal: [] };
  for (let i = 0; i < CASES; i++) {
    const seed = seeds[rng.int(seeds.length)];
    let bytes = rng.int(2) === 0 ? mutatePickle(rng, seed) : mutateBytes(rng, seed);
    for (let extra = rng.int(3); extra > 0; extra--) bytes = mutateBytes(rng, bytes);
    const name = `case-${i}.pth`;
    attempt(tally, name, name, () => parsePth(bytes, name));
  }
  report(t, 'legacy .pth', tally);
});

// ---------------------------------------------------------------- .npz

test('mutated .npz statistics: every failure is a UserError naming the file', (t) => {
  const npy = (shape: string, values: Float64Array) => {
    const header = `{'descr': '<f8', 'fortran_order': False, 'shape': (${shape}), }`.padEnd(118) + '\n';
    return Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY'), Buffer.from([1, 0, header.length, 0]), Buffer.from(header), Buffer.from(values.buffer)]);
  };
  const crafted = zipArchive([
    { name: 'mu.npy', data: npy('2,', Float64Array.of(1, 2)), deflate: true },
    { name: 'sigma.npy', data: npy('2, 2', Float64Array.of(1, 0, 0, 1)) },
  ]);
  const seeds = [readFileSync(join(fixtures, 'stats.npz')), crafted];
  const rng = new Random(SEED + 3);
  const tally: Tally = { loaded: 0, refused: 0, internal: [] };
  for (let i = 0; i < CASES; i++) {
    let bytes = rng.int(2) === 0 ? mutateZipEntries(rng, seeds[rng.int(seeds.length)]) : mutateBytes(rng, seeds[rng.int(seeds.length)]);
    for (let extra = rng.int(3); extra > 0; extra--) bytes = mutateBytes(rng, bytes);
    const name = `case-${i}.npz`;
    attempt(tally, name, name, () => parseNpz(bytes, name));
  }
  report(t, '.npz', tally);
});
