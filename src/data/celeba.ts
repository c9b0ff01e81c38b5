/**
 * CelebA as distributed: img_align_celeba/ (178x218 JPEGs) and
 * list_eval_partition.txt (0 train, 1 valid, 2 test). Images are decoded per
 * batch in worker threads, so memory stays bounded (unless `cache`).
 * Without the partition file, the official partition is reproduced from the
 * file numbers (1-162770 train, 162771-182637 valid, 182638-202599 test),
 * with a warning.
 */
import { existsSync, readdirSync, readFileSync, openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { UserError } from '../util/errors.js';
import type { Dataset, OpenOptions, Split } from './index.js';
import { BYTE_TO_UNIT } from './index.js';
import { decodeCelebA } from './celeba-decode.js';

export const CELEBA_FILES = ['img_align_celeba/', 'list_eval_partition.txt'];
const SPLIT_CODE: Record<Split, number> = { train: 0, valid: 1, test: 2 };

/** The official partition by image number, used when list_eval_partition.txt is absent. */
export function officialPartition(fileName: string): number | null {
  const m = /^(\d+)\.jpg$/i.exec(fileName);
  if (!m) return null;
  const n = Number(m[1]);
  return n <= 162770 ? 0 : n <= 182637 ? 1 : 2;
}

/** Cheap structural check: JPEG start marker and a plausible length. */
function looksLikeJpeg(path: string): string | null {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < 4) return `only ${size} bytes`;
    const head = Buffer.alloc(2);
    readSync(fd, head, 0, 2, 0);
    if (head[0] !== 0xff || head[1] !== 0xd8) return 'no JPEG start-of-image marker';
    return null;
  } finally {
    closeSync(fd);
  }
}

class CelebADataset implements Dataset {
  readonly name = 'celeba' as const;
  readonly channels = 3;
  readonly height = 64;
  readonly width = 64;
  readonly numClasses = 0;
  readonly augmentFlip = true;
  skipped: string[] = [];
  private workers: Worker[] = [];
  private nextWorker = 0;
  private jobId = 0;
  private pending = new Map<number, (r: { pixels: Uint8Array; errors: Array<{ index: number; message: string }> }) => void>();
  private cacheStore: Map<string, Uint8Array> | null;

  constructor(readonly split: Split, readonly files: string[], readonly source: string, cache: boolean, threads: number) {
    this.cacheStore = cache ? new Map() : null;
    for (let i = 0; i < threads; i++) {
      const w = new Worker(new URL('./celeba-worker.js', import.meta.url));
      w.on('message', (m: { id: number; pixels: Uint8Array; errors: Array<{ index: number; message: string }> }) => {
        this.pending.get(m.id)?.(m);
        this.pending.delete(m.id);
      });
      w.unref();
      this.workers.push(w);
    }
  }

  get length(): number {
    return this.files.length;
  }

  private decodeBatch(paths: string[], flips: boolean[]): Promise<{ pixels: Uint8Array; errors: Array<{ index: number; message: string }> }> {
    if (this.workers.length === 0) {
      const per = 3 * 64 * 64;
      const pixels = new Uint8Array(paths.length * per);
      const errors: Array<{ index: number; message: string }> = [];
      paths.forEach((p, i) => {
        try {
          pixels.set(decodeCelebA(readFileSync(p), flips[i]), i * per);
        } catch (e) {
          errors.push({ index: i, message: (e as Error).message });
        }
      });
      return Promise.resolve({ pixels, errors });
    }
    const id = this.jobId++;
    const w = this.workers[this.nextWorker++ % this.workers.length];
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      w.postMessage({ id, paths, flips });
    });
  }

  async readBatch(indices: ArrayLike<number>, flip: ArrayLike<boolean> | null, out: Float32Array, labels?: Int32Array): Promise<void> {
    const per = 3 * 64 * 64;
    const paths = Array.from(indices, (i) => this.files[i]);
    const flips = Array.from(indices, (_, k) => Boolean(flip && flip[k]));
    const { pixels, errors } = await this.decodeBatch(paths, flips);
    const bad = new Set(errors.map((e) => e.index));
    for (const e of errors) {
      const p = paths[e.index];
      if (!this.skipped.includes(p)) {
        this.skipped.push(p);
        process.stderr.write(`spikevae: warning: skipping unreadable image ${p} (${e.message}); ${this.skipped.length} skipped so far\n`);
      }
    }
    for (let k = 0; k < paths.length; k++) {
      // An unreadable image is replaced by the nearest readable one in the batch, so shapes stay fixed.
      let src = k;
      if (bad.has(k)) {
        src = -1;
        for (let d = 1; d < paths.length && src < 0; d++) {
          if (k + d < paths.length && !bad.has(k + d)) src = k + d;
          else if (k - d >= 0 && !bad.has(k - d)) src = k - d;
        }
        if (src < 0) throw new UserError(`${this.source}: no readable image in a batch (${paths.length} files unreadable)`);
      }
      for (let j = 0; j < per; j++) out[k * per + j] = BYTE_TO_UNIT[pixels[src * per + j]];
      if (labels) labels[k] = 0;
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
  }
}

export function openCelebA(
  split: Split,
  opts: OpenOptions,
  dirs: string[],
  notFound: (files: readonly string[], dirs: string[]) => UserError,
): Dataset {
  for (const d of dirs) {
    const imgDir = join(d, 'img_align_celeba');
    if (!existsSync(imgDir)) continue;
    const all = readdirSync(imgDir)
      .filter((f) => /\.jpe?g$/i.test(f))
      .sort();
    const partitionFile = join(d, 'list_eval_partition.txt');
    const code = SPLIT_CODE[split];
    let chosen: string[];
    if (existsSync(partitionFile)) {
      const part = new Map<string, number>();
      readFileSync(partitionFile, 'utf8')
        .split(/\r?\n/)
        .forEach((line, i) => {
          if (!line.trim()) return;
          const [f, c] = line.trim().split(/\s+/);
          const v = Number(c);
          if (!f || !(v === 0 || v === 1 || v === 2)) throw new UserError(`${partitionFile}: line ${i + 1} is not 'FILE 0|1|2'`);
          part.set(f, v);
        });
      chosen = all.filter((f) => part.get(f) === code);
    } else {
      process.stderr.write(`spikevae: warning: ${partitionFile} not found; using the official partition by file number (1-162770 train, 162771-182637 valid, rest test)\n`);
      chosen = all.filter((f) => (officialPartition(f) ?? 0) === code);
    }
    const skipped: string[] = [];
    const good = chosen.filter((f) => {
      const why = looksLikeJpeg(join(imgDir, f));
      if (why) {
        skipped.push(f);
        process.stderr.write(`spikevae: warning: skipping ${join(imgDir, f)}: ${why}\n`);
      }
      return !why;
    });
    if (skipped.length) process.stderr.write(`spikevae: ${skipped.length} CelebA file(s) skipped\n`);
    const limited = good.slice(0, opts.limit ?? good.length).map((f) => join(imgDir, f));
    if (limited.length === 0) throw new UserError(`${imgDir}: no ${split} images`);
    const threads = Math.max(1, Math.min(4, availableParallelism() - 1));
    const ds = new CelebADataset(split, limited, imgDir, Boolean(opts.cache), threads);
    ds.skipped.push(...skipped.map((f) => join(imgDir, f)));
    return ds;
  }
  throw notFound(CELEBA_FILES, dirs);
}
