#!/usr/bin/env node
// Maintainers' tool: turns a training run's latest checkpoint into a shipped
// pretrained model, pretrained/NAME.safetensors, and its model card,
// pretrained/NAME.md. The metrics in the card are measured here with the
// command the card gives, and stored in the file's metadata
// (spikevae.metrics) so `spikevae pretrained` can list them.
//
//   node scripts/publish-pretrained.mjs RUN_DIR NAME [--checkpoint FILE] [--machine "text"]
//
// FILE (default RUN_DIR/checkpoint.safetensors) must be at an epoch boundary:
// a run's best.safetensors, or a copy of its checkpoint taken at an epoch's end.
// Needs the built package (npm install) and the FAD files.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensors, writeSafetensors } from '../dist/src/io/safetensors.js';
import { PAPERS, paperModelName } from '../dist/src/metrics/papers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const [runDir, name, ...rest] = process.argv.slice(2);
const flag = (f) => (rest.indexOf(f) >= 0 ? rest[rest.indexOf(f) + 1] : undefined);
if (!runDir || !name || !/^[a-z0-9][a-z0-9-]*$/.test(name)) {
  console.error('usage: node scripts/publish-pretrained.mjs RUN_DIR NAME [--checkpoint FILE] [--machine "text"]');
  process.exit(2);
}
const machine = flag('--machine') ?? 'the project\'s 2-core x86-64 VM (AMD EPYC, AVX-512)';

const ckPath = flag('--checkpoint') ?? join(runDir, 'checkpoint.safetensors');
const ck = readSafetensors(ckPath);
const training = JSON.parse(ck.metadata['spikevae.training']);
if (training.batchInEpoch !== 0) {
  console.error(`${ckPath}: at step ${training.step}, inside epoch ${training.epoch}; publish at an epoch boundary`);
  process.exit(1);
}
const cfg = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8'));
const model = ck.metadata['spikevae.model'];
const modelConfig = JSON.parse(ck.metadata['spikevae.config']);
const dataset = ck.metadata['spikevae.dataset'];

// What the card's command measures, measured on the run's checkpoint (the same weights).
const evalArgs = ['--metrics', 'recon,fad,cost', '--json', '-'];
const r = spawnSync(process.execPath, [cli, 'eval', '--checkpoint', ckPath, ...evalArgs], { encoding: 'utf8', maxBuffer: 1 << 26 });
if (r.status !== 0) {
  console.error(r.stderr);
  process.exit(1);
}
const ev = JSON.parse(r.stdout);
const metrics = {
  reconMse: ev.recon.mse,
  testImages: ev.recon.images,
  fad: ev.fad.fad,
  fadSamples: ev.fad.samples,
  acPerImage: ev.cost.perImage.ac,
  macPerImage: ev.cost.perImage.mac,
  energyMicroJoule: ev.cost.perImage.energyMicroJoule,
};

// The learning curve and throughput of the run, from its metrics.jsonl.
const lines = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const curve = lines.filter((l) => l.kind === 'curve' && l.epoch <= training.epoch);
const ips = lines.filter((l) => l.kind === 'step' && l.step <= training.step && typeof l.imagesPerSec === 'number').map((l) => l.imagesPerSec).sort((a, b) => a - b);
const medianIps = ips.length ? ips[Math.floor(ips.length / 2)] : null;

const imagesPerEpoch = { mnist: 60000, fashion: 60000 }[dataset] ?? null;
const kept = { epoch: training.epoch, step: training.step, elapsedSeconds: training.elapsedSeconds };
const metadata = { ...ck.metadata, 'spikevae.training': JSON.stringify(kept), 'spikevae.metrics': JSON.stringify(metrics), 'spikevae.pretrained': name };
mkdirSync(join(root, 'pretrained'), { recursive: true });
const out = join(root, 'pretrained', `${name}.safetensors`);
writeSafetensors(out, ck.tensors, metadata);
const sha = createHash('sha256').update(readFileSync(out)).digest('hex');
const mb = (statSync(out).size / 2 ** 20).toFixed(1);

