/**
 * OpenAI-style chat completions, as WebLLM users call them:
 *   await model.chat.completions.create({ messages, stream: false }) → { choices: [{ message }], usage }
 *   for await (const chunk of await model.chat.completions.create({ messages, stream: true })) ...
 * Parameters map onto GenerateOptions (max_tokens, temperature, top_p, top_k, seed, stop,
 * repetition_penalty); `enable_thinking` is passed to the chat template.
 */
import { InvalidArgumentError } from '../errors.js';
import type { ChatMessage } from './chat-template.js';
import type { FinishReason, GenerationChunk, GenerationResult, GenerationStats } from './generate.js';
import type { ChatOptions } from './model.js';

export interface CompletionRequest {
  messages: ChatMessage[];
  stream?: boolean;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  seed?: number;
  stop?: string | string[];
  repetition_penalty?: number;
  enable_thinking?: boolean;
  signal?: AbortSignal;
}

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  extra: { time_to_first_token_ms: number; prefill_tokens_per_s: number; decode_tokens_per_s: number };
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: [{ index: 0; message: { role: 'assistant'; content: string }; finish_reason: FinishReason }];
  usage: CompletionUsage;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: [{ index: 0; delta: { role?: 'assistant'; content?: string }; finish_reason: FinishReason | null }];
  usage?: CompletionUsage;
}

export interface Completions {
  create(request: CompletionRequest & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
  create(request: CompletionRequest & { stream?: false }): Promise<ChatCompletion>;
  create(request: CompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
}

interface ChatRunner {
  readonly modelId: string;
  chatStream(messages: ChatMessage[], options: ChatOptions): AsyncGenerator<GenerationChunk, GenerationResult>;
}

function toOptions(r: CompletionRequest): ChatOptions {
  if (!r || typeof r !== 'object') throw new InvalidArgumentError('create() needs a request object with messages');
  const opts: ChatOptions = {};
  if (r.max_tokens !== undefined) opts.maxTokens = r.max_tokens;
  if (r.temperature !== undefined) opts.temperature = r.temperature;
  if (r.top_p !== undefined) opts.topP = r.top_p;
  if (r.top_k !== undefined) opts.topK = r.top_k;
  if (r.seed !== undefined) opts.seed = r.seed;
  if (r.repetition_penalty !== undefined) opts.repetitionPenalty = r.repetition_penalty;
  if (r.stop !== undefined) opts.stop = typeof r.stop === 'string' ? [r.stop] : r.stop;
  if (r.enable_thinking !== undefined) opts.enableThinking = r.enable_thinking;
  if (r.signal) opts.signal = r.signal;
  return opts;
}

function usage(stats: GenerationStats): CompletionUsage {
  return {
    prompt_tokens: stats.promptTokens,
    completion_tokens: stats.generatedTokens,
    total_tokens: stats.promptTokens + stats.generatedTokens,
    extra: {
      time_to_first_token_ms: stats.timeToFirstTokenMs,
      prefill_tokens_per_s: stats.prefillTokensPerSecond,
      decode_tokens_per_s: stats.decodeTokensPerSecond,
    },
  };
}

let counter = 0;

export function createCompletions(runner: ChatRunner): Completions {
  async function* chunks(request: CompletionRequest, id: string, created: number): AsyncGenerator<ChatCompletionChunk> {
    const stream = runner.chatStream(request.messages, toOptions(request));
    const base = { id, object: 'chat.completion.chunk' as const, created, model: runner.modelId };
    yield { ...base, choices: [{ index: 0, delta: { role: 'assistant' }, finish_reason: null }] };
    for (;;) {
      const r = await stream.next();
      if (r.done) {
        yield { ...base, choices: [{ index: 0, delta: {}, finish_reason: r.value.finishReason }], usage: usage(r.value.stats) };
        return;
      }
      if (r.value.text) yield { ...base, choices: [{ index: 0, delta: { content: r.value.text }, finish_reason: null }] };
    }
  }

  async function create(request: CompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
    const options = toOptions(request);
    const id = `chatcmpl-${Date.now().toString(36)}-${(counter++).toString(36)}`;
    const created = Math.floor(Date.now() / 1000);
    if (request.stream) return chunks(request, id, created);
    const stream = runner.chatStream(request.messages, options);
    let r = await stream.next();
    while (!r.done) r = await stream.next();
    const result = r.value;
    return {
      id,
      object: 'chat.completion',
      created,
      model: runner.modelId,
      choices: [{ index: 0, message: { role: 'assistant', content: result.text }, finish_reason: result.finishReason }],
      usage: usage(result.stats),
    };
  }
  return { create } as Completions;
}
