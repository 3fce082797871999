/**
 * One measurement of each scenario on a loaded model, through the same calls users make
 * (Qwen35Model.generate: prefill in chunks, decode with one step in flight, greedy sampling on
 * the GPU). Prompts are seeded pseudo-random token ids, so no tokenizer time is included and EOS
 * is disabled (every run produces exactly the requested tokens). Each call leaves the model reset.
 */
import { InvalidArgumentError } from '../errors.js';
import { Random } from '../model/random.js';
import type { Qwen35Model } from '../runtime/model.js';
import type { CacheSnapshot } from '../runtime/state.js';

/** Greedy, no stop tokens: the work per token is fixed. */
const FIXED_WORK = { temperature: 0, eosTokenIds: [] as number[] };

/** `length` seeded token ids in [0, vocab). */
export function promptIds(length: number, vocab: number, seed: number): number[] {
  const rnd = new Random(seed * 7919 + length);
  return Array.from({ length }, () => rnd.int(vocab));
}

export interface PrefillSample {
  timeToFirstTokenMs: number;
  tokensPerSecond: number;
}

/** Tokens a prefill measurement of `length` prompt tokens needs in the context (the prompt + the sampled token). */
export const prefillFootprint = (length: number): number => length + 1;

/** Prompt → first token on an empty cache. */
export async function measurePrefill(model: Qwen35Model, ids: readonly number[]): Promise<PrefillSample> {
  model.reset();
  try {
    const r = await model.generateText(ids, { ...FIXED_WORK, maxTokens: 1 });
    return { timeToFirstTokenMs: r.stats.timeToFirstTokenMs, tokensPerSecond: r.stats.prefillTokensPerSecond };
  } finally {
    model.reset();
  }
}

/** Decode tokens/s after `context` cached tokens, repeatable from one snapshot. */
export interface DecodeFixture {
  context: number;
  /** Feeds one token at position `context`, then times `steps` decode steps (tokens/s). */
  measure(steps: number): Promise<number>;
  release(): void;
}

/** Tokens a decode measurement of `steps` steps after `context` cached tokens needs in the context. */
export const decodeFootprint = (context: number, steps: number): number => context + steps + 2;

/** Fills the cache with a prefill of `context` tokens once and snapshots it. */
export async function prepareDecode(model: Qwen35Model, context: number, seed: number): Promise<DecodeFixture> {
  const session = model.session;
  model.reset();
  let snapshot: CacheSnapshot | undefined;
  if (context > 0) {
    const ids = promptIds(context, model.config.vocabSize, seed);
    await session.exclusive(async () => session.readToken(await session.prefill(ids, 0)));
    snapshot = model.snapshot();
  }
  const fed = promptIds(1, model.config.vocabSize, seed + 1);
  return {
    context,
    async measure(steps) {
      if (decodeFootprint(context, steps) > session.options.maxContext) {
        throw new InvalidArgumentError(`decode of ${steps} tokens after ${context} does not fit maxContext ${session.options.maxContext}`);
      }
      if (snapshot) model.restore(snapshot);
      else model.reset();
      try {
        const r = await model.generateText(fed, { ...FIXED_WORK, maxTokens: steps + 1 });
        return r.stats.decodeTokensPerSecond;
      } finally {
        model.reset();
      }
    },
    release() {
      if (snapshot) model.releaseSnapshot(snapshot);
      model.reset();
    },
  };
}

/** Wall ms of one prefill of `ids` on an empty cache (prompt → sampled id read back), chunked or token-sequential DeltaNet. */
export async function timeGdnPrefill(model: Qwen35Model, ids: readonly number[], sequentialGdn: boolean): Promise<number> {
  const session = model.session;
  model.reset();
  try {
    return await session.exclusive(async () => {
      const t0 = performance.now();
      await session.readToken(await session.prefill(ids, 0, { sequentialGdn }));
      return performance.now() - t0;
    });
  } finally {
    model.reset();
  }
}
