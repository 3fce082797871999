/**
 * The token loop: prefill the prompt, then decode with one token in flight — the next step is
 * submitted (it feeds the sampled id on the GPU) before the current id is read back, so the GPU
 * does not wait for the host's read-back. When the id read back ends the generation, the step
 * already submitted has fed it into the cache; its own sample is dropped. Stops on EOS ids, stop
 * strings, maxTokens, the context limit or an AbortSignal; text is streamed as complete UTF-8 only.
 *
 * Cache bookkeeping: after a call, the cache holds the prompt and every generated token except
 * possibly the last one, which is then kept as `pending` and fed first by the next call (a
 * multi-turn conversation continues without recomputing anything).
 */
import { AbortedError, ContextOverflowError, InvalidArgumentError } from '../errors.js';
import { checkPrompt, checkTokenIds, resolveGenerateOptions, StopMatcher, type GenerateOptions } from './options.js';
import type { Session } from './session.js';
import type { CacheSnapshot } from './state.js';
import type { TextTokenizer } from './tokenizer.js';
import { cachedChat, type CachedChat } from './chat-continuation.js';
import type { ChatMessage } from './chat-template.js';

export type FinishReason = 'stop' | 'length' | 'abort';

/**
 * One per generated token (none for an end-of-sequence token or the token that completes a stop
 * string, unless it brings text). A cancelled generation may end with one more chunk that
 * releases the text held back after its last token (`token` and `generated` repeat; an
 * incomplete character shows as U+FFFD), so count tokens with `generated`, not by chunks.
 */
export interface GenerationChunk {
  token: number;
  /** Newly completed text (may be empty while a UTF-8 character or a possible stop string is pending). */
  text: string;
  /** Tokens generated so far by this call, this one included. */
  generated: number;
}

export interface GenerationStats {
  promptTokens: number;
  generatedTokens: number;
  /** Prompt submitted → first token read back. */
  timeToFirstTokenMs: number;
  prefillTokensPerSecond: number;
  decodeMs: number;
  /** Generated tokens after the first, per second of decoding. */
  decodeTokensPerSecond: number;
}

export interface GenerationResult {
  tokens: number[];
  text: string;
  finishReason: FinishReason;
  stats: GenerationStats;
}

/** A chat call's conversation, for continuing the cached one (chat-continuation.ts). */
export interface ChatTurn {
  /** The messages whose rendering is the prompt. */
  messages: readonly ChatMessage[];
  /** The ids to feed after a cache that holds `cached`, or undefined when the messages do not extend it. */
  continueAfter(cached: CachedChat): number[] | undefined;
  /** The id of the token that ends a turn (the template's eos_token), if the vocabulary has it. */
  endOfTurnId: number | undefined;
}

const now = (): number => performance.now();

export class Generator {
  /** The last generated id when it is not in the cache yet. */
  private pending: number | undefined;
  /** A generation holds the session (reset/snapshot/restore would corrupt it and are refused). */
  private running = false;
  /** The chat conversation the cache holds; cleared by every other change of the cache. */
  private cachedChat: CachedChat | undefined;

  constructor(
    readonly session: Session,
    readonly tokenizer: TextTokenizer,
  ) {}

  /** Tokens the cache holds plus the pending one: the conversation so far. */
  get history(): number[] {
    return this.pending === undefined ? [...this.session.tokens] : [...this.session.tokens, this.pending];
  }

  reset(): void {
    this.refuseWhileRunning('reset()');
    this.forget();
  }

  private forget(): void {
    this.session.reset();
    this.pending = undefined;
    this.cachedChat = undefined;
  }

  private refuseWhileRunning(call: string): void {
    if (this.running) {
      throw new InvalidArgumentError(`${call} while a generation is running: finish the stream, break out of it or abort it first`);
    }
  }

  /** The cache state with the pending token fed first, so that a restore continues exactly here. */
  snapshot(): CacheSnapshot {
    this.refuseWhileRunning('snapshot()');
    const snap = this.session.snapshot();
    return this.pending === undefined ? snap : { ...snap, pending: this.pending };
  }

  restore(snap: CacheSnapshot): void {
    this.refuseWhileRunning('restore()');
    this.session.restore(snap);
    this.pending = snap.pending;
    this.cachedChat = undefined;
  }

  /** Streams generated tokens for `prompt` appended to the cached conversation. */
  generate(prompt: string | readonly number[], options: GenerateOptions = {}): AsyncGenerator<GenerationChunk, GenerationResult> {
    return this.stream(() => {
      checkPrompt(prompt);
      const ids = typeof prompt === 'string' ? this.tokenizer.encode(prompt) : [...prompt];
      // Also after a reply cut by maxTokens (its last id is still to be fed): nothing new to say is an error.
      if (ids.length === 0) throw new InvalidArgumentError('the prompt is empty: give at least one token');
      return ids;
    }, options);
  }

  /**
   * Streams the reply to a whole conversation `ids` (a rendered chat): when it extends what the
   * cache holds, only the new tokens are computed; otherwise the cache starts over. Decided when
   * the call gets the session, so queued calls see the conversation their predecessors left.
   */
  generateConversation(ids: readonly number[], options: GenerateOptions = {}, turn?: ChatTurn): AsyncGenerator<GenerationChunk, GenerationResult> {
    return this.stream(
      () => [...ids],
      options,
      () => {
        const continued = this.cachedChat && turn?.continueAfter(this.cachedChat);
        if (continued && continued.length > 0) return continued;
        const history = this.history;
        if (history.length < ids.length && history.every((id, i) => ids[i] === id)) return ids.slice(history.length);
        this.forget();
        return [...ids];
      },
      turn && ((reply, tokens) => (this.cachedChat = cachedChat(turn.messages, reply, tokens[tokens.length - 1], turn.endOfTurnId))),
    );
  }

