/**
 * Progress display for long jobs: a redrawn bar on a terminal, plain periodic
 * lines otherwise (logs, CI, pipes), and nothing with --json or quiet mode.
 */
export interface ProgressOptions {
  total: number;
  label: string;
  /** Seconds between plain lines when not on a terminal. */
  plainEvery?: number;
  quiet?: boolean;
  /** A time budget's end (ms since the epoch): the ETA is never later than it. */
  deadline?: number;
  stream?: NodeJS.WriteStream;
}

function fmtDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(sec).padStart(2, '0')}s`;
}

export class Progress {
  private readonly start = Date.now();
  private lastPlain = 0;
  private readonly tty: boolean;
  private readonly stream: NodeJS.WriteStream;
  private lastLen = 0;
  /**
   * The rate is measured from the first update on: the first unit of work
   * carries the start-up cost (compilation, first touch of memory) and would
   * make the first ETAs several times too long.
   */
  private rateFrom: { time: number; done: number } | null = null;
  constructor(private readonly opts: ProgressOptions, private done = 0) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
  }

  update(done: number, fields: Record<string, string | number> = {}): void {
    if (this.opts.quiet) return;
    this.done = done;
    const now = Date.now();
    if (this.rateFrom === null) this.rateFrom = { time: now, done };
    const elapsed = (now - this.start) / 1000;
    const frac = this.opts.total > 0 ? Math.min(1, done / this.opts.total) : 0;
    const f = Object.entries(fields)
      .map(([k, v]) => `${k} ${typeof v !== 'number' ? v : Number.isInteger(v) || Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(4)}`)
      .join('  ');
    if (this.tty) {
      const width = 24;
      const filled = Math.round(frac * width);
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
      const line = `${this.opts.label} ${bar} ${done}/${this.opts.total}  ${f}  ETA ${fmtDuration(this.eta(now))}`;
      const cols = this.stream.columns ?? 120;
      const cut = line.length > cols - 1 ? line.slice(0, cols - 1) : line;
      this.stream.write(`\r${cut}${' '.repeat(Math.max(0, this.lastLen - cut.length))}`);
      this.lastLen = cut.length;
    } else if (now - this.lastPlain >= (this.opts.plainEvery ?? 10) * 1000 || done === this.opts.total) {
      this.lastPlain = now;
      this.stream.write(`${this.opts.label} ${done}/${this.opts.total}  ${f}  elapsed ${fmtDuration(elapsed)}  ETA ${fmtDuration(this.eta(now))}\n`);
    }
  }

  /** Seconds left at the rate since the first update, capped by the deadline. */
  private eta(now: number): number {
    const from = this.rateFrom!;
    const doneSince = this.done - from.done;
    const byRate = doneSince > 0 ? ((now - from.time) / 1000 / doneSince) * (this.opts.total - this.done) : NaN;
    if (this.opts.deadline === undefined) return byRate;
    const byDeadline = Math.max(0, (this.opts.deadline - now) / 1000);
    return Number.isFinite(byRate) ? Math.min(byRate, byDeadline) : byDeadline;
  }

  /** Ends the bar's line so later output starts on a fresh line. */
  finish(): void {
    if (this.tty && !this.opts.quiet && this.lastLen > 0) this.stream.write('\n');
    this.lastLen = 0;
  }

  /** Prints a message without corrupting the bar. */
  log(msg: string): void {
    if (this.tty && this.lastLen > 0) this.stream.write(`\r${' '.repeat(this.lastLen)}\r`);
    this.lastLen = 0;
    this.stream.write(msg + '\n');
  }
}
