/**
 * `spikevae report RUN_DIR...`: one self-contained HTML page (images and plots
 * embedded) and a Markdown twin, comparing runs side by side with the papers'
 * published numbers: loss curves, test metrics, sample grids, firing rates.
 * Each run directory may hold eval.json (from `spikevae eval --json
 * RUN_DIR/eval.json`) and SVG histograms next to it.
 */
import type { Command } from 'commander';
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { writeFileAtomic } from '../../util/atomic.js';
import { UserError } from '../../util/errors.js';
import { readFileOrFail, readJsonFile, readJsonLines } from '../../util/files.js';
import { lineChart } from '../../metrics/plots.js';

/** Published numbers (reference-semantics.md §8): recon MSE ([-1,1]), IS, FID, FAD. */
const PAPERS: Record<string, Record<string, { recon?: number; is?: number; fid?: number; fad?: number }>> = {
  mnist: { 'ANN VAE': { recon: 0.048, is: 5.947, fid: 112.5, fad: 17.09 }, FSVAE: { recon: 0.031, is: 6.209, fid: 97.06, fad: 35.54 }, ESVAE: { recon: 0.013, is: 5.612, fid: 117.8, fad: 10.99 } },
  fashion: { 'ANN VAE': { recon: 0.05, is: 4.252, fid: 123.7, fad: 18.08 }, FSVAE: { recon: 0.031, is: 4.551, fid: 90.12, fad: 15.75 }, ESVAE: { recon: 0.019, is: 6.227, fid: 125.3, fad: 11.13 } },
  cifar10: { 'ANN VAE': { recon: 0.105, is: 2.591, fid: 229.6, fad: 196.9 }, FSVAE: { recon: 0.066, is: 2.945, fid: 175.5, fad: 133.9 }, TAID: { is: 3.53, fid: 171.1, fad: 120.5 }, ESVAE: { recon: 0.045, is: 3.758, fid: 127.0, fad: 14.74 } },
  celeba: { 'ANN VAE': { recon: 0.059, is: 3.231, fid: 92.53, fad: 156.9 }, FSVAE: { recon: 0.051, is: 3.697, fid: 101.6, fad: 112.9 }, TAID: { is: 4.31, fid: 99.54, fad: 105.3 }, ESVAE: { recon: 0.034, is: 3.868, fid: 85.33, fad: 51.93 } },
};

interface Run {
  dir: string;
  name: string;
  config: Record<string, unknown>;
  steps: Array<Record<string, number>>;
  epochs: Array<Record<string, unknown>>;
  evalResult: Record<string, unknown> | null;
  samples: string | null;
  extraImages: string[];
  svgs: string[];
}

function asObject(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new UserError(`${what}: not a JSON object`);
  return v as Record<string, unknown>;
}

function readRun(dir: string): Run {
  const cfgPath = join(dir, 'config.json');
  if (!existsSync(cfgPath)) throw new UserError(`${dir}: not a run directory (no config.json)`);
  const config = asObject(readJsonFile(cfgPath), cfgPath);
  const metricsPath = join(dir, 'metrics.jsonl');
  const parsed = existsSync(metricsPath) ? readJsonLines(metricsPath).map((o, i) => asObject(o, `${metricsPath}: line ${i + 1}`)) : [];
  const sampleDir = join(dir, 'samples');
  const sampleFiles = existsSync(sampleDir) ? readdirSync(sampleDir).filter((f) => f.endsWith('.png')).sort() : [];
  const evalPath = join(dir, 'eval.json');
  const files = readdirSync(dir);
  return {
    dir,
    name: basename(dir),
    config,
    steps: parsed.filter((o) => o.kind === 'step') as Array<Record<string, number>>,
    epochs: parsed.filter((o) => o.kind === 'epoch'),
    evalResult: existsSync(evalPath) ? asObject(readJsonFile(evalPath), evalPath) : null,
    samples: sampleFiles.length ? join(sampleDir, sampleFiles[sampleFiles.length - 1]) : null,
    extraImages: files.filter((f) => f.endsWith('.png')).map((f) => join(dir, f)),
    svgs: files.filter((f) => f.endsWith('.svg')).map((f) => join(dir, f)),
  };
}

const paperName: Record<string, string> = { fsvae: 'FSVAE', esvae: 'ESVAE', 'ann-vae': 'ANN VAE' };
const fmt = (v: unknown, d = 4) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '–');

