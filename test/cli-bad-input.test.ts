/**
 * Files a user hands the command line, damaged or crafted: each ends in one
 * line naming the file and exit status 1, never "internal error (please
 * report)" and a stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { saveCheckpoint, stateDict } from '../src/models/checkpoint.js';
import { createModel } from '../src/models/index.js';
import { loadFadEncoder, loadFadStats } from '../src/metrics/fad.js';
import { UserError } from '../src/util/errors.js';
import { withTempDir } from './temp-dir.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

function run(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', cwd });
  return { code: r.status, lines: r.stderr.split('\n').filter((l) => l && !l.includes('native kernels')) };
}

test('report on a run with a damaged config.json, metrics.jsonl or eval.json: one line naming the file', () => {
  withTempDir('cli-bad', (dir) => {
    const runDir = join(dir, 'run');
    mkdirSync(runDir);
    const cases: Array<[string, string, string]> = [
      ['config.json', '{"model": "fsvae"', 'not valid JSON ('],
      ['config.json', '[1, 2]', 'not a JSON object'],
      ['metrics.jsonl', '{"kind":"step","step":1}\n{"kind":"st', 'line 2 is not valid JSON ('],
      ['eval.json', 'null', 'not a JSON object'],
    ];
    for (const [name, text, problem] of cases) {
      writeFileSync(join(runDir, 'config.json'), '{"model": "fsvae", "dataset": "mnist"}');
      rmSync(join(runDir, 'metrics.jsonl'), { force: true });
      rmSync(join(runDir, 'eval.json'), { force: true });
      writeFileSync(join(runDir, name), text);
      const r = run(dir, 'report', 'run', '--out', join(dir, 'report.html'));
      assert.equal(r.code, 1, `${name}: ${r.lines.join('\n')}`);
      assert.equal(r.lines.length, 1, r.lines.join('\n'));
      assert.ok(r.lines[0].startsWith(`spikevae: ${join('run', name)}: ${problem}`), r.lines[0]);
    }
  });
});

test('checkpoints with nonsense metadata, from the command line: one line naming the file and the key', () => {
  withTempDir('cli-bad', (dir) => {
    const model = createModel('ann-vae', 'mnist', { latentDim: 4 }, 0);
    const ck = join(dir, 'ck.safetensors');
    saveCheckpoint(ck, model, { model: model.kind, config: model.config, dataset: 'imagenet' });
    let r = run(dir, 'reconstruct', '--checkpoint', ck, '--n', '2', '--out', join(dir, 'r.png'));
    assert.equal(r.code, 1);
    assert.deepEqual(r.lines, [`spikevae: ${ck}: metadata 'spikevae.dataset' is "imagenet", not one of mnist, fashion, cifar10, celeba; pass --dataset`]);
    const bad = join(dir, 'bad.safetensors');
    const config = JSON.stringify({ ...model.config, latentDim: -4 });
    writeFileSync(bad, encodeSafetensors(stateDict(model), { 'spikevae.model': 'ann-vae', 'spikevae.config': config }));
    r = run(dir, 'sample', '--checkpoint', bad, '--n', '2', '--out', join(dir, 's.png'));
    assert.equal(r.code, 1);
    assert.deepEqual(r.lines, [`spikevae: ${bad}: metadata 'spikevae.config': key 'latentDim' is -4; expected a whole number of at least 1`]);
  });
});

test('FAD weights whose shapes ask for a huge or odd encoder, and statistics of the wrong shape, are refused', () => {
  withTempDir('cli-bad', (dir) => {
    const p = join(dir, 'ae.safetensors');
    // Zero-element tensors cost no bytes in the file but set the encoder's geometry.
    const weights = (latent: number, channels: number) =>
      writeSafetensors(p, {
        'latent_layer.weight': { dtype: 'F32', shape: [latent, 0], data: new Float32Array(0) },
        'encoder.0.0.weight': { dtype: 'F32', shape: [32, channels, 0, 3], data: new Float32Array(0) },
      });
    weights(1_000_000_000, 1);
    assert.throws(() => loadFadEncoder(p), (e: Error) => e instanceof UserError && e.message.startsWith(`${p}: FAD autoencoder weights: latentDim 1000000000 would give fad-ae`));
    weights(64, 1_000_000_000);
    assert.throws(() => loadFadEncoder(p), (e: Error) => e instanceof UserError && /key 'inChannels' is 1000000000; expected one of 1, 3/.test(e.message));
    const s = join(dir, 'stats.safetensors');
    writeSafetensors(s, { mu: { dtype: 'F32', shape: [2, 2], data: new Float32Array(4) }, sigma: { dtype: 'F64', shape: [2, 2], data: new Float64Array(4) } });
    assert.throws(() => loadFadStats(s), (e: Error) => e instanceof UserError && e.message === `${s}: mu has shape [2, 2], expected a vector`);
  });
});
