/**
 * Atomic writes when writing fails: a full disk or an I/O error (injected
 * into node:fs), a directory where the file should go. One line names the
 * destination, the old file is untouched and no temporary file is left.
 */
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/util/atomic.js';
import { UserError } from '../src/util/errors.js';
import { createModel } from '../src/models/index.js';
import { saveCheckpoint } from '../src/models/checkpoint.js';
import { withTempDir } from './temp-dir.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Runs `fn` with fs.<name> failing with `code` on file descriptors other than stdio (the ESM bindings follow). */
function failing<T>(name: 'writeSync' | 'fsyncSync' | 'renameSync', code: string, fn: () => T): T {
  const real = fs[name] as (...a: unknown[]) => unknown;
  mock.method(fs, name, (...args: unknown[]) => {
    if (name !== 'renameSync' && typeof args[0] === 'number' && args[0] <= 2) return real(...args);
    throw Object.assign(new Error(`${code}: injected, ${name}`), { code, syscall: name });
  });
  syncBuiltinESMExports();
  try {
    return fn();
  } finally {
    mock.restoreAll();
    syncBuiltinESMExports();
  }
}

test('a full disk or an I/O error: one line naming the file, the old file kept, no temporary file left', () => {
  withTempDir('atomic', (dir) => {
    const p = join(dir, 'out.bin');
    fs.writeFileSync(p, 'old');
    const cases: Array<['writeSync' | 'fsyncSync' | 'renameSync', string, RegExp]> = [
      ['writeSync', 'ENOSPC', /no space left on device/],
      ['fsyncSync', 'EIO', /input\/output error/],
      ['renameSync', 'EDQUOT', /disk quota exceeded/],
    ];
    for (const [fn, code, re] of cases) {
      let err: unknown;
      failing(fn, code, () => {
        try {
          writeFileAtomic(p, Buffer.alloc(100_000, 1));
        } catch (e) {
          err = e;
        }
      });
      assert.ok(err instanceof UserError, `${code}: ${String(err)}`);
      assert.equal(err.message.split('\n').length, 1);
      assert.ok(err.message.startsWith(`${p}: cannot write (`), err.message);
      assert.match(err.message, re);
      assert.deepEqual(fs.readdirSync(dir), ['out.bin'], `${code}: no temporary file`);
      assert.equal(fs.readFileSync(p, 'utf8'), 'old');
    }
    // Without a fault the write goes through.
    writeFileAtomic(p, 'new');
    assert.equal(fs.readFileSync(p, 'utf8'), 'new');
    assert.deepEqual(fs.readdirSync(dir), ['out.bin']);
  });
});

test('a directory where the file should go is refused before anything is written', () => {
  withTempDir('atomic', (dir) => {
    const target = join(dir, 'grid.png');
    fs.mkdirSync(target);
    assert.throws(() => writeFileAtomic(target, 'x'), (e: Error) => e instanceof UserError && e.message === `${target}: is a directory; name a file to write`);
    assert.deepEqual(fs.readdirSync(dir), ['grid.png']);
    // A parent that is a file.
    fs.writeFileSync(join(dir, 'file'), '');
    assert.throws(() => writeFileAtomic(join(dir, 'file', 'x.png'), 'x'), (e: Error) => e instanceof UserError && e.message.startsWith(`${join(dir, 'file', 'x.png')}: cannot write`));
  });
});

test('sample --out naming a directory: one line, exit 1, no temporary file', () => {
  withTempDir('atomic', (dir) => {
    const model = createModel('ann-vae', 'mnist', { latentDim: 4 }, 0);
    const ck = join(dir, 'ck.safetensors');
    saveCheckpoint(ck, model, { model: model.kind, config: model.config });
    const out = join(dir, 'samples');
    fs.mkdirSync(out);
    const r = spawnSync(process.execPath, [MAIN, 'sample', '--checkpoint', ck, '--n', '2', '--out', out], { encoding: 'utf8' });
    const lines = r.stderr.split('\n').filter((l) => l && !l.includes('native kernels'));
    assert.equal(r.status, 1, r.stderr);
    assert.deepEqual(lines, [`spikevae: ${out}: is a directory; name a file to write`]);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['ck.safetensors', 'samples']);
    assert.deepEqual(fs.readdirSync(out), []);
  });
});

test('a named pipe (like /dev/null or /dev/stdout) is written in place, not replaced by a file', { timeout: 20000 }, async () => {
  const { spawn } = await import('node:child_process');
  const dir = fs.mkdtempSync(join((await import('node:os')).tmpdir(), 'spikevae-fifo-'));
  try {
    const fifo = join(dir, 'pipe');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    // If the pipe were replaced, nothing would ever open it for writing and cat would wait forever.
    const reader = spawn('cat', [fifo], { timeout: 10000 });
    let got = '';
    reader.stdout.on('data', (d: Buffer) => (got += d.toString()));
    const closed = new Promise((resolve) => reader.on('close', resolve));
    writeFileAtomic(fifo, 'through the pipe\n');
    await closed;
    assert.equal(got, 'through the pipe\n');
    assert.ok(fs.statSync(fifo).isFIFO(), 'the pipe is still a pipe');
    assert.deepEqual(fs.readdirSync(dir), ['pipe'], 'no temporary file left');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
