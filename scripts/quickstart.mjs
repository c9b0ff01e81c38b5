#!/usr/bin/env node
// `npm start`: the main job. First pictures from the shipped pretrained FSVAE
// (real digits within the first minute), then a short FSVAE training run from
// scratch on the built-in MNIST with its own pictures at the end. Each step is
// an ordinary spikevae command, printed before it runs, so it can be rerun by
// hand. The training budget (SPIKEVAE_QUICKSTART_MINUTES, default 3.5) keeps
// the whole job under 6 minutes on a 2-core AVX2 machine; the README test
// shrinks it further with SPIKEVAE_QUICKSTART_STEPS and _TEST_LIMIT.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliName } from '../dist/src/util/package.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const out = 'runs/quickstart';
const minutes = process.env.SPIKEVAE_QUICKSTART_MINUTES ?? '3.5';
const maxSteps = process.env.SPIKEVAE_QUICKSTART_STEPS ?? '250';
const testLimit = process.env.SPIKEVAE_QUICKSTART_TEST_LIMIT ?? '1000';

const steps = [
  ['Pictures from the shipped, trained FSVAE (how far it is trained: pretrained/fsvae-mnist.md)', []],
  ['  samples from its prior', ['sample', '--checkpoint', 'pretrained:fsvae-mnist', '--n', '64', '--out', `${out}/pretrained-samples.png`]],
  ['  test images and their reconstructions', ['reconstruct', '--checkpoint', 'pretrained:fsvae-mnist', '--n', '32', '--out', `${out}/pretrained-reconstructions.png`]],
  ['  paths between the latents of test-image pairs', ['interpolate', '--checkpoint', 'pretrained:fsvae-mnist', '--out', `${out}/pretrained-interpolation.png`]],
  [`Your own FSVAE, trained from scratch for ${minutes} minutes (at most ${maxSteps} steps of 64 images)`, []],
  ['  training', ['train', '--model', 'fsvae', '--dataset', 'mnist', '--batch-size', '64', '--max-steps', maxSteps, '--max-minutes', minutes, '--test-limit', testLimit, '--no-curves', '--overwrite', '--out', out]],
  ['  its samples', ['sample', '--checkpoint', `${out}/checkpoint.safetensors`, '--n', '64', '--out', `${out}/samples.png`]],
  ['  its reconstructions', ['reconstruct', '--checkpoint', `${out}/checkpoint.safetensors`, '--n', '32', '--out', `${out}/reconstructions.png`]],
];

const t0 = Date.now();
for (const [what, args] of steps) {
  if (args.length === 0) {
    process.stderr.write(`\n== ${what}\n`);
    continue;
  }
  process.stderr.write(`${what}: ${cliName()} ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const secs = Math.round((Date.now() - t0) / 1000);
process.stderr.write(
  `\nDone in ${Math.floor(secs / 60)} min ${secs % 60} s. Look at:\n` +
    `  ${out}/pretrained-samples.png, pretrained-reconstructions.png, pretrained-interpolation.png  (the trained model)\n` +
    `  ${out}/samples.png, reconstructions.png  (your few-minute run: blobs and rough digits; FSVAE needs many epochs)\n` +
    `Continue your run with: ${cliName()} train --resume ${out} --max-minutes 60\n`,
);
