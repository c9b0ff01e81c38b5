/** `spikevae eval` on a classifier checkpoint: accuracy, confusion matrix (JSON and PNG), rates, neuron parameters, spike cost. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlifClassifier, defaultClassifierConfig } from '../src/models/classifier.js';
import { saveCheckpoint } from '../src/models/checkpoint.js';
import { Random } from '../src/engine/random.js';
import { Tensor } from '../src/engine/tensor.js';
import { openDataset } from '../src/data/index.js';
import { decodePng } from '../src/io/image.js';
import { classifierCost } from '../src/metrics/classifier.js';
import { main } from '../src/cli/main.js';

test('eval on a classifier checkpoint: accuracy from the confusion matrix, per-class rows, rates and τ/V_th of every layer, a confusion PNG, spike cost', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikevae-clf-'));
  const model = new AlifClassifier(defaultClassifierConfig('mnist', { neuron: 'plif', decay0: 0.25 }), new Random(3));
  const ck = join(dir, 'model.safetensors');
  saveCheckpoint(ck, model, { model: model.kind, config: model.config, dataset: 'mnist' });
  const out = join(dir, 'eval.json');
  const chunks: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => (chunks.push(String(s)), true)) as typeof process.stderr.write;
  let code: number;
  try {
    code = await main(['node', 'spikevae', 'eval', '--checkpoint', ck, '--test-limit', '40', '--cost-images', '4', '--json', out, '--quiet']);
  } finally {
    process.stderr.write = write;
  }
  assert.equal(code, 0, chunks.join(''));
  const r = JSON.parse(readFileSync(out, 'utf8'));
  const acc = r.accuracy;
  assert.equal(acc.testImages, 40);
  const confusion: number[][] = acc.confusion;
  assert.equal(confusion.flat().reduce((a, v) => a + v, 0), 40);
  assert.equal(acc.accuracy, confusion.reduce((a, row, c) => a + row[c], 0) / 40);
  acc.perClass.forEach((c: { class: number; images: number }, i: number) => assert.equal(c.images, confusion[i].reduce((a, v) => a + v, 0)));
  assert.deepEqual(Object.keys(acc.firingRates), ['conv.0', 'conv.4', 'fc.3', 'fc.6']);
  // PLIF learns τ only; τ0 from decay 0.25 is 4/3, V_th0 0.5.
  for (const n of acc.neurons) assert.ok(Math.abs(n.tau - 4 / 3) < 1e-5 && n.threshold === 0.5 && n.learns.join() === 'tau', JSON.stringify(n));
  const png = decodePng(readFileSync(acc.confusionPng), acc.confusionPng);
  assert.equal(png.width, png.height);
  assert.equal(acc.confusionPng, join(dir, 'confusion.png'));
  assert.ok(chunks.join('').includes('test accuracy'), chunks.join(''));
  // In a run folder (config.json beside the checkpoint) the results are also kept in RUN_DIR/eval.json, as for the VAEs.
  writeFileSync(join(dir, 'config.json'), '{}\n');
  process.stderr.write = ((s: string) => (chunks.push(String(s)), true)) as typeof process.stderr.write;
  try {
    assert.equal(await main(['node', 'spikevae', 'eval', '--checkpoint', ck, '--metrics', 'accuracy', '--test-limit', '10', '--quiet']), 0);
  } finally {
    process.stderr.write = write;
  }
  const kept = JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8'));
  assert.equal(kept.accuracy.testImages, 10);
  assert.equal(kept.model, 'alif-classifier');
  // A generative metric on a classifier is one clear error.
  const errs: string[] = [];
  process.stderr.write = ((s: string) => (errs.push(String(s)), true)) as typeof process.stderr.write;
  try {
    assert.equal(await main(['node', 'spikevae', 'eval', '--checkpoint', ck, '--metrics', 'fad']), 1);
  } finally {
    process.stderr.write = write;
  }
  assert.match(errs.join(''), /'fad' does not apply to a classifier/);
});

test('classifier spike cost: the static convolution counts MACs once per image (border-exact taps); a spiking layer counts one AC per input spike and output', async () => {
  // A low threshold, so that every layer of the untrained network fires.
  const model = new AlifClassifier(defaultClassifierConfig('mnist', { vth0: 0.05 }), new Random(1));
  const data = await openDataset('mnist', 'test', { preprocessing: 'classifier', limit: 3 });
  const x = new Float32Array(3 * 784);
  await data.readBatch([0, 1, 2], null, x);
  const c = classifierCost(model, new Tensor(x, [3, 1, 28, 28]));
  const [stat, conv, fc1, fc2] = c.layers;
  // 28 outputs per axis with padding 1: 28·3 − 2 = 82 valid taps per axis.
  const convMacs = 82 * 82 * 128;
  const neurons = 128 * 28 * 28;
  assert.ok(stat.mac >= convMacs && stat.mac <= convMacs + 7 * neurons, `${stat.mac}`);
  assert.equal(stat.ac, 0);
  // fc.5 reads fc.3's spikes (no dropout in evaluation): 100 ACs per spike.
  assert.ok(fc1.spikes > 0 && Math.abs(fc2.ac - fc1.spikes * 100) < 1e-6 * fc2.ac, `${fc2.ac} vs ${fc1.spikes * 100}`);
  assert.ok(conv.ac > 0 && conv.firingRate! > 0);
  assert.ok(Math.abs(c.perImage.energyMicroJoule - (c.perImage.ac * 0.9 + c.perImage.mac * 4.6) / 1e6) < 1e-9);
});
