/** The wait pacer's schedule on a fake clock: when it sleeps, for how long, and what it learns. */
import { describe, expect, it } from 'vitest';
import { defaultWaitMode, MIN_SLEEP_MS, SLEEP_FRACTION, WaitPacer, type GpuWaitMode } from './wait-pacer.js';

/** A clock that only moves when the pacer sleeps or a fake wait runs. */
function fakeClock() {
  const c = {
    t: 0,
    sleeps: [] as number[],
    now: () => c.t,
    sleep: async (ms: number) => {
      c.sleeps.push(ms);
      c.t += ms;
    },
  };
  return c;
}

/** A GPU wait that settles `doneAt` (clock time); records when it was started. */
function gpuWait(clock: ReturnType<typeof fakeClock>, doneAt: number, starts: number[]) {
  return async () => {
    starts.push(clock.t);
    clock.t = Math.max(clock.t, doneAt);
    return 'done';
  };
}

function pacer(mode: GpuWaitMode = 'paced') {
  const clock = fakeClock();
  return { clock, pacer: new WaitPacer(mode, clock) };
}

describe('WaitPacer', () => {
  it('starts the first wait of a kind at once, then sleeps through SLEEP_FRACTION of the learned length', async () => {
    const { clock, pacer: p } = pacer();
    const starts: number[] = [];
    expect(await p.wait('token', 1, gpuWait(clock, 40, starts))).toBe('done');
    expect(clock.sleeps).toEqual([]);
    expect(p.expectedMs('token', 1)).toBe(40);
    // The next one is due 40 ms after it is asked for: it sleeps 34 ms, then polls 6.
    await p.wait('token', 1, gpuWait(clock, 80, starts));
    expect(clock.sleeps).toEqual([Math.floor(SLEEP_FRACTION * 40)]);
    expect(starts).toEqual([0, 40 + 34]);
    expect(p.stats).toEqual({ waits: 2, sleptMs: 34, polledMs: 40 + 6 });
  });

  it('scales the estimate by the units of work and keeps kinds apart', async () => {
    const { clock, pacer: p } = pacer();
    await p.wait('prompt', 64, gpuWait(clock, 128, []));
    expect(p.expectedMs('prompt', 32)).toBe(64);
    expect(p.expectedMs('token', 1)).toBeUndefined();
    await p.wait('prompt', 32, gpuWait(clock, clock.t + 70, []));
    expect(clock.sleeps).toEqual([Math.floor(SLEEP_FRACTION * 64)]);
    expect(p.expectedMs('prompt', 32)).toBe(70); // slept 54, polled 16: the real length
  });

  it('after sleeping too long, shrinks the estimate by SLEEP_FRACTION per wait until it is short again', async () => {
    const { clock, pacer: p } = pacer();
    await p.wait('token', 1, gpuWait(clock, 100, []));
    // The GPU got faster: every later wait is done 10 ms after it is asked for.
    const lengths: number[] = [];
    for (let i = 0; i < 20; i++) {
      const asked = clock.t;
      await p.wait('token', 1, gpuWait(clock, asked + 10, []));
      lengths.push(clock.t - asked);
    }
    expect(lengths[0]).toBe(Math.floor(SLEEP_FRACTION * 100));
    expect(lengths[1]).toBe(Math.floor(SLEEP_FRACTION * lengths[0]!));
    // Settled: slept less than the real 10 ms, polled the rest.
    expect(lengths.slice(-3)).toEqual([10, 10, 10]);
    expect(clock.sleeps.at(-1)).toBe(Math.floor(SLEEP_FRACTION * 10));
  });

  it(`does not sleep for waits under ${MIN_SLEEP_MS} ms, nor at all when polled`, async () => {
    const short = pacer();
    await short.pacer.wait('token', 1, gpuWait(short.clock, 2.2, []));
    await short.pacer.wait('token', 1, gpuWait(short.clock, 4.4, []));
    expect(short.clock.sleeps).toEqual([]); // floor(0.85 · 2.2) = 1 ms
    const polled = pacer('polled');
    for (let i = 1; i <= 3; i++) await polled.pacer.wait('token', 1, gpuWait(polled.clock, 50 * i, []));
    expect(polled.clock.sleeps).toEqual([]);
    expect(polled.pacer.stats).toEqual({ waits: 3, sleptMs: 0, polledMs: 150 });
  });

  it('a failed wait teaches nothing and passes its error on; a failed sleep skips the wait', async () => {
    const { clock, pacer: p } = pacer();
    await p.wait('token', 1, gpuWait(clock, 30, []));
    await expect(
      p.wait('token', 1, async () => {
        clock.t += 500;
        throw new Error('device lost');
      }),
    ).rejects.toThrow('device lost');
    expect(p.expectedMs('token', 1)).toBe(30);
    // A sleep that fails (the session's sleeps reject when the device is lost) skips the wait.
    clock.sleep = () => Promise.reject(new Error('lost while asleep'));
    const starts: number[] = [];
    await expect(p.wait('token', 1, gpuWait(clock, clock.t + 30, starts))).rejects.toThrow('lost while asleep');
    expect(starts).toEqual([]);
    await expect(p.wait('token', 0, async () => 1)).rejects.toThrow(RangeError);
  });

  it('paces in Node, where Dawn polls, and not in browsers', () => {
    expect(defaultWaitMode('node')).toBe('paced');
    expect(defaultWaitMode('browser')).toBe('polled');
  });
});
