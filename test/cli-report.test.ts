/**
 * What a first user sees around a run folder: eval keeps its results in
 * RUN_DIR/eval.json (merged per checkpoint) and finds the shipped FAD files
 * from any folder; report reads them, says which files it read, counts steps
 * and epochs, uses the trainer's own images/s, plots the learning curves
 * against the paper's value and captions every picture; hints name the
 * command the way it can be run from where the user is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createModel } from '../src/models/index.js';
import { saveCheckpoint } from '../src/models/checkpoint.js';
import { writeImageGrid } from '../src/io/image.js';
import { OFFICIAL_FAD_DIR } from '../src/metrics/evaluate.js';
import { packageRoot } from '../src/util/package.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
function run(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', cwd });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A run folder as `spikevae train` leaves it: batch 250 (240 steps per MNIST epoch), an epoch record, learning-curve records, `lastStep` steps done. */
function syntheticRun(dir: string, config: Record<string, unknown>, curve: Array<[number, number, number]>, lastStep: number): void {
  mkdirSync(join(dir, 'samples'), { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ dataset: 'mnist', epochs: 150, batchSize: 250, logEvery: 10, ...config }));
  const lines: unknown[] = [];
  // Two windows of equal size at 100 and 300 images/s: the run's rate is 2 / (1/100 + 1/300) = 150.
  lines.push({ kind: 'step', step: 10, epoch: 0, loss: 2, imagesPerSec: 100 });
  lines.push({ kind: 'step', step: 20, epoch: 0, loss: 1.5, imagesPerSec: 300 });
  lines.push({ kind: 'epoch', step: 240, epoch: 0, train: { loss: 1 }, test: { loss: 0.9, recon: 0.25 } });
  for (const [epoch, reconMse, fad] of curve) {
    lines.push({ kind: 'curve', epoch, step: epoch * 240, images: epoch * 60000, reconMse, fad, fadSamples: 5120, testImages: 10000, seconds: 95.2, time: '2026-01-01T00:00:00Z' });
  }
  lines.push({ kind: 'step', step: lastStep, epoch: Math.floor(lastStep / 240), loss: 1.2 });
  writeFileSync(join(dir, 'metrics.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const grid = new Float32Array(4 * 32 * 32).fill(-1);
  writeImageGrid(join(dir, 'samples', 'epoch-000.png'), grid, 4, 1, 32, 32);
  writeImageGrid(join(dir, 'reconstructions.png'), grid, 4, 1, 32, 32);
}

test('report: files read, steps as epochs, the trainer\'s images/s, learning curves against the paper, captions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikevae-report-'));
  try {
    const a = join(dir, 'fsvae-run');
    const b = join(dir, 'taid-run');
    syntheticRun(a, { model: 'fsvae' }, [[1, 0.31, 480], [2, 0.12, 210], [5, 0.07, 120]], 1210);
    syntheticRun(b, { model: 'fsvae', decoding: 'taid' }, [[1, 0.33, 400]], 250);
    writeFileSync(join(a, 'eval.json'), JSON.stringify({ checkpoint: join(a, 'checkpoint.safetensors'), step: 1210, recon: { mse: 0.1234, images: 10000 }, fad: { fad: 99.5, samples: 5120, comparableWithPapers: true } }));
    const out = join(dir, 'rep', 'report.html');
    const r = run(dir, 'report', a, b, '--out', out);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, new RegExp(`fsvae-run: 1,210 steps \\(5\\.04 of 150 epochs\\); metrics from ${join(a, 'eval.json').replace(/[/.]/g, '\\$&')}`));
    assert.match(r.err, /taid-run: 250 steps \(1\.04 of 150 epochs\); metrics from the trainer's records \(no eval\.json\)/);

    const md = readFileSync(join(dir, 'rep', 'report.md'), 'utf8');
    // The runs table: trained, eval.json's metrics, the fallback marked, 150 images/s.
    assert.match(md, /\| fsvae-run \| FSVAE \| 1,210 steps \(5\.04 of 150 epochs\) \| 0\.1234 \| 99\.50 \|.*\| 150\.0 \|/);
    assert.match(md, /\| taid-run \| TAID \| 250 steps \(1\.04 of 150 epochs\) \| 0\.2500† \|/);
    assert.match(md, /## Files read[\s\S]*eval\.json: recon, fad of checkpoint\.safetensors at step 1210/);
    assert.match(md, /taid-run\/eval\.json: none yet; '.*eval --checkpoint .*taid-run\/checkpoint\.safetensors' writes it/);
    // The curve table of each run.
    assert.match(md, /\| 5 \| 1200 \| 300,000 \| 0\.0700 \| 120\.00 \| 5120 \| 10000 \| 95\.2 \|/);

    // Learning-curve plots: our points against epochs, the papers' values as dashed lines with a legend.
    const fadSvg = readFileSync(join(dir, 'rep', 'report-fad.svg'), 'utf8');
    assert.match(fadSvg, />FSVAE paper: 35\.54</);
    assert.match(fadSvg, />TAID paper: 20\.14</);
    assert.equal((fadSvg.match(/stroke-dasharray/g) ?? []).length, 4, 'two dashed reference lines and their two legend keys');
    assert.equal((fadSvg.match(/<circle /g) ?? []).length, 4, 'one marker per curve point');
    const mseSvg = readFileSync(join(dir, 'rep', 'report-recon-mse.svg'), 'utf8');
    assert.match(mseSvg, />FSVAE paper: 0\.031</);
    assert.doesNotMatch(mseSvg, /TAID paper/, 'TAID published no reconstruction MSE');

    // Every picture in the HTML has a caption.
    const html = readFileSync(out, 'utf8');
    const pictures = (html.match(/<img |<svg /g) ?? []).length;
    assert.equal(pictures, 2 * 2 + 3, 'two PNGs per run and three plots');
    assert.equal((html.match(/<figcaption>/g) ?? []).length, pictures);
    assert.match(html, /<figcaption>Reconstructions: each test image is followed by its reconstruction \(fsvae-run\/reconstructions\.png\)<\/figcaption>/);
    assert.match(html, /<figcaption>Samples from the prior written by the trainer after 1 epoch \(/);

    // An eval.json of an earlier step (the run resumed since): its cells are marked, the note says how to measure again.
    writeFileSync(join(a, 'eval.json'), JSON.stringify({ checkpoint: join(a, 'checkpoint.safetensors'), step: 1000, recon: { mse: 0.1234, images: 10000 }, fad: { fad: 99.5, samples: 5120, comparableWithPapers: true } }));
    assert.equal(run(dir, 'report', a, '--out', out).code, 0);
    const staleMd = readFileSync(join(dir, 'rep', 'report.md'), 'utf8');
    assert.match(staleMd, /\| fsvae-run \| FSVAE \| 1,210 steps \(5\.04 of 150 epochs\) \| 0\.1234‡ \| 99\.50‡ \| – \| – \|/);
    assert.match(staleMd, /‡ fsvae-run: eval\.json measured step 1,000; the run is now at step 1,210 \('.*eval --checkpoint .*fsvae-run\/checkpoint\.safetensors' measures it again\)/);
    assert.doesNotMatch(md, /\d‡|^‡/m, 'no marker while eval.json is current');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('eval from another folder: the shipped FAD files, results kept in RUN_DIR/eval.json and merged per checkpoint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikevae-eval-'));
  try {
    const runDir = join(dir, 'runs', 'x');
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, 'config.json'), JSON.stringify({ model: 'fsvae', dataset: 'mnist', batchSize: 250, epochs: 150 }));
    const model = createModel('fsvae', 'mnist', {}, 1);
    const ck = join(runDir, 'checkpoint.safetensors');
    saveCheckpoint(ck, model, { model: 'fsvae', config: model.config, dataset: 'mnist', training: { step: 7 } });

    const own = join(dir, 'mine.json');
    let r = run(dir, 'eval', '--checkpoint', 'runs/x/checkpoint.safetensors', '--metrics', 'recon', '--test-limit', '50', '--batch-size', '50', '--json', own, '--quiet');
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /results kept in runs\/x\/eval\.json; '.*report runs\/x' shows them/);
    const first = JSON.parse(readFileSync(join(runDir, 'eval.json'), 'utf8'));
    assert.deepEqual(JSON.parse(readFileSync(own, 'utf8')).recon, first.recon, '--json gets the same results');
    assert.equal(first.step, 7);
    assert.equal(first.recon.images, 50);

    // No --fad-dir, run from a folder outside the checkout: the package's own official files.
    r = run(dir, 'eval', '--checkpoint', 'runs/x/checkpoint.safetensors', '--metrics', 'fad', '--fad-samples', '256', '--quiet');
    assert.equal(r.code, 0, r.err);
    const merged = JSON.parse(readFileSync(join(runDir, 'eval.json'), 'utf8'));
    assert.deepEqual(merged.recon, first.recon, 'the earlier metric of the same checkpoint and step is kept');
    assert.equal(merged.fad.weights, join(OFFICIAL_FAD_DIR, 'ae_mnist_64.safetensors'));
    assert.equal(merged.fad.comparableWithPapers, true);
    assert.ok(merged.fad.fad > 0);

    // Another checkpoint of the run replaces the file rather than mixing results.
    const best = join(runDir, 'best.safetensors');
    saveCheckpoint(best, model, { model: 'fsvae', config: model.config, dataset: 'mnist', training: { step: 5 } });
    r = run(dir, 'eval', '--checkpoint', best, '--metrics', 'recon', '--test-limit', '50', '--batch-size', '50', '--quiet');
    assert.equal(r.code, 0, r.err);
    const replaced = JSON.parse(readFileSync(join(runDir, 'eval.json'), 'utf8'));
    assert.equal(replaced.step, 5);
    assert.equal(replaced.fad, undefined);

    // A checkpoint outside any run folder: nothing is written next to it.
    const loose = join(dir, 'loose.safetensors');
    saveCheckpoint(loose, model, { model: 'fsvae', config: model.config, dataset: 'mnist' });
    r = run(dir, 'eval', '--checkpoint', loose, '--metrics', 'recon', '--test-limit', '50', '--batch-size', '50', '--quiet');
    assert.equal(r.code, 0, r.err);
    assert.ok(!existsSync(join(dir, 'eval.json')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hints name the command as it runs from here: spikevae once linked, npx spikevae in the checkout, else node with the path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikevae-cli-'));
  try {
    const probe = `import(${JSON.stringify(new URL('../src/util/package.js', import.meta.url).href)}).then((m) => process.stdout.write(m.cliName()))`;
    const name = (cwd: string, PATH: string) => spawnSync(process.execPath, ['-e', probe], { cwd, encoding: 'utf8', env: { ...process.env, PATH } }).stdout;
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    symlinkSync(MAIN, join(bin, 'spikevae')); // what npm link makes
    // PATHs without npm's global bin folder, which holds spikevae where the README's npm link was run.
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    assert.equal(name(dir, `${empty}:${bin}`), 'spikevae');
    assert.equal(name(packageRoot(), empty), 'npx spikevae');
    assert.equal(name(dir, empty), `node ${MAIN}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('report on classifier runs: accuracy from eval.json or the trainer, the best epoch, test error against the paper, learned neurons; mixed kinds refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikevae-report-cls-'));
  try {
    const classifierRun = (name: string, neuron: string, accuracies: number[], rates = [60]) => {
      const d = join(dir, name);
      mkdirSync(d);
      writeFileSync(join(d, 'config.json'), JSON.stringify({ model: 'alif-classifier', dataset: 'mnist', epochs: 15, batchSize: 16, logEvery: 10, neuron }));
      const lines: unknown[] = rates.map((imagesPerSec, i) => ({ kind: 'step', step: 10 * (i + 1), epoch: 0, loss: 0.05, imagesPerSec }));
      accuracies.forEach((a, e) => lines.push({ kind: 'epoch', step: 3750 * (e + 1), epoch: e, train: { loss: 0.01, accuracy: a - 0.02 }, test: { loss: 0.002, accuracy: a }, epochSeconds: 1800 }));
      writeFileSync(join(d, 'metrics.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
      return d;
    };
    const alif = classifierRun('alif', 'alif', [0.9792, 0.99, 0.9885]);
    // Three windows of 160 images: 1.6 s, 1.6 s, and 16,000 s (the process paused for 4.4 h), which is a stall, not training.
    const plif = classifierRun('plif', 'plif', [0.97], [100, 100, 0.01]);
    writeFileSync(
      join(alif, 'eval.json'),
      JSON.stringify({
        checkpoint: join(alif, 'checkpoint.safetensors'),
        step: 11250,
        accuracy: { accuracy: 0.9887, testImages: 10000, firingRates: { 'conv.0': 0.1327 }, neurons: [{ layer: 'conv.0', neuron: 'alif', tau: 1.5019, threshold: 0.5553 }] },
        cost: { perImage: { energyMicroJoule: 51.1 } },
      }),
    );
    const out = join(dir, 'rep', 'report.html');
    const r = run(dir, 'report', alif, plif, '--out', out);
    assert.equal(r.code, 0, r.err);
    const md = readFileSync(join(dir, 'rep', 'report.md'), 'utf8');
    assert.match(md, /\| alif \| alif \| 11,250 steps \(3\.00 of 15 epochs\) \| 98\.87 % \| 99\.00 % \(epoch 2\) \| 51\.10 \| 60\.0 \|/);
    assert.match(md, /\| plif \| plif \| 3,750 steps \(1\.00 of 15 epochs\) \| 97\.00 %† \| 97\.00 % \(epoch 1\) \| – \| 100\.0 \|/);
    assert.match(md, /† plif: the trainer's test pass after epoch 1/);
    assert.match(md, /plif: train images\/s leaves out 1 logged window that took over 20 times the median window \(4\.4 h in all: a paused process or a sleeping machine\)/);
    assert.doesNotMatch(md, /alif: train images\/s leaves out/);
    assert.match(md, /\| TAID paper: ALIF, T = 8, 1000 epochs \| 99\.78 % \| Table 5/);
    assert.match(md, /\| PLIF \(Fang et al\. 2021\), T = 8 \| 99\.72 % \|/);
    assert.match(md, /### alif: after each epoch[\s\S]*\| 2 \| 97\.00 % \| 99\.00 % \| 0\.00200 \| 30\.0 \|/);
    assert.match(md, /### alif: learned neurons \(eval\.json, step 11250\)[\s\S]*\| conv\.0 \| alif \| 1\.5019 \| 0\.5553 \| 0\.1327 \|/);
    const svg = readFileSync(join(dir, 'rep', 'report-test-error.svg'), 'utf8');
    assert.match(svg, /TAID paper \(ALIF, 1000 epochs\): 0\.22 %/);
    assert.match(svg, /alif \(alif\)/);
    assert.doesNotMatch(md, /recon MSE/);
    assert.match(md, /## Pictures \(the confusion matrix/);
    assert.doesNotMatch(md, /Samples, reconstructions/);

    const gen = join(dir, 'gen');
    syntheticRun(gen, { model: 'fsvae' }, [], 240);
    const mixed = run(dir, 'report', alif, gen, '--out', join(dir, 'mixed.html'));
    assert.equal(mixed.code, 1);
    assert.match(mixed.err, /^spikevae: report: alif is a classifier run and gen a generative one; report each kind on its own\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
