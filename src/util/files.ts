/** Reading user-named files with one clear error line instead of an errno stack trace. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

/** A JSON file (a run's config.json, eval.json): unreadable or invalid JSON is one line naming it. */
export function readJsonFile(path: string): unknown {
  const text = readFileOrFail(path).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** A JSON-lines file (metrics.jsonl): each non-empty line must be JSON. */
export function readJsonLines(path: string): unknown[] {
  return readFileOrFail(path)
    .toString('utf8')
    .split('\n')
    .map((line, i) => {
      if (!line.trim()) return undefined;
      try {
        return JSON.parse(line) as unknown;
      } catch (e) {
        throw new UserError(`${path}: line ${i + 1} is not valid JSON (${(e as Error).message})`);
      }
    })
    .filter((v) => v !== undefined);
}

export function fileExists(path: string): boolean {
  return existsSync(path);
}

/** The names in a folder, sorted; none when it does not exist. */
export function listDirectory(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}
