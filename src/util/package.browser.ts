/**
 * The web page's stand-in for package.ts (scripts/build-web.ts substitutes
 * it): a page has no package folder; it lists its pretrained models itself.
 */
import { UserError } from './errors.js';

export function packageRoot(): string {
  throw new UserError('a web page has no package folder');
}

export function packagePath(..._parts: string[]): string {
  return packageRoot();
}

export function cliName(): string {
  return 'spikevae';
}
