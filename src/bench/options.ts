/**
 * Benchmark parameters: defaults (hardware), --quick, and checks. Every resolved parameter is
 * written into the result next to the numbers it produced.
 */
import { InvalidArgumentError } from '../errors.js';
import { decodeFootprint, prefillFootprint } from './scenarios.js';
import { SCENARIOS, type RunParameters, type Scenario } from './schema.js';

export interface BenchOptions {
  scenarios?: Scenario[];
  /** Prompt lengths of the prefill / time-to-first-token scenario. */
  prefillLengths?: number[];
  /** Cached tokens before the timed decode steps. */
  decodeContexts?: number[];
  /** Timed decode steps per repetition. */
  decodeTokens?: number;
  /** Prompt length of the chunked vs sequential DeltaNet prefill comparison. */
  gdnTokens?: number;
  /** Decode steps profiled per kernel (and timed on the host). */
  profileSteps?: number;
  /** Untimed runs of each scenario point before the timed ones. */
  warmup?: number;
  repetitions?: number;
  /** Buffer size of the bandwidth probe. */
  probeBytes?: number;
  kernelIterations?: number;
  /** Seed of the prompt token ids. */
  seed?: number;
  /** --quick: short lengths, fewer repetitions (false: the full plan even on a software adapter). */
  quick?: boolean;
}

export const DEFAULT_PARAMETERS: RunParameters = {
  scenarios: [...SCENARIOS],
  prefillLengths: [128, 512, 2048],
  decodeContexts: [0, 1024, 4096],
  decodeTokens: 128,
  gdnTokens: 512,
  profileSteps: 16,
  warmup: 1,
  repetitions: 5,
  probeBytes: 256 * 2 ** 20,
  kernelIterations: 20,
  seed: 1,
};

export const QUICK_PARAMETERS: RunParameters = {
  ...DEFAULT_PARAMETERS,
  prefillLengths: [32, 128],
  decodeContexts: [0, 128],
  decodeTokens: 16,
  gdnTokens: 128,
  profileSteps: 3,
  repetitions: 3,
  probeBytes: 32 * 2 ** 20,
  kernelIterations: 3,
};

const positiveInts = (xs: readonly number[], what: string, min: number): number[] => {
  if (xs.length === 0 || !xs.every((x) => Number.isSafeInteger(x) && x >= min)) {
    throw new InvalidArgumentError(`${what} must be a non-empty list of integers ≥ ${min}, got [${xs.join(', ')}]`);
  }
  return [...xs];
};

const positiveInt = (x: number, what: string, min: number): number => positiveInts([x], what, min)[0]!;

export function resolveBenchOptions(options: BenchOptions = {}): RunParameters {
  const base = options.quick ? QUICK_PARAMETERS : DEFAULT_PARAMETERS;
  const scenarios = options.scenarios ?? base.scenarios;
  const unknown = scenarios.filter((s) => !SCENARIOS.includes(s));
  if (unknown.length > 0 || scenarios.length === 0) {
    throw new InvalidArgumentError(`unknown scenario(s) "${unknown.join(', ')}": choose from ${SCENARIOS.join(', ')}`);
  }
  return {
    scenarios: SCENARIOS.filter((s) => scenarios.includes(s)),
    prefillLengths: positiveInts(options.prefillLengths ?? base.prefillLengths, 'prefill lengths', 1),
    decodeContexts: positiveInts(options.decodeContexts ?? base.decodeContexts, 'decode contexts', 0),
    decodeTokens: positiveInt(options.decodeTokens ?? base.decodeTokens, 'decode tokens', 2),
    gdnTokens: positiveInt(options.gdnTokens ?? base.gdnTokens, 'GDN prefill tokens', 1),
    profileSteps: positiveInt(options.profileSteps ?? base.profileSteps, 'profile steps', 1),
    warmup: positiveInt(options.warmup ?? base.warmup, 'warm-up runs', 0),
    repetitions: positiveInt(options.repetitions ?? base.repetitions, 'repetitions', 1),
    probeBytes: positiveInt(options.probeBytes ?? base.probeBytes, 'probe bytes', 16),
    kernelIterations: positiveInt(options.kernelIterations ?? base.kernelIterations, 'kernel iterations', 1),
    seed: positiveInt(options.seed ?? base.seed, 'seed', 0),
  };
}

/**
 * The plan for an adapter: on a software adapter (where the full plan takes hours) the quick one,
 * unless `quick` is set either way or explicit prompt/decode lengths are given. `reduced` says
 * that the quick plan was chosen for this reason.
 */
export function planForAdapter(options: BenchOptions, software: boolean): { options: BenchOptions; reduced: boolean } {
  const explicit = options.prefillLengths !== undefined || options.decodeContexts !== undefined || options.decodeTokens !== undefined;
  const reduced = software && options.quick === undefined && !explicit;
  return { options: reduced ? { ...options, quick: true } : options, reduced };
}

/** The prompt the prefill profile runs as one chunk (at most the session's prefill chunk): the plan's longest. */
export const profiledPrefillTokens = (p: RunParameters): number => Math.max(...p.prefillLengths);

/** Context a session needs to run every scenario point of `p`. */
export function requiredContext(p: RunParameters): number {
  const needs = [1];
  if (p.scenarios.includes('prefill')) needs.push(...p.prefillLengths.map(prefillFootprint));
  if (p.scenarios.includes('decode')) needs.push(...p.decodeContexts.map((c) => decodeFootprint(c, p.decodeTokens)));
  // The profile: decode steps after the first decode context, and one prefill chunk of the longest prompt.
  if (p.scenarios.includes('profile')) needs.push(Math.max(1, p.decodeContexts[0]!) + p.profileSteps + 1, profiledPrefillTokens(p));
  if (p.scenarios.includes('gdn')) needs.push(p.gdnTokens);
  return Math.max(...needs);
}
