/** `spikevae sample` and `spikevae reconstruct`: look at what a checkpoint does. */
import { releasingScope } from '../../engine/alloc.js';
import type { Command } from 'commander';
import { Random } from '../../engine/random.js';
import { Tensor, noGrad } from '../../engine/tensor.js';
import { openDataset, DatasetName } from '../../data/index.js';
import { writeImageGrid } from '../../io/image.js';
import { writeSafetensors } from '../../io/safetensors.js';
import { loadModel } from '../../models/index.js';
import { UserError } from '../../util/errors.js';
import { checkpointDataset, choiceFlag, datasetFlag, intOption, printJson } from '../options.js';

/** Latent spikes [T, N, C] (ours) to the reference's [N, C, T]. */
export function timeLastLayout(z: Tensor): { data: Float32Array; shape: number[] } {
  const [T, N, C] = z.shape;
  const out = new Float32Array(z.size);
  for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) out[(n * C + c) * T + t] = z.data[(t * N + n) * C + c];
  return { data: out, shape: [N, C, T] };
}

export function imageGeometry(model: { config: Record<string, unknown> }): { c: number; s: number } {
  const c = Number(model.config.inChannels);
  const s = Number(model.config.imageSize);
  return { c, s };
}

export function register(program: Command): void {
  registerSample(program);
  registerInterpolate(program);
}

function registerSample(program: Command): void {
  program
    .command('sample')
    .description('generate images from a trained model\'s prior and write them as a PNG grid')
    .requiredOption('--checkpoint <file>', 'model checkpoint (.safetensors), or pretrained:NAME for a shipped model (list: spikevae pretrained)')
    .option('--n <n>', 'number of images', intOption('--n', 1, 100000), 64)
    .option('--seed <n>', 'random seed', intOption('--seed', 0, 2 ** 32 - 1), 0)
    .option('--out <file>', 'PNG grid to write', 'samples.png')
    .option('--out-tensor <file>', 'also save the images and latent spike trains as safetensors')
    .option('--json', 'print a JSON summary on stdout')
    .action((flags: { checkpoint: string; n: number; seed: number; out: string; outTensor?: string; json?: boolean }) => {
      const { model } = loadModel(flags.checkpoint);
      const rng = new Random(flags.seed);
      const t0 = Date.now();
      // Pooled memory for the call, copied out and released at the end.
      const { images, z } = releasingScope(() => {
        const r = model.sample(flags.n, rng);
        return { images: new Tensor(r.images.data.slice(), r.images.shape), z: new Tensor(r.z.data.slice(), r.z.shape) };
      });
      const seconds = (Date.now() - t0) / 1000;
      const { c, s } = imageGeometry(model);
      writeImageGrid(flags.out, images.data, flags.n, c, s, s);
      if (flags.outTensor) {
        const zl = z.ndim === 3 ? timeLastLayout(z) : { data: z.data, shape: z.shape };
        writeSafetensors(
          flags.outTensor,
          { images: { dtype: 'F32', shape: images.shape, data: images.data }, latent: { dtype: 'F32', shape: zl.shape, data: zl.data } },
          { 'spikevae.model': model.kind, 'spikevae.latent_layout': z.ndim === 3 ? 'N,C,T (time last, as the reference)' : 'N,C', 'spikevae.seed': String(flags.seed) },
        );
      }
      const summary = { images: flags.n, seconds, imagesPerSecond: flags.n / seconds, out: flags.out, outTensor: flags.outTensor ?? null };
      if (flags.json) printJson(summary);
      else process.stderr.write(`spikevae: wrote ${flags.n} samples to ${flags.out} (${summary.imagesPerSecond.toFixed(1)} images/s)\n`);
    });

  program
    .command('reconstruct')
    .description('encode and decode test images; writes input and reconstruction side by side')
    .requiredOption('--checkpoint <file>', 'model checkpoint (.safetensors), or pretrained:NAME for a shipped model (list: spikevae pretrained)')
    .addOption(datasetFlag('dataset', "default: the checkpoint's"))
    .option('--data <dir>', 'folder holding the dataset files')
    .addOption(choiceFlag('--split <name>', 'split', ['train', 'test'] as const).default('test'))
    .option('--n <n>', 'number of images', intOption('--n', 1, 10000), 32)
    .option('--seed <n>', 'random seed (the latents are sampled)', intOption('--seed', 0, 2 ** 32 - 1), 0)
    .option('--out <file>', 'PNG grid to write (pairs: input, reconstruction)', 'reconstructions.png')
    .option('--json', 'print a JSON summary (with the MSE) on stdout')
    .action(async (flags: { checkpoint: string; dataset?: DatasetName; data?: string; split: 'train' | 'test'; n: number; seed: number; out: string; json?: boolean }) => {
      const { model, checkpoint } = loadModel(flags.checkpoint);
      const dsName = checkpointDataset(flags.dataset, checkpoint.file.metadata, flags.checkpoint);
      const ds = await openDataset(dsName, flags.split, { dataDir: flags.data });
      try {
        const { c, s } = imageGeometry(model);
        if (ds.channels !== c || ds.height !== s) {
          throw new UserError(`${flags.checkpoint}: model expects ${c}x${s}x${s} images but ${dsName} has ${ds.channels}x${ds.height}x${ds.width}`);
        }
        const n = Math.min(flags.n, ds.length);
        const per = c * s * s;
        const buf = new Float32Array(n * per);
        await ds.readBatch(Array.from({ length: n }, (_, i) => i), null, buf);
        const input = new Tensor(buf, [n, c, s, s]);
        const recon = noGrad(() => model.reconstruct(input, new Random(flags.seed)));
        let se = 0;
        for (let i = 0; i < buf.length; i++) se += (recon.data[i] - buf[i]) ** 2;
        const mse = se / buf.length;
        const pairs = new Float32Array(2 * n * per);
        for (let i = 0; i < n; i++) {
          pairs.set(buf.subarray(i * per, (i + 1) * per), 2 * i * per);
          pairs.set(recon.data.subarray(i * per, (i + 1) * per), (2 * i + 1) * per);
        }
        writeImageGrid(flags.out, pairs, 2 * n, c, s, s, { columns: 2 * Math.min(8, n) });
        if (flags.json) printJson({ images: n, mse, out: flags.out });
        else process.stderr.write(`spikevae: wrote ${n} input/reconstruction pairs to ${flags.out} (MSE ${mse.toFixed(4)} on the [-1, 1] scale)\n`);
      } finally {
        await ds.close();
      }
    });
}

