/** The list of command modules; each adds its subcommand(s) to the program. */
import type { Command } from 'commander';
import * as train from './train.js';
import * as trainAe from './train-ae.js';
import * as generate from './generate.js';
import * as data from './data.js';
import * as convert from './convert.js';
import * as evaluate from './evaluate.js';
import * as report from './report.js';
import * as pretrained from './pretrained.js';

export interface CommandModule {
  register(program: Command): void;
}

export const commandModules: CommandModule[] = [train, trainAe, generate, convert, evaluate, report, data, pretrained];
