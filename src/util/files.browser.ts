/**
 * The web page's stand-in for files.ts (scripts/build-web.ts substitutes
 * it): a page has no file system; it passes a file's bytes to the parsers
 * (parseCheckpoint, parseSafetensors) instead of a path.
 */
import { UserError } from './errors.js';

export function readFileOrFail(path: string): Uint8Array {
  throw new UserError(`${path}: a web page cannot read files by name; pass the file's bytes`);
}

export function fileExists(_path: string): boolean {
  return false;
}

export function listDirectory(_dir: string): string[] {
  return [];
}