  /**
   * The token loop. `promptIds` gives the prompt (validated before waiting for the session);
   * `continueFrom` (run once the session is ours) the part of it to feed after the cache;
   * `onEnd` sees the reply when the generation ends (finished or aborted), still holding the session.
   */
  private async *stream(
    promptIds: () => number[],
    options: GenerateOptions,
    continueFrom: (ids: number[]) => number[] = (ids) => ids,
    onEnd?: (text: string, tokens: number[]) => void,
  ): AsyncGenerator<GenerationChunk, GenerationResult> {
    const session = this.session;
    const config = session.config;
    const opts = resolveGenerateOptions(options, {
      eosTokenIds: config.eosTokenIds,
      vocabSize: config.vocabSize,
      maxTokens: session.options.maxContext,
    });
    const prompt = promptIds();
    checkTokenIds(prompt, config.vocabSize);
    if (opts.signal?.aborted) throw new AbortedError('generation was cancelled before it started');

    const release = await acquire(session);
    this.running = true;
    try {
      session.checkHealthy();
      // Read the conversation only now: calls queued before this one have changed it.
      const promptPart = continueFrom(prompt);
      this.cachedChat = undefined;
      const ids = this.pending === undefined ? promptPart : [this.pending, ...promptPart];
      if (session.position + ids.length + 1 > session.options.maxContext) {
        throw new ContextOverflowError(
          `the prompt (${promptPart.length} tokens) plus at least one generated token does not fit: ${session.position} tokens are ` +
            `cached and the context holds ${session.options.maxContext}; reset the session or load it with a larger maxContext`,
        );
      }
      session.setSampling(opts.sampling);
      const t0 = now();
      const cachedBefore = session.position;
      let slot: number;
      try {
        slot = await session.prefill(ids, 0, { signal: opts.signal });
      } finally {
        // Whatever part of the prompt ran is in the cache now, the pending token included.
        if (session.position > cachedBefore) this.pending = undefined;
      }
      const decoder = this.tokenizer.streamDecoder();
      const stops = new StopMatcher(opts.stop);
      const eos = new Set(opts.eosTokenIds);
      const tokens: number[] = [];
      let text = '';
      let finishReason: FinishReason = 'length';
      let firstAt = 0;
      /** After the last token: the text the decoder and the stop matcher still hold (up to a stop string). */
      const releaseHeldBack = () => stops.push(decoder.flush()).emit + stops.flush();
      for (let step = 0; ; step++) {
        // Unless this token is certainly the last, submit the step that feeds it (from the GPU's
        // token buffer) before reading it back: the GPU runs it while the host waits.
        const more = tokens.length + 1 < opts.maxTokens && session.position + 1 < session.options.maxContext;
        if (more) session.submitDecode(undefined, step + 1, slot ^ 1);
        const id = await session.readToken(slot);
        if (step === 0) firstAt = now();
        if (more) session.recordFedToken(id);
        tokens.push(id);
        let done = !more;
        if (eos.has(id)) {
          finishReason = 'stop';
          done = true;
        } else {
          const piece = stops.push(decoder.push(id));
          let emit = piece.emit;
          if (piece.stopped) {
            finishReason = 'stop';
            done = true;
          } else if (done) emit += releaseHeldBack();
          text += emit;
          if (emit || !piece.stopped) yield { token: id, text: emit, generated: tokens.length };
        }
        if (!done && opts.signal?.aborted) {
          finishReason = 'abort';
          done = true;
        }
        if (done) {
          // The speculative step fed `id` (it is in the cache now); wait for it and drop its sample.
          if (more) await session.readToken(slot ^ 1);
          else this.pending = id;
          break;
        }
        slot ^= 1;
      }
      if (finishReason === 'abort') {
        const rest = releaseHeldBack();
        text += rest;
        if (rest) yield { token: tokens[tokens.length - 1]!, text: rest, generated: tokens.length };
      }
      onEnd?.(text, tokens);
      if (finishReason === 'abort') throw new AbortedError('generation was cancelled');
      const end = now();
      const prefillSec = (firstAt - t0) / 1000;
      const decodeMs = end - firstAt;
      return {
        tokens,
        text,
        finishReason,
        stats: {
          promptTokens: ids.length,
          generatedTokens: tokens.length,
          timeToFirstTokenMs: firstAt - t0,
          prefillTokensPerSecond: ids.length / prefillSec,
          decodeMs,
          decodeTokensPerSecond: tokens.length > 1 ? ((tokens.length - 1) * 1000) / decodeMs : 0,
        },
      };
    } finally {
      this.running = false;
      release();
    }
  }
}

/** Waits for the session's queue and returns the function that releases it. */
function acquire(session: Session): Promise<() => void> {
  return new Promise((resolveAcquire) => {
    void session.exclusive(
      () =>
        new Promise<void>((release) => {
          resolveAcquire(release);
        }),
    );
  });
}
