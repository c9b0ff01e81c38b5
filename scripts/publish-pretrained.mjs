#!/usr/bin/env node
// Maintainers' tool: turns a training run's latest checkpoint into a shipped
// pretrained model, pretrained/NAME.safetensors, and its model card,
// pretrained/NAME.md. The metrics in the card are measured here with the
// command the card gives, and stored in the file's metadata
// (spikevae.metrics) so `spikevae pretrained` can list them.
//
//   node scripts/publish-pretrained.mjs RUN_DIR NAME [--checkpoint FILE] [--machine "text"] [--int8 TENSOR,...]
//
// FILE (default RUN_DIR/checkpoint.safetensors) must be at an epoch boundary:
// a run's best.safetensors, or a copy of its checkpoint taken at an epoch's end.
// --int8 stores the named tensors as int8 rows with float32 scales (lossy;
// for the classifier's 51 MB fully connected layer, which would not fit the
// folder's size budget); the card's metrics are measured on the stored file,
// beside the float32 checkpoint's. Generative models are published whole.
// Needs the built package (npm install) and the FAD files.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { readSafetensors, writeSafetensors } from '../dist/src/io/safetensors.js';
import { quantizeInt8 } from '../dist/src/models/checkpoint.js';
import { CLASSIFIER_PAPERS, PAPERS, paperModelName } from '../dist/src/metrics/papers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const [runDir, name, ...rest] = process.argv.slice(2);
const flag = (f) => (rest.indexOf(f) >= 0 ? rest[rest.indexOf(f) + 1] : undefined);
if (!runDir || !name || !/^[a-z0-9][a-z0-9-]*$/.test(name)) {
  console.error('usage: node scripts/publish-pretrained.mjs RUN_DIR NAME [--checkpoint FILE] [--machine "text"] [--int8 TENSOR,...]');
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

const int8 = flag('--int8') ? flag('--int8').split(',') : [];
const out = join(root, 'pretrained', `${name}.safetensors`);

/** `spikevae eval` on a checkpoint, its --json output parsed. */
function evaluate(checkpoint, metricsList, extra = []) {
  const r = spawnSync(process.execPath, [cli, 'eval', '--checkpoint', checkpoint, '--metrics', metricsList, ...extra, '--json', '-'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) {
    console.error(r.stderr);
    process.exit(1);
  }
  return JSON.parse(r.stdout);
}

// The learning curve and throughput of the run, from its metrics.jsonl.
const lines = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const ips = lines.filter((l) => l.kind === 'step' && l.step <= training.step && typeof l.imagesPerSec === 'number').map((l) => l.imagesPerSec).sort((a, b) => a - b);
const medianIps = ips.length ? ips[Math.floor(ips.length / 2)] : null;
const imagesPerEpoch = { mnist: 60000, fashion: 60000, cifar10: 50000 }[dataset] ?? null;
const kept = { epoch: training.epoch, step: training.step, elapsedSeconds: training.elapsedSeconds };
const hours = (training.elapsedSeconds / 3600).toFixed(1);
const datasetName = { fashion: 'Fashion-MNIST', cifar10: 'CIFAR-10' }[dataset] ?? dataset.toUpperCase();
const licence = `MIT (as spikevae); trained on ${{ fashion: 'Fashion-MNIST (MIT)', cifar10: 'CIFAR-10 (A. Krizhevsky, 2009)' }[dataset] ?? 'MNIST (Y. LeCun and C. Cortes, CC BY-SA 3.0)'}`;
const hardware = `${machine}, native kernels, ${hours} h of wall time including evaluations${medianIps ? ` (median ${medianIps.toFixed(0)} training images/s, the machine shared with other runs and development)` : ''}`;
const trained = `${training.epoch} epochs (${training.step} steps${imagesPerEpoch ? `, ${(training.epoch * imagesPerEpoch).toLocaleString('en')} images seen` : ''})`;

/** Writes the shipped file (int8 where asked) with its metrics; returns its size and sha256. */
function writeShipped(metrics) {
  const metadata = { ...ck.metadata, 'spikevae.training': JSON.stringify(kept), 'spikevae.metrics': JSON.stringify(metrics), 'spikevae.pretrained': name };
  const stored = quantizeInt8(ck.tensors, metadata, int8);
  mkdirSync(join(root, 'pretrained'), { recursive: true });
  writeSafetensors(out, stored.tensors, stored.metadata);
  return { sha: createHash('sha256').update(readFileSync(out)).digest('hex'), mb: (statSync(out).size / 2 ** 20).toFixed(1) };
}

if (model === 'alif-classifier') publishClassifier();
else publishGenerative();

function publishClassifier() {
  // Measured on the stored file (int8 or not): that is what users get. The
  // metrics metadata is written after measuring, so the file is written twice.
  writeShipped({});
  const confusion = join(root, 'docs', 'img', `pretrained-${name}-confusion.png`);
  const ev = evaluate(`pretrained:${name}`, 'accuracy,cost', ['--confusion', confusion]);
  const scratch = join(tmpdir(), `spikevae-${process.pid}-confusion.png`);
  const full = int8.length ? evaluate(ckPath, 'accuracy', ['--confusion', scratch]) : ev;
  rmSync(scratch, { force: true });
  const metrics = {
    accuracy: ev.accuracy.accuracy,
    testImages: ev.accuracy.testImages,
    float32Accuracy: full.accuracy.accuracy,
    acPerImage: ev.cost.perImage.ac,
    macPerImage: ev.cost.perImage.mac,
    energyMicroJoule: ev.cost.perImage.energyMicroJoule,
  };
  const { sha, mb } = writeShipped(metrics);
  const pct = (v) => `${(100 * v).toFixed(2)} %`;
  const published = CLASSIFIER_PAPERS[dataset];
  const neuron = modelConfig.neuron;
  const curve = lines.filter((l) => l.kind === 'epoch' && l.epoch < training.epoch);
  const curveRows = curve.map((c) => `| ${c.epoch + 1} | ${pct(c.train.accuracy)} | ${pct(c.test.accuracy)} |`).join('\n');
  const neuronRows = ev.accuracy.neurons.map((n) => `| ${n.layer} | ${n.neuron} | ${n.tau.toFixed(4)} | ${n.threshold.toFixed(4)} | ${ev.accuracy.firingRates[n.layer]?.toFixed(4) ?? '–'} |`).join('\n');
  const card = `# ${name}

The TAID paper's spiking classifier for ${datasetName} (${neuron.toUpperCase()} neurons, T = ${modelConfig.timeSteps}; the network and its semantics: docs/models.md, "Spiking classifiers") trained by spikevae.

| | |
|---|---|
| file | \`pretrained/${name}.safetensors\` (${mb} MiB) |
| sha256 | \`${sha}\` |
| format | safetensors, spikevae checkpoint${int8.length ? `; ${int8.map((t) => `\`${t}\``).join(', ')} stored as int8 with one float32 scale per row (metadata \`spikevae.int8\`; spikevae reads it back as float32), to keep pretrained/ within its size budget; every other tensor float32` : ''} |
| recipe | \`spikevae train --model alif-classifier --dataset ${dataset} --neuron ${neuron} --epochs ${cfg.epochs}\`: batch ${cfg.batchSize}, Adam lr ${cfg.lr} with cosine annealing (T_max 64 epochs), loss MSE(spike count / T, one-hot), the paper's augmentation, seed ${cfg.seed} |
| trained | ${trained} of the ${cfg.epochs} the run was set for (the paper trains 1000) |
| hardware | ${hardware} |
| licence | ${licence} |

## Metrics

| metric | value | paper |
|---|---|---|
| test accuracy (${metrics.testImages} images) | ${pct(metrics.accuracy)} | ${published === undefined ? '–' : `${published.accuracy} % (${published.table}, 1000 epochs)`} |
${int8.length ? `| test accuracy of the float32 weights (the run's checkpoint) | ${pct(metrics.float32Accuracy)} | |\n` : ''}| operations and energy per image (0.9 pJ/AC, 4.6 pJ/MAC) | ${(metrics.acPerImage / 1e6).toFixed(2)} M AC, ${(metrics.macPerImage / 1e6).toFixed(2)} M MAC, ${metrics.energyMicroJoule.toFixed(1)} µJ | – |

Per class: ${ev.accuracy.perClass.map((c) => `${c.class}: ${pct(c.accuracy)}`).join(', ')}. Confusion matrix: [docs/img/pretrained-${name}-confusion.png](../docs/img/pretrained-${name}-confusion.png).

Measured with:

\`\`\`sh
spikevae eval --checkpoint pretrained:${name} --metrics accuracy,cost --json -
\`\`\`

(it also writes the confusion matrix to confusion.png in the current folder; \`--confusion FILE\` puts it elsewhere).

## Learned neurons

| layer | neuron | τ | V_th | firing rate (test) |
|---|---|---|---|---|
${neuronRows}

## Learning curve of the run

| epoch | train accuracy | test accuracy |
|---|---|---|
${curveRows || '| – | – | – |'}

The run's later points and the command that continues it are in
[docs/results.md](../docs/results.md).
`;
  writeFileSync(join(root, 'pretrained', `${name}.md`), card);
  console.log(`wrote ${out} (${mb} MiB, sha256 ${sha}) and pretrained/${name}.md: accuracy ${pct(metrics.accuracy)} (float32 ${pct(metrics.float32Accuracy)})`);
}

function publishGenerative() {
if (int8.length) {
  console.error('--int8 is for the classifier; generative models ship as the exact official state_dict');
  process.exit(2);
}
// What the card's command measures, measured on the run's checkpoint (the same weights).
const ev = evaluate(ckPath, 'recon,fad,cost');
const metrics = {
  reconMse: ev.recon.mse,
  testImages: ev.recon.images,
  fad: ev.fad.fad,
  fadSamples: ev.fad.samples,
  acPerImage: ev.cost.perImage.ac,
  macPerImage: ev.cost.perImage.mac,
  energyMicroJoule: ev.cost.perImage.energyMicroJoule,
};

const curve = lines.filter((l) => l.kind === 'curve' && l.epoch <= training.epoch);
const { sha, mb } = writeShipped(metrics);

const published = PAPERS[dataset]?.[paperModelName(model, modelConfig.decoding)] ?? {};
const paperName = paperModelName(model, modelConfig.decoding);
const source = paperName === 'ANN VAE' ? "the FSVAE paper's ANN VAE" : `${paperName} paper`;
const paperCell = (v) => (v === undefined ? '–' : `${v} (${source}, ${cfg.epochs} epochs)`);
const recipe = [
  `\`spikevae train --model ${model}${modelConfig.decoding === 'taid' ? ' --decoding taid' : ''} --dataset ${dataset}\` with the reference defaults:`,
  `batch ${cfg.batchSize}, AdamW lr ${cfg.lr}, weight decay ${cfg.weightDecay}, schedules set for ${cfg.epochs} epochs, seed ${cfg.seed}`,
].join(' ');
const curveRows = curve.map((c) => `| ${c.epoch} | ${c.reconMse.toFixed(4)} | ${c.fad === undefined ? '–' : c.fad.toFixed(2)} |`).join('\n');

const card = `# ${name}

${paperName === 'TAID' ? 'FSVAE with TAID decoding' : paperName} trained on ${datasetName} by spikevae.

| | |
|---|---|
| file | \`pretrained/${name}.safetensors\` (${mb} MiB) |
| sha256 | \`${sha}\` |
| format | safetensors; tensors are exactly the official PyTorch state_dict (\`load_state_dict(safetensors.torch.load_file(f))\`) |
| recipe | ${recipe} |
| trained | ${trained} of the paper's ${cfg.epochs} |
| hardware | ${hardware} |
| licence | ${licence} |

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
}
