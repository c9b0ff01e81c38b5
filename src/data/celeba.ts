/**
 * CelebA as distributed: img_align_celeba/ (178x218 JPEGs) and
 * list_eval_partition.txt (0 train, 1 valid, 2 test). Images are decoded per
 * batch in worker threads, so memory stays bounded (unless `cache`).
 * Without the partition file, the official partition is reproduced from the
 * file numbers (1-162770 train, 162771-182637 valid, 182638-202599 test),
 * with a warning.
 */
import { existsSync, readdirSync, readFileSync, openSync, readSync, closeSync, fstatSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { UserError } from '../util/errors.js';
import { readFileOrFail } from '../util/files.js';
import type { Dataset, OpenOptions, Split } from './types.js';
import { BYTE_TO_UNIT } from './memory.js';
import { decodeCelebA } from './celeba-decode.js';

export const CELEBA_FILES = ['img_align_celeba/*.jpg (with list_eval_partition.txt beside the folder)'];
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
    const st = fstatSync(fd);
    if (!st.isFile()) return st.isDirectory() ? 'is a directory, not an image' : 'not a regular file';
    if (st.size < 4) return `only ${st.size} bytes`;
    const head = Buffer.alloc(2);
    readSync(fd, head, 0, 2, 0);
    if (head[0] !== 0xff || head[1] !== 0xd8) return 'no JPEG start-of-image marker';
    return null;
  } finally {
    closeSync(fd);
  }
}

interface DecodeResult {
  pixels: Uint8Array;
  errors: Array<{ index: number; message: string }>;
}

class CelebADataset implements Dataset {
  readonly name = 'celeba' as const;
  readonly channels = 3;
  readonly height = 64;
  readonly width = 64;
  readonly numClasses = 0;
  skipped: string[] = [];
  private workers: Worker[] = [];
  private busy: number[] = [];
  private jobId = 0;
  private pending = new Map<number, { worker: number; resolve: (r: DecodeResult) => void; reject: (e: Error) => void }>();
  /** Preprocessed images by index*2+flip, when asked to cache (memory grows to the dataset's size). */
  private cacheStore: Map<number, Uint8Array> | null;

  constructor(
    readonly split: Split,
    readonly files: string[],
    readonly source: string,
    readonly augmentFlip: boolean,
    private readonly warn: (message: string) => void,
    cache: boolean,
    threads: number,
  ) {
    this.cacheStore = cache ? new Map() : null;
    for (let i = 0; i < threads; i++) {
      const w = new Worker(new URL('./celeba-worker.js', import.meta.url));
      w.on('message', (m: { id: number } & DecodeResult) => {
        const job = this.pending.get(m.id);
        if (!job) return;
        this.pending.delete(m.id);
        this.release(job.worker);
        job.resolve(m);
      });
      w.on('error', (e) => this.failAll(i, e));
      w.on('exit', (code) => this.failAll(i, new Error(`CelebA decoder thread exited with code ${code}`)));
      // Idle workers must not keep the process alive; busy ones are ref'd while they work.
      w.unref();
      this.workers.push(w);
      this.busy.push(0);
    }
  }

  get length(): number {
    return this.files.length;
  }

  private release(i: number): void {
    if (--this.busy[i] === 0) this.workers[i]?.unref();
  }

  private failAll(worker: number, e: Error): void {
    for (const [id, job] of this.pending) {
      if (job.worker !== worker) continue;
      this.pending.delete(id);
      job.reject(e);
    }
  }

