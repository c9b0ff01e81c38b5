/**
 * Atomic file writes: write to a temporary file in the same directory, fsync,
 * then rename over the destination. A crash or Ctrl-C at any moment leaves
 * either the old file or the new one, never a half-written one; the
 * directory is synced after the rename so the new name survives a power cut.
 * A write that fails (a full disk, an I/O error, a directory in the way)
 * removes its temporary file and is reported as one line naming the
 * destination.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { UserError } from './errors.js';

const WHY: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EISDIR: 'is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  ENAMETOOLONG: 'file name too long',
  EFBIG: 'file too large',
};

function writeError(path: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (e instanceof UserError || typeof code !== 'string') return e;
  return new UserError(`${path}: cannot write (${WHY[code] ?? (e as Error).message})`);
}

export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const dir = dirname(path);
  const tmp = join(dir, `.tmp-${basename(path)}-${process.pid}-${Date.now()}`);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd: number | null = null;
  try {
    mkdirSync(dir, { recursive: true });
    const existing = statSync(path, { throwIfNoEntry: false });
    if (existing?.isDirectory()) throw new UserError(`${path}: is a directory; name a file to write`);
    // /dev/null, /dev/stdout, a named pipe: written in place. Renaming a file
    // over them would replace the device or pipe itself (as root, /dev/null).
    if (existing && !existing.isFile()) return writeInPlace(path, bytes);
    fd = openSync(tmp, 'w');
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
    const done = fd;
    fd = null;
    closeSync(done);
    renameSync(tmp, path);
  } catch (e) {
    // Clean up as far as possible; the first error is the one to report.
    try {
      if (fd !== null) closeSync(fd);
    } catch {}
    try {
      rmSync(tmp, { force: true });
    } catch {}
    throw writeError(path, e);
  }
  syncDirectory(dir);
}

function writeInPlace(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, 'w');
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
  } finally {
    closeSync(fd);
  }
}

/** Makes a rename in `dir` durable (a power cut after it keeps the new name). */
function syncDirectory(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on directories; the rename itself is still atomic.
  } finally {
    if (fd !== null) closeSync(fd);
  }
}