const published = PAPERS[dataset]?.[paperModelName(model, modelConfig.decoding)] ?? {};
const paperName = paperModelName(model, modelConfig.decoding);
const source = paperName === 'ANN VAE' ? "the FSVAE paper's ANN VAE" : `${paperName} paper`;
const paperCell = (v) => (v === undefined ? '–' : `${v} (${source}, ${cfg.epochs} epochs)`);
const hours = (training.elapsedSeconds / 3600).toFixed(1);
const recipe = [
  `\`spikevae train --model ${model}${modelConfig.decoding === 'taid' ? ' --decoding taid' : ''} --dataset ${dataset}\` with the reference defaults:`,
  `batch ${cfg.batchSize}, AdamW lr ${cfg.lr}, weight decay ${cfg.weightDecay}, schedules set for ${cfg.epochs} epochs, seed ${cfg.seed}`,
].join(' ');
const curveRows = curve.map((c) => `| ${c.epoch} | ${c.reconMse.toFixed(4)} | ${c.fad === undefined ? '–' : c.fad.toFixed(2)} |`).join('\n');

const card = `# ${name}

${paperName === 'TAID' ? 'FSVAE with TAID decoding' : paperName} trained on ${dataset === 'fashion' ? 'Fashion-MNIST' : dataset.toUpperCase()} by spikevae.

| | |
|---|---|
| file | \`pretrained/${name}.safetensors\` (${mb} MiB) |
| sha256 | \`${sha}\` |
| format | safetensors; tensors are exactly the official PyTorch state_dict (\`load_state_dict(safetensors.torch.load_file(f))\`) |
| recipe | ${recipe} |
| trained | ${training.epoch} epochs (${training.step} steps${imagesPerEpoch ? `, ${(training.epoch * imagesPerEpoch).toLocaleString('en')} images seen` : ''}) of the paper's ${cfg.epochs} |
| hardware | ${machine}, native kernels, ${hours} h of wall time including evaluations${medianIps ? ` (median ${medianIps.toFixed(0)} training images/s, the machine shared with other runs and development)` : ''} |
| licence | MIT (as spikevae); trained on ${dataset === 'fashion' ? 'Fashion-MNIST (MIT)' : 'MNIST (Y. LeCun and C. Cortes, CC BY-SA 3.0)'} |

## Metrics

| metric | value | paper |
|---|---|---|
| test reconstruction MSE ([−1, 1] scale, ${metrics.testImages} images) | ${metrics.reconMse.toFixed(4)} | ${paperCell(published.recon)} |
| FAD (${metrics.fadSamples} samples, official autoencoder and statistics) | ${metrics.fad.toFixed(2)} | ${paperCell(published.fad)} |
| operations and energy per reconstruction (0.9 pJ/AC, 4.6 pJ/MAC) | ${(metrics.acPerImage / 1e6).toFixed(2)} M AC, ${(metrics.macPerImage / 1e6).toFixed(2)} M MAC, ${metrics.energyMicroJoule.toFixed(1)} µJ | – |

Measured with:

\`\`\`sh
spikevae eval --checkpoint pretrained:${name} --metrics recon,fad,cost --json -
\`\`\`

(seed 0, batch 250, the whole test split; latents are sampled, so other seeds give slightly different numbers).

## Learning curve of the run

| epoch | test MSE | FAD |
|---|---|---|
${curveRows || '| – | – | – |'}

These weights are a milestone of a run that goes on: the paper trains ${cfg.epochs} epochs, and the
run's later learning-curve points, its pictures and the command that continues it are in
[docs/results.md](../docs/results.md). A lost run folder goes on from this file with
\`spikevae train --init-from pretrained:${name} ...\` (fresh optimizer moments).
`;
writeFileSync(join(root, 'pretrained', `${name}.md`), card);
console.log(`wrote ${out} (${mb} MiB, sha256 ${sha}) and pretrained/${name}.md: MSE ${metrics.reconMse.toFixed(4)}, FAD ${metrics.fad.toFixed(2)}`);
