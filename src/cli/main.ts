#!/usr/bin/env node
/**
 * The `spikevae` command line. Each command lives in ./commands/<name>.ts and
 * exports `register(program)`. Errors meant for the user (UserError) are
 * printed as one line; anything else is a bug and printed in full.
 */
import { Command, CommanderError } from 'commander';
import { UserError } from '../util/errors.js';
import { commandModules } from './commands/index.js';

export async function main(argv: string[]): Promise<number> {
  // `spikevae --help | head` closes the pipe early: stop quietly, not with a stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  const program = new Command();
  program
    .name('spikevae')
    .description('Train, sample and evaluate fully spiking VAEs (FSVAE, ESVAE, TAID) and the ANN VAE baseline')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const mod of commandModules) mod.register(program);
  try {
    await program.parseAsync(argv);
    // A command may end with a status of its own (training stopped by a signal: 130, 143).
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    return reportError(e);
  }
}

export function reportError(e: unknown): number {
  if (e instanceof CommanderError) {
    // commander already printed its message (or the help text).
    return e.exitCode === 0 ? 0 : 2;
  }
  if (e instanceof UserError) {
    process.stderr.write(`spikevae: ${e.message}\n`);
    return 1;
  }
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string' && typeof err.path === 'string') {
    // File-system errors are the user's: name the file and the problem.
    const what: Record<string, string> = {
      ENOENT: 'no such file or directory',
      EACCES: 'permission denied',
      EISDIR: 'is a directory',
      ENOTDIR: 'not a directory',
      ENOSPC: 'no space left on device',
    };
    process.stderr.write(`spikevae: ${err.path}: ${what[err.code] ?? err.message}\n`);
    return 1;
  }
  process.stderr.write(`spikevae: internal error (please report): ${err?.stack ?? String(e)}\n`);
  return 70;
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain || process.argv[1]?.endsWith('/spikevae') || process.argv[1]?.endsWith('main.js')) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
