/**
 * What `spikevae data info` reports: where a dataset was found, its splits,
 * and whether its files match the published (or rebuilt) md5 sums.
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { loadCifarChunks } from './cifar10.js';
import { readIdxBytes } from './idx.js';
import { KNOWN_MD5, locateIdx, notFound, openDataset, searchDirs } from './index.js';
import type { DatasetName, OpenOptions, Split } from './types.js';

export interface FileCheck {
  file: string;
  md5: string;
  /** 'ok', 'MISMATCH', or 'unknown' (no published sum for this file). */
  status: 'ok' | 'MISMATCH' | 'unknown';
  expected: string | null;
}

export interface DatasetInfo {
  dataset: DatasetName;
  source: string;
  splits: Partial<Record<Split, number>>;
  classes: number;
  channels: number;
  height: number;
  width: number;
  checksums: FileCheck[];
  skipped: number;
}

function check(name: DatasetName, file: string, bytes: Uint8Array): FileCheck {
  const md5 = createHash('md5').update(bytes).digest('hex');
  const base = basename(file.replace(/^.*:/, '')).replace(/\.(gz|br)$/, '');
  const expected = KNOWN_MD5[`${name}/${base}`] ?? null;
  return { file, md5, expected, status: expected === null ? 'unknown' : expected === md5 ? 'ok' : 'MISMATCH' };
}

export async function datasetInfo(name: DatasetName, opts: OpenOptions = {}): Promise<DatasetInfo> {
  const splits: Split[] = name === 'celeba' ? ['train', 'valid', 'test'] : ['train', 'test'];
  const counts: Partial<Record<Split, number>> = {};
  let first: { source: string; numClasses: number; channels: number; height: number; width: number } | null = null;
  let skipped = 0;
  for (const s of splits) {
    let ds;
    try {
      // CelebA splits can be empty in a partial copy; report 0 rather than fail.
      ds = await openDataset(name, s, { ...opts, threads: 0 });
    } catch (e) {
      if (name === 'celeba' && first && /no (valid|test|train) images/.test((e as Error).message)) {
        counts[s] = 0;
        continue;
      }
      throw e;
    }
    counts[s] = ds.length;
    skipped += (ds as { skipped?: string[] }).skipped?.length ?? 0;
    first ??= { source: ds.source, numClasses: ds.numClasses, channels: ds.channels, height: ds.height, width: ds.width };
    await ds.close();
  }
  const checksums: FileCheck[] = [];
  if (name === 'mnist' || name === 'fashion') {
    for (const s of ['train', 'test'] as const) {
      const f = locateIdx(name, s, opts.dataDir);
      for (const p of [f.images, f.labels]) checksums.push(check(name, p, readIdxBytes(p)));
    }
  } else if (name === 'cifar10') {
    const dirs = searchDirs('cifar10', opts.dataDir);
    for (const s of ['train', 'test'] as const) {
      for (const c of loadCifarChunks(s, dirs, (files, d) => notFound('cifar10', files, d, '')).chunks) checksums.push(check(name, c.name, c.bytes));
    }
  }
  return { dataset: name, source: first!.source, splits: counts, classes: first!.numClasses, channels: first!.channels, height: first!.height, width: first!.width, checksums, skipped };
}
