/** Per-call generation options: defaults, validation (clear errors for NaN/Inf/out-of-range). */
import { InvalidArgumentError } from '../errors.js';

export interface SamplingOptions {
  /** 0 = greedy (argmax). */
  temperature: number;
  /** Keep the k most likely tokens; 0 = off. */
  topK: number;
  /** Nucleus sampling mass in (0, 1]; 1 = off. */
  topP: number;
  /** HF-style repetition penalty over the ids seen so far; 1 = off. */
  repetitionPenalty: number;
  /** Seed of the GPU sampler's counter-based RNG. */
  seed: number;
}

export interface GenerateOptions extends Partial<SamplingOptions> {
  /** Maximum number of generated tokens. */
  maxTokens?: number;
  /** Generation stops when one of these strings appears in the output (not included). */
  stop?: string[];
  /** Stop on these ids (defaults to the checkpoint's EOS ids). */
  eosTokenIds?: number[];
  signal?: AbortSignal;
}

export interface ResolvedGenerateOptions {
  sampling: SamplingOptions;
  maxTokens: number;
  stop: string[];
  eosTokenIds: number[];
  signal: AbortSignal | undefined;
}

export const DEFAULT_SAMPLING: SamplingOptions = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0 };

function check(ok: boolean, message: string): void {
  if (!ok) throw new InvalidArgumentError(message);
}

const isInt = (v: number): boolean => Number.isSafeInteger(v);

export function resolveGenerateOptions(
  options: GenerateOptions,
  defaults: { eosTokenIds: number[]; vocabSize: number; maxTokens: number },
): ResolvedGenerateOptions {
  check(typeof options === 'object' && options !== null && !Array.isArray(options), 'generation options must be an object (or left out)');
  const s: SamplingOptions = {
    temperature: options.temperature ?? DEFAULT_SAMPLING.temperature,
    topK: options.topK ?? DEFAULT_SAMPLING.topK,
    topP: options.topP ?? DEFAULT_SAMPLING.topP,
    repetitionPenalty: options.repetitionPenalty ?? DEFAULT_SAMPLING.repetitionPenalty,
    seed: options.seed ?? DEFAULT_SAMPLING.seed,
  };
  check(Number.isFinite(s.temperature) && s.temperature >= 0, `temperature must be a finite number ≥ 0, got ${s.temperature}`);
  check(isInt(s.topK) && s.topK >= 0, `topK must be an integer ≥ 0 (0 = off), got ${s.topK}`);
  check(Number.isFinite(s.topP) && s.topP > 0 && s.topP <= 1, `topP must be in (0, 1], got ${s.topP}`);
  check(
    Number.isFinite(s.repetitionPenalty) && s.repetitionPenalty > 0,
    `repetitionPenalty must be a finite number > 0 (1 = off), got ${s.repetitionPenalty}`,
  );
  check(isInt(s.seed) && s.seed >= 0 && s.seed <= 0xffffffff, `seed must be an integer in [0, 2^32), got ${s.seed}`);
  const maxTokens = options.maxTokens ?? defaults.maxTokens;
  check(isInt(maxTokens) && maxTokens >= 1, `maxTokens must be an integer ≥ 1, got ${maxTokens}`);
  const stop = options.stop ?? [];
  check(Array.isArray(stop) && stop.every((x) => typeof x === 'string' && x.length > 0), 'stop must be an array of non-empty strings');
  const eosTokenIds = options.eosTokenIds ?? defaults.eosTokenIds;
  check(
    Array.isArray(eosTokenIds) && eosTokenIds.every((id) => isInt(id) && id >= 0 && id < defaults.vocabSize),
    `eosTokenIds must be token ids in [0, ${defaults.vocabSize})`,
  );
  const signal = options.signal;
  check(signal === undefined || isAbortSignal(signal), 'signal must be an AbortSignal (from an AbortController)');
  return { sampling: s, maxTokens, stop, eosTokenIds, signal };
}

/** Duck-typed, so that a signal from another realm (an iframe, a worker polyfill) is accepted too. */
const isAbortSignal = (s: unknown): s is AbortSignal =>
  typeof s === 'object' && s !== null && typeof (s as AbortSignal).aborted === 'boolean' && typeof (s as AbortSignal).addEventListener === 'function';

/** A prompt is text or an array of token ids. */
export function checkPrompt(prompt: unknown): asserts prompt is string | readonly number[] {
  check(typeof prompt === 'string' || Array.isArray(prompt), `the prompt must be a string or an array of token ids, got ${prompt === null ? 'null' : typeof prompt}`);
}

/** Validates prompt token ids against the vocabulary. */
export function checkTokenIds(ids: readonly number[], vocabSize: number): void {
  ids.forEach((id, i) => {
    if (!isInt(id) || id < 0 || id >= vocabSize) {
      throw new InvalidArgumentError(`token id ${id} at position ${i} is outside the vocabulary [0, ${vocabSize})`);
    }
  });
}

/**
 * Holds back streamed text that could be the start of a stop string, so a stop string is never
 * emitted, even when it arrives split over several tokens.
 */
export class StopMatcher {
  private pending = '';

  constructor(private readonly stops: readonly string[]) {}

  /** Adds text; returns what may be emitted now and whether a stop string was hit. */
  push(text: string): { emit: string; stopped: boolean } {
    this.pending += text;
    let cut = -1;
    for (const s of this.stops) {
      const at = this.pending.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      const emit = this.pending.slice(0, cut);
      this.pending = '';
      return { emit, stopped: true };
    }
    // Keep the longest suffix that is a proper prefix of some stop string.
    let keep = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, this.pending.length); n > keep; n--) {
        if (this.pending.endsWith(s.slice(0, n))) {
          keep = n;
          break;
        }
      }
    }
    const emit = this.pending.slice(0, this.pending.length - keep);
    this.pending = this.pending.slice(this.pending.length - keep);
    return { emit, stopped: false };
  }

  /** The held-back text at the end of generation. */
  flush(): string {
    const rest = this.pending;
    this.pending = '';
    return rest;
  }
}
