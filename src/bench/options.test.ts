/** Benchmark options: defaults, the quick plan, the software-adapter rule, checks and the context a plan needs (exact). */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { DEFAULT_PARAMETERS, planForAdapter, QUICK_PARAMETERS, requiredContext, resolveBenchOptions } from './options.js';

describe('benchmark options', () => {
  it('defaults are the published plan; quick shortens it', () => {
    expect(resolveBenchOptions()).toEqual(DEFAULT_PARAMETERS);
    expect(DEFAULT_PARAMETERS).toMatchObject({ prefillLengths: [128, 512, 2048], decodeContexts: [0, 1024, 4096], decodeTokens: 128, gdnTokens: 512 });
    expect(resolveBenchOptions({ quick: true })).toEqual(QUICK_PARAMETERS);
    expect(resolveBenchOptions({ quick: true, repetitions: 7 }).repetitions).toBe(7);
  });

  it('scenarios keep their canonical order; unknown ones and bad numbers are typed errors naming the value', () => {
    expect(resolveBenchOptions({ scenarios: ['gdn', 'prefill'] }).scenarios).toEqual(['prefill', 'gdn']);
    expect(() => resolveBenchOptions({ scenarios: ['speed' as never] })).toThrow(/unknown scenario\(s\) "speed"/);
    expect(() => resolveBenchOptions({ prefillLengths: [128, 0] })).toThrow(InvalidArgumentError);
    expect(() => resolveBenchOptions({ decodeContexts: [] })).toThrow(/non-empty/);
    expect(() => resolveBenchOptions({ decodeTokens: 1 })).toThrow(/decode tokens .* ≥ 2/);
    expect(() => resolveBenchOptions({ repetitions: 2.5 })).toThrow(/repetitions/);
  });

  it('a software adapter gets the quick plan unless quick is set or lengths are given', () => {
    expect(planForAdapter({}, true)).toEqual({ options: { quick: true }, reduced: true });
    expect(planForAdapter({}, false)).toEqual({ options: {}, reduced: false });
    expect(planForAdapter({ quick: false }, true).reduced).toBe(false);
    expect(planForAdapter({ decodeContexts: [0] }, true).reduced).toBe(false);
  });

  it('requiredContext: prompt + 1 sampled token, context + steps + 2 for decode, the GDN prompt, the profiled prefill chunk', () => {
    const p = resolveBenchOptions({ prefillLengths: [100], decodeContexts: [0, 50], decodeTokens: 10, gdnTokens: 80 });
    expect(requiredContext(p)).toBe(101);
    expect(requiredContext({ ...p, scenarios: ['decode'] })).toBe(62);
    expect(requiredContext({ ...p, scenarios: ['gdn'] })).toBe(80);
    expect(requiredContext({ ...p, scenarios: ['profile'] })).toBe(100); // a 100-token prefill chunk > 1 + 16 + 1 for the decode profile
    expect(requiredContext(DEFAULT_PARAMETERS)).toBe(4096 + 128 + 2);
  });
});
