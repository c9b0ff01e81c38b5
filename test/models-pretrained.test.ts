/**
 * Shipped pretrained models: `pretrained:NAME` resolves to pretrained/NAME.safetensors
 * from any working directory, unknown names are refused with the list of
 * known ones, and every shipped file matches its model card (sha256, and the
 * metrics the card's own command measures for the FSVAE used by `npm start`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPretrained, loadPretrainedClassifier } from '../src/models/index.js';
import { readCheckpoint } from '../src/models/checkpoint.js';
import { pretrainedDir, pretrainedNames, resolveCheckpointPath } from '../src/models/pretrained.js';
import { UserError } from '../src/util/errors.js';
import { withTempDir } from './temp-dir.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'src', 'cli', 'main.js');
const names = pretrainedNames();

test('pretrained:NAME names a file in the package; unknown names list the known ones', () => {
  assert.equal(resolveCheckpointPath('runs/x/checkpoint.safetensors'), 'runs/x/checkpoint.safetensors');
  for (const bad of ['pretrained:no-such-model', 'pretrained:../config', 'pretrained:']) {
    assert.throws(
      () => resolveCheckpointPath(bad),
      (e: Error) => e instanceof UserError && e.message.startsWith(`${bad}: no such pretrained model (available: `) && (names.length === 0 || e.message.includes(names[0])),
    );
  }
  for (const n of names) assert.equal(resolveCheckpointPath(`pretrained:${n}`), join(pretrainedDir(), `${n}.safetensors`));
});

test('every shipped model loads, has a card, and its sha256 is the card\'s', { skip: names.length === 0 && 'no pretrained models in this checkout' }, () => {
  for (const n of names) {
    const card = join(pretrainedDir(), `${n}.md`);
    assert.ok(existsSync(card), `${n} has no model card`);
    const sha = createHash('sha256').update(readFileSync(join(pretrainedDir(), `${n}.safetensors`))).digest('hex');
    assert.match(readFileSync(card, 'utf8'), new RegExp(`sha256 \\| \`${sha}\``), `${n}: the card's sha256 is not the file's`);
    // Classifiers and generative models load through their own entry points.
    const kind = readCheckpoint(`pretrained:${n}`).model;
    const { model, checkpoint } = kind === 'alif-classifier' ? loadPretrainedClassifier(n) : loadPretrained(n);
    assert.ok(model.parameterCount() > 0);
    assert.ok(checkpoint.file.metadata['spikevae.metrics'], `${n}: no metrics metadata`);
  }
});

test('`spikevae eval --checkpoint pretrained:fsvae-mnist` from another directory reproduces the card', { skip: !names.includes('fsvae-mnist') && 'fsvae-mnist is not shipped in this checkout' }, () => {
  const r = spawnSync(process.execPath, [cli, 'eval', '--checkpoint', 'pretrained:fsvae-mnist', '--metrics', 'recon,fad', '--json', '-'], {
    encoding: 'utf8',
    cwd: '/',
    env: { ...process.env, SPIKEVAE_QUIET: '1' },
  });
  assert.equal(r.status, 0, r.stderr);
  const ev = JSON.parse(r.stdout) as { recon: { mse: number }; fad: { fad: number } };
  const card = readFileSync(join(pretrainedDir(), 'fsvae-mnist.md'), 'utf8');
  assert.ok(card.includes(`| ${ev.recon.mse.toFixed(4)} |`), `card lacks the measured MSE ${ev.recon.mse.toFixed(4)}`);
  assert.ok(card.includes(`| ${ev.fad.fad.toFixed(2)} |`), `card lacks the measured FAD ${ev.fad.fad.toFixed(2)}`);
});

test('`spikevae eval --checkpoint pretrained:alif-mnist` reproduces the card\'s accuracy from its int8-stored weights', { skip: !names.includes('alif-mnist') && 'alif-mnist is not shipped in this checkout' }, () => {
  let r!: ReturnType<typeof spawnSync>;
  withTempDir('alif', (dir) => {
    r = spawnSync(process.execPath, [cli, 'eval', '--checkpoint', 'pretrained:alif-mnist', '--metrics', 'accuracy', '--json', '-'], {
      encoding: 'utf8',
      cwd: dir,
      env: { ...process.env, SPIKEVAE_QUIET: '1' },
    });
    assert.equal(r.status, 0, String(r.stderr));
    assert.ok(existsSync(join(dir, 'confusion.png')), 'the confusion matrix is written in the working directory');
  });
  const ev = JSON.parse(String(r.stdout)) as { accuracy: { accuracy: number; testImages: number } };
  assert.equal(ev.accuracy.testImages, 10000);
  const card = readFileSync(join(pretrainedDir(), 'alif-mnist.md'), 'utf8');
  const pct = `${(100 * ev.accuracy.accuracy).toFixed(2)} %`;
  assert.ok(card.includes(`| test accuracy (10000 images) | ${pct} |`), `card lacks the measured accuracy ${pct}`);
});
