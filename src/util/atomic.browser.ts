/** The web page's stand-in for atomic.ts (scripts/build-web.ts substitutes it): a page has no file system to write. */
import { UserError } from './errors.js';

export function writeFileAtomic(path: string, _data: Uint8Array | string): void {
  throw new UserError(`${path}: a web page cannot write files`);
}
