/**
 * `spikevae train-ae`: the FAD autoencoder has the official parameter counts
 * and state_dict layout (so its encoder loads as FAD features), its loss falls,
 * and the command trains, resumes, and writes weights and statistics that eval
 * reads and labels as not comparable with the papers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createModel } from '../src/models/index.js';
import { FadAutoencoder } from '../src/models/fadae.js';
import { AdamW } from '../src/engine/optim.js';
import { Random } from '../src/engine/random.js';
import { Tensor } from '../src/engine/tensor.js';
import { covariance } from '../src/metrics/linalg.js';
import { openDataset } from '../src/data/index.js';
import { loadFadEncoder, loadFadStats } from '../src/metrics/fad.js';
import { readSafetensors } from '../src/io/safetensors.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });

test('parameter counts equal the official AE-64 (MNIST), AE-128 (CIFAR-10) and AELarge-128 (CelebA) files', () => {
  assert.equal(createModel('fad-ae', 'mnist', {}, 0).parameterCount(), 918_305);
  assert.equal(createModel('fad-ae', 'cifar10', {}, 0).parameterCount(), 1_050_595);
  assert.equal(createModel('fad-ae', 'celeba', {}, 0).parameterCount(), 3_675_363);
});

test('MSE falls in 20 steps on MNIST images', async () => {
  const model = createModel('fad-ae', 'mnist', {}, 3) as FadAutoencoder;
  const ds = await openDataset('mnist', 'train', { limit: 64, forAnn: true });
  const buf = new Float32Array(64 * 32 * 32);
  await ds.readBatch(Int32Array.from({ length: 64 }, (_, i) => i), null, buf);
  await ds.close();
  const x = new Tensor(buf, [64, 1, 32, 32]);
  const opt = new AdamW(model.paramGroups(1e-3, 0.01));
  const rng = new Random(0);
  model.train();
  const losses: number[] = [];
  for (let s = 0; s < 20; s++) {
    const { loss, terms } = model.lossOnBatch(x, rng);
    model.zeroGrad();
    loss.backward();
    opt.step();
    losses.push(terms.loss);
  }
  assert.ok(losses[19] < 0.6 * losses[0], `loss ${losses[0]} → ${losses[19]}`);
});

test('train-ae: interrupted, resumed, exported; the weights load as FAD features and eval labels the FAD', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikevae-ae-'));
  try {
    const out = join(dir, 'ae');
    let r = run('train-ae', '--dataset', 'mnist', '--epochs', '1', '--batch-size', '50', '--train-limit', '200', '--test-limit', '100', '--max-steps', '2', '--out', out, '--quiet');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /continue with: (spikevae|npx spikevae|node \S+main\.js) train-ae --resume/);
    assert.ok(!existsSync(join(out, 'ae_mnist_64.safetensors')));
    r = run('train-ae', '--resume', out, '--quiet');
    assert.equal(r.status, 0, r.stderr);
    const weights = join(out, 'ae_mnist_64.safetensors');
    const statsPath = join(out, 'stats_mnist_test_64.safetensors');
    assert.match(r.stderr, /not comparable/);
    // Every official tensor name, and the encoder part loads as FAD features.
    const names = [...readSafetensors(weights).tensors.keys()];
    for (const n of ['encoder.0.0.weight', 'encoder.3.1.running_var', 'latent_layer.weight', 'decoder_input.weight', 'decoder.2.0.weight', 'final_layer.0.weight', 'final_layer.1.bias', 'final_layer.3.weight']) {
      assert.ok(names.includes(n), n);
    }
    const enc = loadFadEncoder(weights);
    assert.equal(enc.latentDim, 64);
    const stats = loadFadStats(statsPath);
    assert.equal(stats.comparableWithPapers, false);
    const st = readSafetensors(statsPath).tensors;
    assert.equal(st.get('mu')!.dtype, 'F32');
    assert.equal(st.get('sigma')!.dtype, 'F64');
    assert.deepEqual(st.get('sigma')!.shape, [64, 64]);
    // The statistics are those of the test images' features (here the first 100).
    const ds = await openDataset('mnist', 'test', { limit: 100, forAnn: true });
    const buf = new Float32Array(100 * 32 * 32);
    await ds.readBatch(Int32Array.from({ length: 100 }, (_, i) => i), null, buf);
    await ds.close();
    const { mean, cov } = covariance(enc.features(buf, 100), 100, 64);
    for (let i = 0; i < 64; i++) assert.ok(Math.abs(stats.mu[i] - Math.fround(mean[i])) < 1e-6 * (1 + Math.abs(mean[i])));
    for (let i = 0; i < 64 * 64; i++) assert.ok(Math.abs(stats.sigma[i] - cov[i]) < 1e-9 * (1 + Math.abs(cov[i])));
    r = run('eval', '--checkpoint', join(out, 'checkpoint.safetensors'), '--metrics', 'fad', '--fad-dir', out, '--fad-samples', '256', '--quiet');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /FAD: [0-9.]+ over 256 generated images \(self-trained autoencoder/);
    // A train-ae run is continued by train-ae only (train would never export its files).
    r = run('train', '--resume', out);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /made by train-ae; continue it with (spikevae|npx spikevae|node \S+main\.js) train-ae --resume/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    r = run('train-ae', '--resume', join(dir, 'nope'));
    assert.notEqual(r.status, 0);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
