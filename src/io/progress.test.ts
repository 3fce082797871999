/** Progress tracker, rate meter and CLI renderer, driven by a fake clock. */
import { describe, expect, it } from 'vitest';
import { createProgressBar, describeProgress, formatBytes, formatDuration, ProgressTracker, RateMeter } from './progress.js';
import type { LoadProgress } from './source.js';

function fakeClock() {
  let t = 0;
  return { clock: () => t, advance: (ms: number) => (t += ms) };
}

describe('ProgressTracker', () => {
  it('aggregates files in first-touch order and throttles, but always reports completions', () => {
    const { clock, advance } = fakeClock();
    const seen: LoadProgress[] = [];
    const t = new ProgressTracker({ onProgress: (p) => seen.push(p), throttleMs: 100, clock });
    t.addFile('b.bin', 1000);
    t.addFile('a.bin', 500, 200); // resumed: starts at 200
    expect(seen).toHaveLength(1); // the second add came within 100 ms
    t.update('b.bin', 10);
    advance(150);
    t.update('b.bin', 400);
    expect(seen.at(-1)).toEqual({
      files: [
        { file: 'b.bin', bytesDone: 400, bytesTotal: 1000 },
        { file: 'a.bin', bytesDone: 200, bytesTotal: 500 },
      ],
      bytesDone: 600,
      bytesTotal: 1500,
      phase: 'download',
    });
    t.update('a.bin', 500); // completion: reported despite the throttle
    expect(seen.at(-1)?.bytesDone).toBe(900);
    t.update('b.bin', 999);
    const count = seen.length;
    t.flush();
    expect(seen).toHaveLength(count + 1);
    expect(seen.at(-1)?.bytesDone).toBe(1499);
    t.flush(); // nothing new
    expect(seen).toHaveLength(count + 1);
    expect(() => t.update('c.bin', 1)).toThrow(/never added/);
  });

  it('hold() records but does not report until release(), which reports once with everything registered', () => {
    const { clock, advance } = fakeClock();
    const seen: LoadProgress[] = [];
    const t = new ProgressTracker({ onProgress: (p) => seen.push(p), clock });
    t.hold();
    t.addFile('config.json', 100, 100); // a completion: reported at once when not held
    advance(1000);
    t.addFile('shard-1', 1000);
    t.addFile('shard-2', 2000);
    t.flush();
    expect(seen).toEqual([]);
    expect(t.has('shard-2')).toBe(true);
    expect(t.has('shard-3')).toBe(false);
    t.release();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ bytesDone: 100, bytesTotal: 3100 });
    expect(() => t.release()).toThrow(/without hold/);
  });

  it('speed and ETA from the bytes over time', () => {
    const { clock, advance } = fakeClock();
    const t = new ProgressTracker({ clock });
    t.addFile('x', 10_000);
    expect(t.speed()).toBeUndefined();
    advance(1000);
    t.update('x', 2000);
    expect(t.speed()).toBeCloseTo(2000, 6);
    expect(t.eta()).toBeCloseTo(4, 6);
  });
});

describe('RateMeter', () => {
  it('uses only the last window of samples', () => {
    const { clock, advance } = fakeClock();
    const r = new RateMeter(1000, clock);
    r.sample(0);
    advance(500);
    r.sample(100); // slow start
    advance(500);
    r.sample(1100);
    advance(500);
    r.sample(2100); // the window drops the first sample: (2100 - 100) / 1 s
    expect(r.bytesPerSecond()).toBeCloseTo(2000, 6);
    expect(r.etaSeconds(0)).toBe(0);
  });
});

describe('CLI progress bar', () => {
  const snap = (done: number, total = 4 * 1024 * 1024): LoadProgress => ({
    files: [{ file: 'model.safetensors', bytesDone: done, bytesTotal: total }],
    bytesDone: done,
    bytesTotal: total,
    phase: 'download',
  });

  it('formats bytes, durations and a line', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GiB');
    expect(formatDuration(65)).toBe('1:05');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(describeProgress(snap(1024 * 1024), 1024 * 1024, 4)).toBe(
      'download [#...]  25% 1.0 MiB / 4.0 MiB 1.0 MiB/s ETA 0:03 model.safetensors',
    );
  });

  it('speed and ETA start again when the phase changes (upload bytes restart from 0)', () => {
    const { clock, advance } = fakeClock();
    let out = '';
    const bar = createProgressBar({ stream: { write: (s) => (out = s), isTTY: true, columns: 200 }, clock });
    const MiB = 1024 * 1024;
    for (let i = 0; i <= 4; i++) {
      bar.update(snap(i * MiB));
      advance(1000);
    }
    expect(out).toContain('1.0 MiB/s');
    const upload = (done: number): LoadProgress => ({ files: [], bytesDone: done, bytesTotal: 8 * MiB, phase: 'upload' });
    bar.update(upload(0));
    advance(500);
    bar.update(upload(2 * MiB));
    // 2 MiB in 0.5 s of the upload alone; across phases the 4 → 2 MiB drop would read as no speed at all.
    expect(out).toContain('upload');
    expect(out).toContain('4.0 MiB/s ETA 0:02');
  });

  it('on a TTY redraws one line in place and ends it on done()', () => {
    const { clock, advance } = fakeClock();
    let out = '';
    const bar = createProgressBar({ stream: { write: (s) => (out += s), isTTY: true, columns: 200 }, clock });
    for (let i = 0; i <= 4; i++) {
      bar.update(snap(i * 1024 * 1024));
      advance(120);
    }
    bar.done();
    expect(out.split('\r').length - 1).toBe(6);
    expect(out.match(/\n/g)).toHaveLength(1);
    expect(out.endsWith('\x1b[K\n')).toBe(true);
    expect(out).toContain('100% 4.0 MiB / 4.0 MiB');
  });

  it('without a TTY prints plain lines at the interval and the final state once', () => {
    const { clock, advance } = fakeClock();
    const lines: string[] = [];
    const bar = createProgressBar({ stream: { write: (s) => lines.push(s) }, intervalMs: 1000, clock });
    for (let i = 0; i <= 8; i++) {
      bar.update(snap(i * 512 * 1024));
      advance(300);
    }
    bar.done();
    expect(lines.every((l) => l.endsWith('\n') && !l.includes('\r'))).toBe(true);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.length).toBeLessThanOrEqual(5); // 2.7 s of updates at one line per second + the final
    expect(lines.at(-1)).toContain('100%');
    expect(lines.filter((l) => l.includes('100%'))).toHaveLength(1);
  });
});
