/**
 * CIFAR-10 in the official binary format: records of 1 label byte then
 * 1024 R, 1024 G, 1024 B bytes (row-major 32x32), in data_batch_1..5.bin
 * (train) and test_batch.bin (test); each file raw, Brotli-compressed (.br),
 * or inside the official cifar-10-binary.tar.gz.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { UserError } from '../util/errors.js';
import { readFileOrFail } from '../util/files.js';
import { decodeLimit, decompressBounded } from '../util/limits.js';
import type { OpenOptions, Split } from './types.js';
import { InMemoryDataset } from './memory.js';
import { readTarEntries } from './tar.js';

export const CIFAR10_FILES = {
  train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
  test: ['test_batch.bin'],
  archive: 'cifar-10-binary.tar.gz',
};
const RECORD = 1 + 3 * 1024;

function readMaybeBrotli(path: string): Uint8Array {
  const raw = readFileOrFail(path);
  return path.endsWith('.br') ? decompressBounded('Brotli', raw, decodeLimit(raw.length), path) : raw;
}

/** Parses record files; checks sizes and labels. */
export function parseCifarRecords(chunks: Array<{ name: string; bytes: Uint8Array }>): { pixels: Uint8Array; labels: Uint8Array } {
  let n = 0;
  for (const c of chunks) {
    if (c.bytes.length === 0 || c.bytes.length % RECORD !== 0) {
      throw new UserError(`${c.name}: ${c.bytes.length} bytes is not a whole number of ${RECORD}-byte CIFAR-10 records (truncated or not CIFAR-10 binary)`);
    }
    n += c.bytes.length / RECORD;
  }
  const pixels = new Uint8Array(n * 3072);
  const labels = new Uint8Array(n);
  let i = 0;
  for (const c of chunks) {
    for (let off = 0; off < c.bytes.length; off += RECORD, i++) {
      const lab = c.bytes[off];
      if (lab > 9) throw new UserError(`${c.name}: record ${off / RECORD} has label ${lab}, outside the class range 0-9`);
      labels[i] = lab;
      pixels.set(c.bytes.subarray(off + 1, off + RECORD), i * 3072);
    }
  }
  return { pixels, labels };
}

/** Finds and reads a split's record files: loose (raw or .br) or from the official archive. */
export function loadCifarChunks(
  split: 'train' | 'test',
  dirs: string[],
  notFound: (files: readonly string[], dirs: string[]) => UserError,
): { chunks: Array<{ name: string; base: string; bytes: Uint8Array }>; source: string } {
  const wanted = split === 'train' ? CIFAR10_FILES.train : CIFAR10_FILES.test;
  for (const d of dirs) {
    const found = wanted.map((f) => [join(d, f), join(d, f + '.br')].find((p) => existsSync(p)) ?? null);
    if (found.every((p) => p !== null)) {
      return { chunks: (found as string[]).map((p, i) => ({ name: p, base: wanted[i], bytes: readMaybeBrotli(p) })), source: d };
    }
    const archive = join(d, CIFAR10_FILES.archive);
    if (existsSync(archive)) {
      const gz = readFileOrFail(archive);
      const tar = decompressBounded('gzip', gz, decodeLimit(gz.length), archive);
      const entries = readTarEntries(tar, archive);
      const byBase = new Map([...entries].map(([k, v]) => [basename(k), { k, v }]));
      const missing = wanted.filter((f) => !byBase.has(f));
      if (missing.length) throw new UserError(`${archive}: archive lacks ${missing.join(', ')}`);
      return { chunks: wanted.map((f) => ({ name: `${archive}:${byBase.get(f)!.k}`, base: f, bytes: byBase.get(f)!.v })), source: archive };
    }
  }
  throw notFound([...wanted.map((f) => `${f} (or ${f}.br)`), `or ${CIFAR10_FILES.archive}`], dirs);
}

export function openCifar10(
  split: Split,
  opts: OpenOptions,
  dirs: string[],
  notFound: (files: readonly string[], dirs: string[]) => UserError,
): InMemoryDataset {
  if (split === 'valid') throw new UserError('cifar10: has no validation split (train and test only)');
  const { chunks, source } = loadCifarChunks(split, dirs, notFound);
  const { pixels, labels } = parseCifarRecords(chunks);
  const count = Math.min(labels.length, opts.limit ?? labels.length);
  // The SNN loader flips training images; the ANN loader does not (reference §1.5).
  const flip = split === 'train' && !opts.forAnn;
  return new InMemoryDataset('cifar10', split, pixels.slice(0, count * 3072), labels.slice(0, count), 3, 32, 32, 10, source, flip);
}
