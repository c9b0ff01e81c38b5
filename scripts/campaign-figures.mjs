#!/usr/bin/env node
// Maintainers' tool: every figure and number docs/results.md shows for one
// trained model, made with the ordinary spikevae commands (printed as they
// run, so each can be rerun by hand):
//
//   node scripts/campaign-figures.mjs CHECKPOINT NAME [OUT_DIR]
//
// writes OUT_DIR/NAME-{samples,reconstructions,interpolation,robustness}.png,
// NAME-latent-counts-{posterior,prior}.svg and NAME-eval.json (test MSE,
// FAD, spike cost, latent classification, robustness table, firing rates).
// OUT_DIR defaults to docs/img. CHECKPOINT may be pretrained:NAME.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCheckpoint } from '../dist/src/models/checkpoint.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const [checkpoint, name, outDir = join(root, 'docs', 'img')] = process.argv.slice(2);
if (!checkpoint || !name) {
  console.error('usage: node scripts/campaign-figures.mjs CHECKPOINT NAME [OUT_DIR]');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
const p = (suffix) => join(outDir, `${name}-${suffix}`);

function run(args) {
  process.stderr.write(`spikevae ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

run(['sample', '--checkpoint', checkpoint, '--n', '64', '--out', p('samples.png')]);
run(['reconstruct', '--checkpoint', checkpoint, '--n', '32', '--out', p('reconstructions.png')]);
run(['interpolate', '--checkpoint', checkpoint, '--out', p('interpolation.png')]);
const main = p('eval-main.json');
const extra = p('eval-extra.json');
run(['eval', '--checkpoint', checkpoint, '--metrics', 'recon,fad,cost,classify', '--quiet', '--json', main]);
// Robustness and latent firing rates perturb or count latent spikes: spiking models only.
if (readCheckpoint(checkpoint).model === 'ann-vae') writeFileSync(extra, '{}');
else run(['eval', '--checkpoint', checkpoint, '--metrics', 'robustness,rates', '--figure', p('robustness.png'), '--histograms', p('latent-counts'), '--quiet', '--json', extra]);
const merged = { ...JSON.parse(readFileSync(main, 'utf8')), ...JSON.parse(readFileSync(extra, 'utf8')) };
// Files named by relative paths, not by this machine's: the figures relative
// to eval.json (they lie beside it), the FAD assets relative to the repository.
const here = (path) => relative(outDir, path);
if (merged.robustness?.figure) merged.robustness.figure = here(merged.robustness.figure);
if (Array.isArray(merged.rates?.histograms)) merged.rates.histograms = merged.rates.histograms.map(here);
for (const key of ['weights', 'stats']) if (merged.fad?.[key]) merged.fad[key] = relative(root, merged.fad[key]);
writeFileSync(p('eval.json'), JSON.stringify(merged, null, 2) + '\n');
for (const f of [main, extra]) spawnSync('rm', ['-f', f]);
process.stderr.write(`wrote ${p('eval.json')} and the pictures in ${outDir}\n`);
