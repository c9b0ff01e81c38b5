/** `spikevae pretrained`: the trained models that ship with spikevae, usable as --checkpoint pretrained:NAME. */
import type { Command } from 'commander';
import { join } from 'node:path';
import { readCheckpoint } from '../../models/checkpoint.js';
import { pretrainedDir, pretrainedNames } from '../../models/pretrained.js';
import { printJson } from '../options.js';

export interface PretrainedEntry {
  name: string;
  file: string;
  card: string;
  model: string;
  decoding: string | null;
  dataset: string | null;
  epochs: number | null;
  steps: number | null;
  /** What the card's measurement command printed when the file was made (spikevae.metrics metadata). */
  metrics: Record<string, unknown> | null;
}

export function pretrainedEntries(): PretrainedEntry[] {
  return pretrainedNames().map((name) => {
    const file = join(pretrainedDir(), `${name}.safetensors`);
    const ck = readCheckpoint(file);
    const md = ck.file.metadata;
    const parse = (s: string | undefined) => (s === undefined ? null : (JSON.parse(s) as Record<string, unknown>));
    return {
      name,
      file,
      card: join(pretrainedDir(), `${name}.md`),
      model: ck.model,
      decoding: typeof ck.config.decoding === 'string' ? ck.config.decoding : null,
      dataset: md['spikevae.dataset'] ?? null,
      epochs: typeof ck.training?.epoch === 'number' ? ck.training.epoch : null,
      steps: typeof ck.training?.step === 'number' ? ck.training.step : null,
      metrics: parse(md['spikevae.metrics']),
    };
  });
}

export function register(program: Command): void {
  program
    .command('pretrained')
    .description('list the trained models that ship with spikevae (use them as --checkpoint pretrained:NAME)')
    .option('--json', 'print the list as JSON')
    .addHelpText(
      'after',
      `
Each model has a card (pretrained/NAME.md) with its recipe, training length,
metrics and the command that measures them. Examples:
  spikevae sample --checkpoint pretrained:fsvae-mnist --out samples.png
  spikevae eval --checkpoint pretrained:fsvae-mnist --metrics recon,fad --json -`,
    )
    .action((flags: { json?: boolean }) => {
      const entries = pretrainedEntries();
      if (flags.json) return printJson(entries);
      if (entries.length === 0) {
        process.stderr.write(`no pretrained models in ${pretrainedDir()}\n`);
        return;
      }
      const num = (v: unknown, d: number) => (typeof v === 'number' ? v.toFixed(d) : '–');
      const rows = entries.map((e) => {
        const m = (e.metrics ?? {}) as { reconMse?: number; fad?: number; accuracy?: number };
        const kind = e.decoding === 'taid' ? `${e.model}+taid` : e.model;
        const accuracy = typeof m.accuracy === 'number' ? `${(100 * m.accuracy).toFixed(2)}%` : '–';
        return [e.name, kind, e.dataset ?? '?', String(e.epochs ?? '?'), num(m.reconMse, 4), num(m.fad, 2), accuracy];
      });
      const head = ['name', 'model', 'dataset', 'epochs', 'test MSE', 'FAD', 'accuracy'];
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
      const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
      process.stdout.write([line(head), ...rows.map(line)].join('\n') + `\n\ncards: ${pretrainedDir()}/NAME.md; use: --checkpoint pretrained:NAME\n`);
    });
}
