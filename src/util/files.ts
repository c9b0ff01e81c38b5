/** Reading user-named files with one clear error line instead of an errno stack trace. */
import { existsSync, readFileSync } from 'node:fs';
import { UserError } from './errors.js';

export function readFileOrFail(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new UserError(`${path}: ${why}`);
  }
}

export function fileExists(path: string): boolean {
  return existsSync(path);
}
