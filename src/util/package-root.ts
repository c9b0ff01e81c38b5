/**
 * The installed package's own folder, for files that ship with it
 * (pretrained weights), so commands find them from any working directory.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This file is dist/src/util/package-root.js in a build: three levels below the package root. */
export function packageRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}
