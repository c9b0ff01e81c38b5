/**
 * The official FSVAE code and spikevae timed in the same run on this machine,
 * and their ratios (part of `npm run bench`). Needs Debian's PyTorch
 * (`apt-get install python3-torch python3-numpy python3-yaml`), a copy of the
 * official source (kamata1729/FullySpikingVAE; its .py and .yaml files
 * suffice) and the project's timing script for it
 * (../shared/bench/official_fsvae_timing.py next to the repository, or
 * --official-script). Without one of them it prints one line saying which is
 * missing, and times nothing.
 *
 * Usage: node dist/bench/side-by-side.js --official DIR [--official-script FILE] [--runs 1] [--batch 64] [--blas auto|system|FILE]
 * (DIR may also come from SPIKEVAE_OFFICIAL_SRC). The official side is the
 * script's MNIST configuration at the same batch and thread count (its
 * training step and its sampling of one batch, each the median of --runs
 * after a warm-up); the spikevae side is fsvae-step.js (training at the same
 * batch on MNIST images, and sampling in batches of 64). Prints JSON lines.
 *
 * PyTorch's linear layers call the system BLAS, and Debian's default
 * libblas.so.3 is the unoptimised reference implementation (8 GFLOP/s here
 * against OpenBLAS's 110 for the posterior's product, one thread;
 * docs/performance.md, "Side by side", has the command), which
 * would handicap the official side: with --blas auto (the default) an
 * installed OpenBLAS (apt-get install libopenblas0-pthread) is preloaded for
 * the official side whatever the system default is; --blas system keeps the
 * default, --blas FILE preloads FILE. The JSON says which BLAS ran.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const { values } = parseArgs({
  options: {
    official: { type: 'string' },
    'official-script': { type: 'string' },
    runs: { type: 'string', default: '1' },
    batch: { type: 'string', default: '64' },
    python: { type: 'string', default: '/usr/bin/python3' },
    blas: { type: 'string', default: 'auto' },
  },
  strict: false,
});
const src = (values.official as string | undefined) ?? process.env.SPIKEVAE_OFFICIAL_SRC;
const script = (values['official-script'] as string | undefined) ?? join(repo, '..', 'shared', 'bench', 'official_fsvae_timing.py');
const python = values.python as string;
const batch = String(values.batch);
const threads = availableParallelism();

function skip(why: string): never {
  console.log(JSON.stringify({ bench: 'side-by-side', skipped: why }));
  process.exit(0);
}

if (!src) skip('no copy of the official FSVAE source given (--official DIR or SPIKEVAE_OFFICIAL_SRC)');
if (!existsSync(join(src, 'fsvae_models', 'fsvae.py'))) skip(`${src} holds no official FSVAE source (fsvae_models/fsvae.py missing)`);
if (!existsSync(script)) skip(`timing script ${script} not found (--official-script FILE)`);
const probe = spawnSync(python, ['-c', 'import torch, yaml, numpy; print(torch.__version__)'], { encoding: 'utf8' });
if (probe.status !== 0) skip(`${python} cannot import torch, yaml and numpy (apt-get install python3-torch python3-numpy python3-yaml)`);

/** Runs a command and returns its stdout, or stops with one line naming the failure. */
function output(cmd: string, args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24, env: { ...process.env, ...env } });
  if (r.status !== 0) skip(`${[cmd, ...args].join(' ')} failed (exit ${r.status})`);
  return r.stdout;
}

/** The last JSON line of fsvae-step.js. */
function spikevae(args: string[]): Record<string, unknown> {
  const lines = output(process.execPath, ['--expose-gc', join(here, 'fsvae-step.js'), ...args]).trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

const OPENBLAS = '/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3';
const blasChoice = String(values.blas);
const blasFile = blasChoice === 'system' ? null : blasChoice === 'auto' ? (existsSync(OPENBLAS) ? OPENBLAS : null) : blasChoice;
if (blasFile !== null && !existsSync(blasFile)) skip(`--blas ${blasFile}: no such file`);
const blasEnv: Record<string, string> = blasFile === null ? {} : { LD_PRELOAD: blasFile, OPENBLAS_NUM_THREADS: String(threads) };
const officialBlas = blasFile ?? `the system's libblas.so.3 (${blasChoice === 'auto' ? 'no OpenBLAS installed: apt-get install libopenblas0-pthread; ' : ''}Debian's default is the unoptimised reference BLAS)`;

const t0 = Date.now();
const official = JSON.parse(output(python, [script, src, '--threads', String(threads), '--batch', batch, '--runs', String(values.runs)], blasEnv)) as {
  torch: string;
  threads: number;
  train_step: { median_s: number };
  sample: { median_s: number };
};
const officialSeconds = (Date.now() - t0) / 1000;
const train = spikevae(['--model', 'fsvae', '--batch', batch, '--steps', '3']);
const sample = spikevae(['--model', 'fsvae', '--sample', '512']);
const b = Number(batch);
const officialTrain = b / official.train_step.median_s;
const officialSample = b / official.sample.median_s;
const ours = { train: train.imagesPerSec as number, sample: sample.imagesPerSec as number };
console.log(
  JSON.stringify({
    bench: 'side-by-side',
    batch: b,
    threads,
    official: { torch: official.torch, blas: officialBlas, threads: official.threads, trainSecondsPerStep: official.train_step.median_s, trainImagesPerSec: officialTrain, sampleSecondsPer64: official.sample.median_s * (64 / b), sampleImagesPerSec: officialSample, wallSeconds: officialSeconds },
    spikevae: { trainImagesPerSec: ours.train, sampleImagesPerSec: ours.sample, backend: train.backend },
    ratio: { train: ours.train / officialTrain, sample: ours.sample / officialSample },
  }),
);
