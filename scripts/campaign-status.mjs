#!/usr/bin/env node
// Maintainers' tool: where each run of the training campaign stands, as the
// Markdown docs/results.md shows it: epochs and steps done, the latest
// learning-curve point, training images/s (median of the logged windows),
// training hours, every curve point, and after each epoch the test loss's
// reconstruction term (for a classifier: train and test accuracy).
//
//   node scripts/campaign-status.mjs [RUNS_DIR]      (default ~/spikevae-runs)
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const runsDir = process.argv[2] ?? join(homedir(), 'spikevae-runs');
const runs = readdirSync(runsDir).filter((d) => existsSync(join(runsDir, d, 'config.json'))).sort();
const fmt = (v, d) => (typeof v === 'number' ? v.toFixed(d) : '–');

const rows = [];
const curves = [];
const accuracy = [];
const reconTerms = [];
for (const name of runs) {
  const dir = join(runsDir, name);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const lines = existsSync(join(dir, 'metrics.jsonl'))
    ? readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
    : [];
  const steps = lines.filter((l) => l.kind === 'step');
  const epochs = lines.filter((l) => l.kind === 'epoch');
  const curve = lines.filter((l) => l.kind === 'curve');
  const ips = steps.map((s) => s.imagesPerSec).filter((v) => v > 0).sort((a, b) => a - b);
  const lastStep = steps.length ? steps[steps.length - 1].step : 0;
  const hours = epochs.reduce((s, e) => s + (e.epochSeconds ?? 0), 0) / 3600;
  const last = curve[curve.length - 1];
  const lastEpoch = epochs[epochs.length - 1];
  const kind = cfg.decoding === 'taid' ? `${cfg.model}+taid` : cfg.model;
  const latest =
    cfg.model === 'alif-classifier'
      ? lastEpoch ? `test accuracy ${fmt(100 * lastEpoch.test.accuracy, 2)} % at epoch ${lastEpoch.epoch + 1}` : '–'
      : last ? `${fmt(last.reconMse, 4)} / ${fmt(last.fad, 1)} at epoch ${last.epoch}` : '–';
  rows.push(
    `| ${name} | ${kind}${cfg.neuron ? ` (${cfg.neuron})` : ''} | ${cfg.dataset} | ${epochs.length} (step ${lastStep}) | ${latest} | ${ips.length ? fmt(ips[Math.floor(ips.length / 2)], 0) : '–'} | ${fmt(hours, 1)} |`,
  );
  for (const c of curve) curves.push(`| ${name} | ${c.epoch} | ${c.images.toLocaleString('en')} | ${fmt(c.reconMse, 4)} | ${fmt(c.fad, 2)} |`);
  if (cfg.model === 'alif-classifier') {
    for (const e of epochs) accuracy.push(`| ${name} | ${e.epoch + 1} | ${fmt(100 * e.train.accuracy, 2)} % | ${fmt(100 * e.test.accuracy, 2)} % | ${fmt(e.epochSeconds / 60, 0)} |`);
  } else if (epochs.length) {
    reconTerms.push(`| ${name} | ${epochs.map((e) => fmt(e.test?.recon, 4)).join(', ')} |`);
  }
}
console.log('| run | model | dataset | epochs done | latest test MSE / FAD (classifier: accuracy) | median train img/s | hours (epochs) |');
console.log('|---|---|---|---|---|---|---|');
console.log(rows.join('\n'));
console.log('\n| run | epoch | images seen | test MSE | FAD |');
console.log('|---|---|---|---|---|');
console.log(curves.join('\n'));
if (reconTerms.length) {
  console.log("\n| run | test loss's reconstruction term after epochs 1, 2, 3, ... |");
  console.log('|---|---|');
  console.log(reconTerms.join('\n'));
}
if (accuracy.length) {
  console.log('\n| run | epoch | train accuracy (augmented, dropout) | test accuracy | minutes |');
  console.log('|---|---|---|---|---|');
  console.log(accuracy.join('\n'));
}
