/**
 * Load progress: a tracker that aggregates per-file bytes into the `LoadProgress` shape
 * (throttled callbacks, speed and ETA), and a terminal renderer for the CLI: one line redrawn in
 * place on a TTY, a plain line every few seconds otherwise (logs, CI).
 */
import { InvalidArgumentError } from '../errors.js';
import type { LoadProgress, ProgressCallback } from './source.js';

const now = (): number => performance.now();

/** Speed over a sliding window of (time, bytes) samples. */
export class RateMeter {
  #samples: { t: number; bytes: number }[] = [];

  constructor(
    private readonly windowMs = 5000,
    private readonly clock: () => number = now,
  ) {}

  sample(bytesDone: number): void {
    const t = this.clock();
    this.#samples.push({ t, bytes: bytesDone });
    while (this.#samples.length > 2 && t - this.#samples[0]!.t > this.windowMs) this.#samples.shift();
  }

  /** Bytes per second over the window; undefined until two samples are at least 100 ms apart. */
  bytesPerSecond(): number | undefined {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    if (!first || !last || last.t - first.t < 100) return undefined;
    return Math.max(0, ((last.bytes - first.bytes) * 1000) / (last.t - first.t));
  }

  /** Seconds to transfer `remaining` bytes at the current speed; undefined if unknown or stalled. */
  etaSeconds(remaining: number): number | undefined {
    const speed = this.bytesPerSecond();
    if (remaining <= 0) return 0;
    return speed ? remaining / speed : undefined;
  }
}

export interface ProgressTrackerOptions {
  onProgress?: ProgressCallback;
  /** Default 'download'. */
  phase?: string;
  /** Minimum time between callbacks, except when a file completes; default 100 ms. */
  throttleMs?: number;
  clock?: () => number;
}

/** Per-file bytes → `LoadProgress`, reported through a throttled callback. */
export class ProgressTracker {
  readonly #files = new Map<string, { done: number; total: number }>();
  readonly #opts: ProgressTrackerOptions;
  readonly #clock: () => number;
  readonly #rate: RateMeter;
  #phase: string;
  #lastEmit = -Infinity;
  #dirty = false;
  #held = 0;

  constructor(opts: ProgressTrackerOptions = {}) {
    this.#opts = opts;
    this.#phase = opts.phase ?? 'download';
    this.#clock = opts.clock ?? now;
    this.#rate = new RateMeter(5000, this.#clock);
  }

  /** Registers a file (in first-touch order) or updates its total; `done` is where it starts. */
  addFile(file: string, bytesTotal: number, bytesDone = 0): void {
    this.#files.set(file, { total: bytesTotal, done: Math.min(bytesDone, bytesTotal) });
    this.#changed(bytesDone >= bytesTotal);
  }

  has(file: string): boolean {
    return this.#files.has(file);
  }

  /**
   * Holds reports until the matching release(): changes are recorded (and counted in the speed),
   * reported together on release. Lets a source register every file of a load before its first
   * report, so that report already has the final total.
   */
  hold(): void {
    this.#held++;
  }

  release(): void {
    if (this.#held === 0) throw new InvalidArgumentError('progress: release() without hold()');
    if (--this.#held === 0) this.flush();
  }

  /** Sets a file's bytes done (a restarted download may go back to 0). */
  update(file: string, bytesDone: number): void {
    const f = this.#files.get(file);
    if (!f) throw new InvalidArgumentError(`progress: file "${file}" was never added`);
    f.done = Math.min(bytesDone, f.total);
    this.#changed(f.done === f.total);
  }

  setPhase(phase: string): void {
    this.#phase = phase;
    this.#changed(true);
  }

  snapshot(): LoadProgress {
    const files = [...this.#files].map(([file, f]) => ({ file, bytesDone: f.done, bytesTotal: f.total }));
    return {
      files,
      bytesDone: files.reduce((a, f) => a + f.bytesDone, 0),
      bytesTotal: files.reduce((a, f) => a + f.bytesTotal, 0),
      phase: this.#phase,
    };
  }

  /** Current speed in bytes/s (over the last 5 s). */
  speed(): number | undefined {
    return this.#rate.bytesPerSecond();
  }

  /** Seconds left at the current speed. */
  eta(): number | undefined {
    const p = this.snapshot();
    return this.#rate.etaSeconds(p.bytesTotal - p.bytesDone);
  }

  /** Reports the current state now if anything changed since the last report (not while held). */
  flush(): void {
    if (this.#dirty && this.#held === 0) this.#emit();
  }

  #changed(important: boolean): void {
    this.#dirty = true;
    this.#rate.sample(this.snapshot().bytesDone);
    const throttle = this.#opts.throttleMs ?? 100;
    if (this.#held > 0) return;
    if (important || this.#clock() - this.#lastEmit >= throttle) this.#emit();
  }

  #emit(): void {
    this.#dirty = false;
    this.#lastEmit = this.#clock();
    this.#opts.onProgress?.(this.snapshot());
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

/** "m:ss" or "h:mm:ss". */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const two = (v: number) => String(v).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

/** Where the bar is drawn (process.stderr in the CLI). */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressBarOptions {
  stream: ProgressStream;
  /** Non-TTY: at most one line per interval (default 5 s), plus the final one. */
  intervalMs?: number;
  clock?: () => number;
}

/** One line of text for a progress snapshot. */
export function describeProgress(p: LoadProgress, speed: number | undefined, width = 30): string {
  const fraction = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : 1;
  const filled = Math.round(fraction * width);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  const current = p.files.find((f) => f.bytesDone < f.bytesTotal)?.file;
  const eta = speed ? ` ETA ${formatDuration((p.bytesTotal - p.bytesDone) / speed)}` : '';
  return (
    `${p.phase} ${bar} ${(fraction * 100).toFixed(0).padStart(3)}% ${formatBytes(p.bytesDone)} / ${formatBytes(p.bytesTotal)}` +
    `${speed ? ` ${formatBytes(speed)}/s` : ''}${eta}${current ? ` ${current}` : ''}`
  );
}

/** A progress callback that draws on a terminal; call `done()` once at the end. */
export function createProgressBar(opts: ProgressBarOptions): { update: ProgressCallback; done(): void } {
  const clock = opts.clock ?? now;
  const tty = opts.stream.isTTY === true;
  const interval = tty ? 100 : (opts.intervalMs ?? 5000);
  // Speed (and ETA) per phase: the upload's bytes start again from 0 after the download's.
  let rate = new RateMeter(5000, clock);
  let last: LoadProgress | undefined;
  let lastDraw = -Infinity;
  let drawn = '';
  const draw = (final: boolean) => {
    if (!last) return;
    const line = describeProgress(last, rate.bytesPerSecond());
    if (tty) {
      const width = Math.max(20, (opts.stream.columns ?? 100) - 1);
      opts.stream.write(`\r${line.slice(0, width)}\x1b[K${final ? '\n' : ''}`);
    } else if (line !== drawn || final) {
      opts.stream.write(`${line}\n`);
    }
    drawn = line;
    lastDraw = clock();
  };
  return {
    update(p) {
      if (last && p.phase !== last.phase) rate = new RateMeter(5000, clock);
      last = p;
      rate.sample(p.bytesDone);
      const complete = p.bytesTotal > 0 && p.bytesDone === p.bytesTotal;
      if (clock() - lastDraw >= interval || (complete && !tty)) draw(false);
    },
    done() {
      if (last && (tty || describeProgress(last, rate.bytesPerSecond()) !== drawn)) draw(true);
    },
  };
}