  private decodeBatch(paths: string[], flips: boolean[]): Promise<DecodeResult> {
    if (this.workers.length === 0) {
      const per = 3 * 64 * 64;
      const pixels = new Uint8Array(paths.length * per);
      const errors: DecodeResult['errors'] = [];
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
    // The least busy worker; ties go to the lowest index.
    let wi = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.busy[i] < this.busy[wi]) wi = i;
    const w = this.workers[wi];
    if (this.busy[wi]++ === 0) w.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { worker: wi, resolve, reject });
      w.postMessage({ id, paths, flips });
    });
  }

  async readBatch(indices: ArrayLike<number>, flip: ArrayLike<boolean> | null, out: Float32Array, labels?: Int32Array): Promise<void> {
    const per = 3 * 64 * 64;
    const n = indices.length;
    if (out.length < n * per) throw new RangeError(`celeba: output holds ${out.length} values, fewer than ${n} images of 3x64x64`);
    for (let k = 0; k < n; k++) {
      const i = indices[k];
      if (!(i >= 0 && i < this.files.length)) throw new RangeError(`celeba: index ${i} out of range`);
    }
    const flips = Array.from({ length: n }, (_, k) => Boolean(flip && flip[k]));
    const keys = Array.from({ length: n }, (_, k) => indices[k] * 2 + (flips[k] ? 1 : 0));
    const pixels = new Uint8Array(n * per);
    const bad = new Set<number>();
    const todo: number[] = [];
    for (let k = 0; k < n; k++) {
      const hit = this.cacheStore?.get(keys[k]);
      if (hit) pixels.set(hit, k * per);
      else todo.push(k);
    }
    if (todo.length) {
      const res = await this.decodeBatch(
        todo.map((k) => this.files[indices[k]]),
        todo.map((k) => flips[k]),
      );
      const failed = new Set(res.errors.map((e) => e.index));
      for (const e of res.errors) {
        const p = this.files[indices[todo[e.index]]];
        bad.add(todo[e.index]);
        if (!this.skipped.includes(p)) {
          this.skipped.push(p);
          this.warn(`skipping unreadable image ${p} (${e.message}); ${this.skipped.length} CelebA file(s) skipped so far`);
        }
      }
      todo.forEach((k, j) => {
        if (failed.has(j)) return;
        const img = res.pixels.subarray(j * per, (j + 1) * per);
        pixels.set(img, k * per);
        this.cacheStore?.set(keys[k], img.slice());
      });
    }
    for (let k = 0; k < n; k++) {
      // An unreadable image (found only when decoded) is replaced by the nearest
      // readable one in the batch so batch shapes stay fixed; it was warned about above.
      let src = k;
      if (bad.has(k)) {
        src = -1;
        for (let d = 1; d < n && src < 0; d++) {
          if (k + d < n && !bad.has(k + d)) src = k + d;
          else if (k - d >= 0 && !bad.has(k - d)) src = k - d;
        }
        if (src < 0) throw new UserError(`${this.source}: every image of a batch of ${n} is unreadable (first: ${this.files[indices[0]]})`);
      }
      for (let j = 0; j < per; j++) out[k * per + j] = BYTE_TO_UNIT[pixels[src * per + j]];
      if (labels) labels[k] = 0;
    }
  }

  async close(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

const warned = new Set<string>();
/** Default warnings: to stderr, each distinct message once per process (info opens every split). */
function warnOnce(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  process.stderr.write(`spikevae: warning: ${message}\n`);
}

export function openCelebA(
  split: Split,
  opts: OpenOptions,
  dirs: string[],
  notFound: (files: readonly string[], dirs: string[]) => UserError,
): Dataset {
  const warn = opts.onWarning ?? warnOnce;
  for (const d of dirs) {
    const imgDir = join(d, 'img_align_celeba');
    if (!existsSync(imgDir)) continue;
    if (!statSync(imgDir).isDirectory()) throw new UserError(`${imgDir}: is not a directory (CelebA's images belong in a folder of that name)`);
    const all = readdirSync(imgDir)
      .filter((f) => /\.jpe?g$/i.test(f))
      .sort();
    const partitionFile = join(d, 'list_eval_partition.txt');
    const code = SPLIT_CODE[split];
    let chosen: string[];
    if (existsSync(partitionFile)) {
      const part = new Map<string, number>();
      readFileOrFail(partitionFile)
        .toString('utf8')
        .split(/\r?\n/)
        .forEach((line, i) => {
          if (!line.trim()) return;
          const [f, c] = line.trim().split(/\s+/);
          const v = Number(c);
          if (!f || !(v === 0 || v === 1 || v === 2)) throw new UserError(`${partitionFile}: line ${i + 1} is not 'FILE 0|1|2'`);
          part.set(f, v);
        });
      chosen = all.filter((f) => part.get(f) === code);
      let listed = 0;
      for (const v of part.values()) if (v === code) listed++;
      if (listed > chosen.length) warn(`${imgDir}: ${listed - chosen.length} of the ${listed} ${split} images listed in list_eval_partition.txt are missing`);
    } else {
      warn(`${partitionFile} not found; using the official partition by file number (000001-162770 train, 162771-182637 valid, 182638-202599 test)`);
      chosen = all.filter((f) => (officialPartition(f) ?? 0) === code);
    }
    const skipped: string[] = [];
    const good = chosen.filter((f) => {
      const why = looksLikeJpeg(join(imgDir, f));
      if (why) {
        skipped.push(f);
        warn(`skipping ${join(imgDir, f)}: ${why}`);
      }
      return !why;
    });
    if (skipped.length) warn(`${skipped.length} CelebA file(s) skipped in ${imgDir}`);
    const limited = good.slice(0, opts.limit ?? good.length).map((f) => join(imgDir, f));
    if (limited.length === 0) throw new UserError(`${imgDir}: no ${split} images`);
    const threads = opts.threads ?? Math.max(1, Math.min(4, availableParallelism() - 1));
    // FSVAE's CelebA transform flips the test split too; evalFlip: false turns that off.
    const flip = split === 'train' || opts.evalFlip !== false;
    const ds = new CelebADataset(split, limited, imgDir, flip, warn, Boolean(opts.cache), threads);
    ds.skipped.push(...skipped.map((f) => join(imgDir, f)));
    return ds;
  }
  throw notFound(CELEBA_FILES, dirs);
}
