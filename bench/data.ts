/**
 * Loader throughput, one JSON line per dataset: images/s through a
 * DataLoader epoch (preprocessed float32 batches), plus the time to open the
 * dataset (which for MNIST/Fashion/CIFAR-10 includes reading and resizing
 * everything). Datasets that are not found are reported as skipped.
 *
 *   node dist/bench/data.js [--data DIR] [--celeba DIR] [--batches N]
 */
import { existsSync } from 'node:fs';
import { DataLoader, defaultDropLast, openDataset } from '../src/data/index.js';
import type { DatasetName } from '../src/data/index.js';
import { Random } from '../src/engine/random.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const maxBatches = Number(arg('--batches') ?? 200);
const dataDir = arg('--data');
const celebaDir = arg('--celeba');

async function bench(name: DatasetName, dir: string | undefined, batchSize: number): Promise<void> {
  const t0 = performance.now();
  let ds;
  try {
    ds = await openDataset(name, 'train', { dataDir: dir, onWarning: () => {} });
  } catch (e) {
    process.stdout.write(JSON.stringify({ bench: 'data', dataset: name, skipped: (e as Error).message }) + '\n');
    return;
  }
  const openSeconds = (performance.now() - t0) / 1000;
  try {
    // The CelebA sample has only 32 images: keep at least one full batch.
    batchSize = Math.max(1, Math.min(batchSize, ds.length));
    const loader = new DataLoader(ds, { batchSize, shuffle: true, dropLast: defaultDropLast(name), prefetch: 2 });
    const t1 = performance.now();
    let images = 0;
    let batches = 0;
    // Passes over a small dataset repeat until enough batches were timed.
    const rng = new Random(0);
    while (batches < maxBatches && loader.batchesPerEpoch > 0) {
      for await (const b of loader.epoch(rng)) {
        images += b.size;
        if (++batches >= maxBatches) break;
      }
    }
    const seconds = (performance.now() - t1) / 1000;
    process.stdout.write(
      JSON.stringify({ bench: 'data', dataset: name, split: 'train', source: ds.source, length: ds.length, batchSize, batches, openSeconds: +openSeconds.toFixed(3), imagesPerSecond: Math.round(images / seconds) }) + '\n',
    );
  } finally {
    await ds.close();
  }
}

await bench('mnist', dataDir, 128);
await bench('fashion', dataDir, 128);
await bench('cifar10', dataDir, 128);
await bench('celeba', celebaDir ?? dataDir, 64);
