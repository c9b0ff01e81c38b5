/**
 * The classifier through the shared training loop: labelled batches, the
 * cosine schedule per epoch, test accuracy over images, the best checkpoint
 * by accuracy, no sample grids, and an exact resume.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Trainer, TrainConfig } from '../src/train/trainer.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { cosineAnnealingFactor } from '../src/engine/optim.js';

function config(overrides: Partial<TrainConfig> = {}): TrainConfig {
  return {
    model: 'alif-classifier',
    dataset: 'mnist',
    epochs: 2,
    batchSize: 8,
    lr: 1e-3,
    weightDecay: 0,
    seed: 5,
    timeSteps: 3,
    neuron: 'alif',
    trainLimit: 20, // two whole batches per epoch: the last 4 images are dropped, as train.py drops them
    testLimit: 13, // one partial test batch is kept
    sampleCount: 4,
    logEvery: 1,
    checkpointMinutes: 60,
    ...overrides,
  };
}

test('alif-classifier through the trainer: whole training batches, every test image, accuracy-selected best checkpoint, no samples; a resumed run equals an uninterrupted one', async () => {
  const full = mkdtempSync(join(tmpdir(), 'spikevae-clf-train-'));
  const t = Trainer.create(config(), { out: full, quiet: true });
  const summary = await t.train();
  assert.equal(summary.steps, 4);
  // Epoch 1 of the cosine schedule (T_max 64).
  assert.ok(Math.abs(t.optimizer.groups[0].lr - 1e-3 * cosineAnnealingFactor(1, 64)) < 1e-15);
  const lines = readFileSync(join(full, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const epochs = lines.filter((l) => l.kind === 'epoch');
  assert.equal(epochs.length, 2);
  for (const e of epochs) {
    assert.ok(e.test.accuracy >= 0 && e.test.accuracy <= 1 && Number.isInteger(Math.round(e.test.accuracy * 13 * 1e6) / 1e6), `accuracy ${e.test.accuracy} is not a count over 13 images`);
    assert.equal(e.samples, null);
  }
  assert.deepEqual(readdirSync(join(full, 'samples')), []);
  // best.safetensors follows the highest test accuracy so far (not the lowest loss).
  let top = -1;
  for (const e of epochs) {
    assert.equal(e.best, e.test.accuracy > top, `epoch ${e.epoch}`);
    top = Math.max(top, e.test.accuracy);
  }

  const part = mkdtempSync(join(tmpdir(), 'spikevae-clf-train-'));
  await Trainer.create(config(), { out: part, quiet: true, maxSteps: 3 }).train();
  await Trainer.resume(part, { quiet: true }).train();
  const a = readSafetensors(join(full, 'checkpoint.safetensors')).tensors;
  const b = readSafetensors(join(part, 'checkpoint.safetensors')).tensors;
  for (const name of ['fc.2.weight', 'conv.0.w', 'conv.0.v_threshold', 'fc.6.v_threshold', 'conv.3.running_var']) {
    assert.deepEqual(b.get(name)!.data, a.get(name)!.data, name);
  }
});
