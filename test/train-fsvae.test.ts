/**
 * Training end to end on real MNIST images: the loss falls, a stopped and
 * resumed run equals an uninterrupted one bit for bit (weights, optimizer
 * moments, generator state), Ctrl-C writes a checkpoint (exit status 130),
 * and a non-finite loss stops training with a message naming the step and
 * the terms. More failure modes: train-reliability.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Trainer, TrainConfig } from '../src/train/trainer.js';
import { readMetrics, sameTensors, tinyConfig, tmp } from './train-helpers.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { UserError } from '../src/util/errors.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'src', 'cli', 'main.js');

const config = (o: Partial<TrainConfig> = {}) => tinyConfig(o);

test('a small FSVAE trained on MNIST images: the loss falls', async () => {
  const dir = tmp();
  try {
    // Repeated passes over 16 images, so the fall is reconstruction learning, not noise.
    const t = Trainer.create(config({ epochs: 12, trainLimit: 16, batchSize: 8, lr: 3e-3 }), { out: dir, quiet: true });
    const summary = await t.train();
    assert.equal(summary.steps, 24);
    const losses = readMetrics(dir)
      .filter((m) => m.kind === 'step')
      .map((m) => m.loss as number);
    const first = losses.slice(0, 4).reduce((a, b) => a + b, 0) / 4;
    const last = losses.slice(-4).reduce((a, b) => a + b, 0) / 4;
    assert.ok(last < 0.6 * first, `loss should fall: first steps ${first.toFixed(3)}, last steps ${last.toFixed(3)}`);
    for (const f of ['config.json', 'checkpoint.safetensors', 'checkpoint.optimizer-24.safetensors', 'best.safetensors', 'samples/epoch-000.png', 'samples/epoch-011.png']) {
      assert.ok(existsSync(join(dir, f)), `${f} should exist`);
    }
    const epochs = readMetrics(dir).filter((m) => m.kind === 'epoch');
    assert.equal(epochs.length, 12);
    assert.ok(typeof (epochs[0].test as Record<string, number>).recon === 'number');
    // The report of this run: tables, the loss curve and the embedded sample grid.
    const html = join(dir, 'report.html');
    const { main } = await import('../src/cli/main.js');
    assert.equal(await main(['node', 'spikevae', 'report', dir, '--out', html]), 0);
    const page = readFileSync(html, 'utf8');
    assert.match(page, /<h1>spikevae report — mnist<\/h1>/);
    assert.match(page, /<polyline/);
    assert.match(page, /data:image\/png;base64,/);
    assert.match(readFileSync(join(dir, 'report.md'), 'utf8'), /\| FSVAE \| 0\.031 \| 35\.54 \|/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a run stopped mid-epoch and resumed equals an uninterrupted run bit for bit', async () => {
  const a = tmp();
  const b = tmp();
  try {
    // 3 batches per epoch; 7 steps cross two epoch boundaries.
    await Trainer.create(config(), { out: a, quiet: true, maxSteps: 7 }).train();
    // Run B is stopped after step 4 (mid-epoch), the way Ctrl-C stops it.
    const first = Trainer.create(config(), { out: b, quiet: true });
    first.run.onStep = (step) => {
      if (step === 4) first.requestStop();
    };
    const s1 = await first.train();
    assert.equal(s1.stoppedBy, 'interrupt');
    assert.equal(s1.steps, 4);
    const s2 = await Trainer.resume(b, { quiet: true, maxSteps: 7 }).train();
    assert.equal(s2.steps, 7);
    sameTensors(join(a, 'checkpoint.safetensors'), join(b, 'checkpoint.safetensors'));
    sameTensors(join(a, 'checkpoint.optimizer-7.safetensors'), join(b, 'checkpoint.optimizer-7.safetensors'));
    const ta = readSafetensors(join(a, 'checkpoint.safetensors')).metadata['spikevae.training'];
    const tb = readSafetensors(join(b, 'checkpoint.safetensors')).metadata['spikevae.training'];
    const strip = (s: string) => {
      const o = JSON.parse(s) as Record<string, unknown>;
      delete o.elapsedSeconds;
      return o;
    };
    assert.deepEqual(strip(tb), strip(ta), 'training state (epoch, step, generator) differs');
    const la = readMetrics(a).filter((m) => m.kind === 'step').map((m) => m.loss);
    const lb = readMetrics(b).filter((m) => m.kind === 'step').map((m) => m.loss);
    assert.deepEqual(lb, la, 'per-step losses differ');
    // The epoch the interruption fell in reports the whole epoch's training means.
    const ea = readMetrics(a).filter((m) => m.kind === 'epoch').map((m) => m.train);
    const eb = readMetrics(b).filter((m) => m.kind === 'epoch').map((m) => m.train);
    assert.deepEqual(eb, ea, 'epoch training means differ');
  } finally {
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
});

test('Ctrl-C during training writes a checkpoint and says how to resume', async () => {
  const dir = tmp();
  try {
    const child = spawn(
      process.execPath,
      [cli, 'train', '--dataset', 'mnist', '--batch-size', '8', '--train-limit', '400', '--test-limit', '8', '--time-steps', '4', '--latent-dim', '16', '--k', '4', '--epochs', '1', '--out', dir],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SPIKEVAE_QUIET: '1' } },
    );
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      // Interrupt once training has made progress (plain progress lines on a pipe).
      if (/fsvae\/mnist \d+\/50/.test(err) && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 130, err);
    assert.match(err, /SIGINT received/);
    assert.match(err, /continue with: (spikevae|npx spikevae|node \S+main\.js) train --resume/);
    const md = readSafetensors(join(dir, 'checkpoint.safetensors')).metadata;
    const state = JSON.parse(md['spikevae.training']) as { step: number };
    assert.ok(state.step >= 1 && state.step < 50, `checkpoint at step ${state.step}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a non-finite loss stops training naming the step and the loss terms; the checkpoint is kept', async () => {
  const dir = tmp();
  try {
    const t = Trainer.create(config({ epochs: 1 }), { out: dir, quiet: true, maxSteps: 1 });
    await t.train();
    const before = readFileSync(join(dir, 'checkpoint.safetensors'));
    const resumed = Trainer.resume(dir, { quiet: true, maxSteps: 3 });
    // Poison the last (non-spiking) layer: spikes would swallow a NaN (NaN > 0.2 is false).
    resumed.model.namedParameters().get('final_layer.1.weight')!.data[0] = NaN;
    await assert.rejects(resumed.train(), (e: Error) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /step 2 .*loss is not finite \(loss=NaN, recon=NaN/);
      assert.match(e.message, /the last checkpoint .* \(step 1\) is kept/);
      return true;
    });
    assert.ok(readFileSync(join(dir, 'checkpoint.safetensors')).equals(before), 'checkpoint must not be overwritten');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
