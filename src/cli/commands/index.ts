/** The list of command modules; each adds its subcommand(s) to the program. */
import type { Command } from 'commander';

export interface CommandModule {
  register(program: Command): void;
}

export const commandModules: CommandModule[] = [];
