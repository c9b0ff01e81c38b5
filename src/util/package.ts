/**
 * Where the installed spikevae package lives, so files it ships (assets/fad)
 * and hints about how to run it do not depend on the current folder.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | null = null;

/** The folder holding spikevae's package.json (the checkout, or node_modules/spikevae). */
export function packageRoot(): string {
  if (root) return root;
  // Compiled code runs from dist/src/util/; walking up also works from src/ under a TS loader.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'spikevae') return (root = dir);
      } catch {
        // not ours: keep walking up
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`spikevae: cannot find the package root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** A path inside the installed package. */
export function packagePath(...parts: string[]): string {
  return join(packageRoot(), ...parts);
}

let cli: string | null = null;

/**
 * How to run the spikevae command from the current folder, for hints such as
 * "continue with: <cliName()> train --resume DIR": `spikevae` once the
 * README's `npm link` has put this package's command on the PATH; before
 * that `npx spikevae` where npx finds it (inside the checkout, or a project
 * that depends on spikevae), else `node <path of main.js>`. So a printed
 * hint always runs as printed.
 */
export function cliName(): string {
  if (cli) return cli;
  const main = packagePath('dist', 'src', 'cli', 'main.js');
  const same = (p: string) => {
    try {
      return realpathSync(p) === realpathSync(main);
    } catch {
      return false;
    }
  };
  if ((process.env.PATH ?? '').split(delimiter).some((d) => d && same(join(d, 'spikevae')))) return (cli = 'spikevae');
  const cwd = process.cwd();
  const inside = (dir: string) => {
    const r = relative(dir, cwd);
    return r === '' || (!r.startsWith('..') && !isAbsolute(r));
  };
  if (inside(packageRoot())) return (cli = 'npx spikevae');
  for (let dir = cwd; ; dir = dirname(dir)) {
    if (same(join(dir, 'node_modules', '.bin', 'spikevae'))) return (cli = 'npx spikevae');
    if (dirname(dir) === dir) break;
  }
  return (cli = `node ${main}`);
}