export function register(program: Command): void {
  program
    .command('report')
    .description('write a self-contained HTML (and Markdown) report comparing runs with the papers\' numbers')
    .argument('<runs...>', 'run directories (from spikevae train)')
    .option('--out <file>', 'HTML file to write (the Markdown goes next to it as .md)', 'report.html')
    .action((runs: string[], flags: { out: string }) => {
      const rs = runs.map(readRun);
      const dataset = String(rs[0].config.dataset);
      const rows: string[][] = [];
      for (const r of rs) {
        const ev = r.evalResult as { recon?: { mse: number }; fad?: { fad: number }; fid?: { fid: number }; is?: { mean: number }; cost?: { perImage: { energyMicroJoule: number } }; classify?: { testAccuracy: number } } | null;
        const last = r.epochs[r.epochs.length - 1] as { test?: { recon?: number } } | undefined;
        const sps = r.steps.map((s) => s.imagesPerSec).filter(Number.isFinite);
        rows.push([
          `${r.name} (${String(r.config.model)})`,
          String(r.epochs.length),
          fmt(ev?.recon?.mse ?? last?.test?.recon),
          fmt(ev?.fad?.fad, 2),
          fmt(ev?.is?.mean, 3),
          fmt(ev?.fid?.fid, 1),
          ev?.classify ? `${(100 * ev.classify.testAccuracy).toFixed(1)}%` : '–',
          ev?.cost ? ev.cost.perImage.energyMicroJoule.toFixed(2) : '–',
          sps.length ? (sps.reduce((a, b) => a + b, 0) / sps.length).toFixed(1) : '–',
        ]);
      }
      const header = ['run', 'epochs', 'recon MSE ↓', 'FAD ↓', 'IS ↑', 'FID ↓', 'latent class. acc.', 'energy µJ/image', 'train img/s'];
      const paper = Object.entries(PAPERS[dataset] ?? {}).map(([m, v]) => [m, fmt(v.recon, 3), fmt(v.fad, 2), fmt(v.is, 3), fmt(v.fid, 1)]);
      const curves = lineChart(
        rs.map((r) => ({ label: `${r.name} loss`, x: r.steps.map((s) => s.step), y: r.steps.map((s) => s.loss) })),
        { title: 'Training loss', xLabel: 'step', yLabel: 'loss', logY: true },
      );
      const img = (p: string) => `<img src="data:image/png;base64,${readFileOrFail(p).toString('base64')}" style="max-width:420px;margin:4px">`;
      const table = (h: string[], body: string[][]) =>
        `<table><tr>${h.map((c) => `<th>${c}</th>`).join('')}</tr>${body.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</table>`;
      const html = `<!doctype html><html><head><meta charset="utf-8"><title>spikevae report: ${dataset}</title>
<style>body{font-family:sans-serif;max-width:1100px;margin:24px auto;color:#222}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}</style></head><body>
<h1>spikevae report — ${dataset}</h1>
<p>Generated ${new Date().toISOString()} from ${rs.map((r) => r.dir).join(', ')}.</p>
<h2>Our runs</h2>${table(header, rows)}
<h2>Published numbers (full training)</h2>${table(['model', 'recon', 'FAD', 'IS', 'FID'], paper)}
<p>Reconstruction MSE on the [−1, 1] scale; FAD with the official FSVAE autoencoder and statistics. Papers train 150 (FSVAE) or 300 (ESVAE) epochs.</p>
<h2>Loss curves</h2>${curves}
<h2>Samples, reconstructions and analyses</h2>
${rs.map((r) => `<h3>${r.name}</h3>${r.samples ? img(r.samples) : ''}${r.extraImages.map(img).join('')}${r.svgs.map((f) => readFileOrFail(f).toString('utf8')).join('')}`).join('\n')}
</body></html>`;
      writeFileAtomic(flags.out, html);
      const mdPath = flags.out.replace(/\.html?$/, '') + '.md';
      const mdTable = (h: string[], body: string[][]) => [`| ${h.join(' | ')} |`, `|${h.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
      const rel = (p: string) => relative(dirname(mdPath), p);
      const md = [
        `# spikevae report — ${dataset}`,
        '',
        '## Our runs',
        '',
        mdTable(header, rows),
        '',
        '## Published numbers (full training)',
        '',
        mdTable(['model', 'recon', 'FAD', 'IS', 'FID'], paper),
        '',
        ...rs.flatMap((r) => [`### ${r.name}`, '', ...(r.samples ? [`![samples](${rel(r.samples)})`] : []), ...r.extraImages.map((p) => `![${basename(p)}](${rel(p)})`), '']),
      ].join('\n');
      writeFileAtomic(mdPath, md + '\n');
      process.stderr.write(`spikevae: wrote ${flags.out} and ${mdPath}\n`);
    });
}