export function registerInterpolate(program: Command): void {
  program
    .command('interpolate')
    .description('decode a path between the latents of test-image pairs (rates for ESVAE, Gaussian means for the ANN VAE, spike trains mixed per time step for FSVAE)')
    .requiredOption('--checkpoint <file>', 'model checkpoint (.safetensors), or pretrained:NAME for a shipped model (list: spikevae pretrained)')
    .addOption(datasetFlag('dataset', "default: the checkpoint's"))
    .option('--data <dir>', 'folder holding the dataset files')
    .option('--n <n>', 'points along each path, ends included', intOption('--n', 2, 64), 10)
    .option('--pairs <n>', 'rows: test images (2i, 2i+1) for i < pairs', intOption('--pairs', 1, 64), 4)
    .option('--seed <n>', 'random seed', intOption('--seed', 0, 2 ** 32 - 1), 0)
    .option('--out <file>', 'PNG grid (one row per pair: a, path..., b)', 'interpolation.png')
    .action(async (flags: { checkpoint: string; dataset?: DatasetName; data?: string; n: number; pairs: number; seed: number; out: string }) => {
      const { model, checkpoint } = loadModel(flags.checkpoint);
      const dsName = checkpointDataset(flags.dataset, checkpoint.file.metadata, flags.checkpoint);
      const ds = await openDataset(dsName, 'test', { dataDir: flags.data, limit: 2 * flags.pairs });
      try {
        const { c, s } = imageGeometry(model);
        const per = c * s * s;
        const buf = new Float32Array(2 * flags.pairs * per);
        await ds.readBatch(Array.from({ length: 2 * flags.pairs }, (_, i) => i), null, buf);
        const cols = flags.n + 2;
        const grid = new Float32Array(flags.pairs * cols * per);
        const rng = new Random(flags.seed);
        for (let p = 0; p < flags.pairs; p++) {
          const a = new Tensor(buf.slice(2 * p * per, (2 * p + 1) * per), [1, c, s, s]);
          const b = new Tensor(buf.slice((2 * p + 1) * per, (2 * p + 2) * per), [1, c, s, s]);
          const path = model.interpolate(a, b, flags.n, rng);
          grid.set(a.data, p * cols * per);
          grid.set(path.data, (p * cols + 1) * per);
          grid.set(b.data, (p * cols + cols - 1) * per);
        }
        writeImageGrid(flags.out, grid, flags.pairs * cols, c, s, s, { columns: cols });
        process.stderr.write(`spikevae: wrote ${flags.pairs} interpolation rows to ${flags.out} (first and last columns are the inputs)\n`);
      } finally {
        await ds.close();
      }
    });
}
