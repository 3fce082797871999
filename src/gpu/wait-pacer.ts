/**
 * Paced GPU waits. In Node, Dawn settles mapAsync and onSubmittedWorkDone by polling the device
 * from setImmediate for as long as one of them is pending. A host core therefore spins through
 * every GPU wait. On a software adapter (SwiftShader) that core is taken from the threads that
 * run the shaders, so they run slower.
 *
 * A pacer learns how long each kind of wait lasts from the moment it is asked for, per unit of
 * work (a decode step, a prompt token). The next wait of that kind first sleeps on a timer, which
 * does not poll, for SLEEP_FRACTION of the expected time, and only then starts the real wait.
 * - If it slept too little, the wait polls for the rest, and the measured total is the new estimate.
 * - If it slept too long, the total is about the sleep, so the estimate shrinks by SLEEP_FRACTION
 *   per wait until it is below the real time again.
 * Waits too short to time with a timer (MIN_SLEEP_MS) are not paced. In browsers mapAsync does not
 * hold the page's thread, so there is nothing to pace.
 */

/** Share of the expected wait spent asleep: the rest absorbs timer lateness and run-to-run spread. */
export const SLEEP_FRACTION = 0.85;
/** Shortest sleep worth a timer (Node timers have 1 ms resolution and may fire late). */
export const MIN_SLEEP_MS = 2;

export type GpuWaitMode = 'paced' | 'polled';

export interface WaitStats {
  waits: number;
  /** Time spent asleep before starting waits. */
  sleptMs: number;
  /** Time from starting the waits to their settling (Dawn polls throughout in Node). */
  polledMs: number;
}

export interface PacerClock {
  now(): number;
  /** Resolves after `ms` (may reject, e.g. when the device is lost meanwhile). */
  sleep(ms: number): Promise<void>;
}

export class WaitPacer {
  private readonly msPerUnit = new Map<string, number>();
  private readonly counters: WaitStats = { waits: 0, sleptMs: 0, polledMs: 0 };

  constructor(
    readonly mode: GpuWaitMode,
    private readonly clock: PacerClock,
  ) {}

  /** Totals since the pacer was made (or since resetStats). */
  get stats(): Readonly<WaitStats> {
    return { ...this.counters };
  }

  resetStats(): void {
    this.counters.waits = this.counters.sleptMs = this.counters.polledMs = 0;
  }

  /** The expected length of a wait of `kind` for `units` of work, if one has been seen. */
  expectedMs(kind: string, units: number): number | undefined {
    const perUnit = this.msPerUnit.get(kind);
    return perUnit === undefined ? undefined : perUnit * units;
  }

  /**
   * Starts the wait `start()` (mapAsync, onSubmittedWorkDone) after sleeping through most of its
   * expected length, and learns from how long it took. A wait that fails teaches nothing.
   */
  async wait<T>(kind: string, units: number, start: () => Promise<T>): Promise<T> {
    if (!(units > 0)) throw new RangeError(`wait "${kind}": units must be positive, got ${units}`);
    const t0 = this.clock.now();
    const expected = this.mode === 'paced' ? this.expectedMs(kind, units) : undefined;
    const nap = expected === undefined ? 0 : Math.floor(SLEEP_FRACTION * expected);
    let t1 = t0;
    if (nap >= MIN_SLEEP_MS) {
      await this.clock.sleep(nap);
      t1 = this.clock.now();
    }
    const result = await start();
    const t2 = this.clock.now();
    this.msPerUnit.set(kind, (t2 - t0) / units);
    this.counters.waits++;
    this.counters.sleptMs += t1 - t0;
    this.counters.polledMs += t2 - t1;
    return result;
  }
}

/** Paced in Node (Dawn polls there), polled in browsers. */
export function defaultWaitMode(runtime: 'browser' | 'node'): GpuWaitMode {
  return runtime === 'node' ? 'paced' : 'polled';
}

/** A timer sleep: nothing polls meanwhile. */
export const timerSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** performance.now() and `sleep` (the session races its sleeps against a device loss). */
export const hostClock = (sleep: (ms: number) => Promise<void>): PacerClock => ({ now: () => performance.now(), sleep });
