/**
 * `npm run bench`: the performance figures of docs/performance.md as JSON
 * lines — peak FMA throughput of this machine, per-kernel GFLOP/s, training
 * images/s at batch 64 and 250, sampling images/s, peak resident memory and
 * firing rates for each model, the MNIST ALIF classifier's training images/s
 * at batch 16 and 64 and where its batch-16 step goes, and the data loaders. Each model measurement
 * runs in its own process so its peak memory is its own. Not part of the tests.
 * With --checkpoint FILE (a trained model), sampling is also measured with its
 * weights: an untrained prior hardly fires, which flatters spike kernels.
 * With --official DIR (a copy of the official FSVAE source; or
 * SPIKEVAE_OFFICIAL_SRC) and Debian's python3-torch, it ends with the official
 * code's training step and sampling timed side by side with spikevae's, and
 * their ratios (bench/side-by-side.ts; several minutes more); otherwise with
 * one line saying why that part was skipped.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import { GENERATIVE_KINDS } from '../src/models/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const ckIndex = process.argv.indexOf('--checkpoint');
const checkpoint = ckIndex > 0 ? process.argv[ckIndex + 1] : undefined;
const officialIndex = process.argv.indexOf('--official');
const official = officialIndex > 0 ? ['--official', process.argv[officialIndex + 1]] : [];

function run(script: string, args: string[]): void {
  const r = spawnSync(process.execPath, [join(here, script), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) {
    console.log(JSON.stringify({ bench: script, args, error: `exit ${r.status}` }));
    return;
  }
  process.stdout.write(r.stdout);
}

console.log(JSON.stringify({ bench: 'machine', cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, date: new Date().toISOString() }));
run('ops.js', quick ? ['--quick'] : []);
for (const model of GENERATIVE_KINDS) {
  run('fsvae-step.js', ['--model', model, '--batch', '64', '--steps', quick ? '1' : '3']);
  run('fsvae-step.js', ['--model', model, '--batch', '250', '--steps', quick ? '1' : '2']);
  run('fsvae-step.js', ['--model', model, '--sample', quick ? '64' : '512']);
}
if (checkpoint) run('fsvae-step.js', ['--sample', quick ? '64' : '512', '--checkpoint', checkpoint]);
// The TAID paper's MNIST classifier (ALIF) at its batch 16 and at 64.
for (const b of ['16', '64']) run('classifier-step.js', ['--dataset', 'mnist', '--batch', b, '--steps', quick ? '1' : '3']);
// Where its batch-16 step goes (kernels by shape, JavaScript, fresh memory).
run('classifier-profile.js', ['--batch', '16', '--steps', quick ? '1' : '3']);
// Its two fused neuron + pooling backward kernels alone.
run('plif-pool.js', []);
run('profile.js', ['--batch', '64']);
run('first-touch.js', []);
run('spike-products.js', []);
run('data.js', []);
run('side-by-side.js', official);
