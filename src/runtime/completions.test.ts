/**
 * The OpenAI-style facade (model.chat.completions.create) is chat() in another shape: the same
 * greedy text, usage counted from the rendered prompt, finish reasons, streamed deltas that add up
 * to the message; and the EOS ids of generation_config.json end a generation without being asked.
 *
 * Tolerance: none — the facade and chat() run the same tokens on the same GPU session, so texts
 * and ids must be identical.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { acquireGpu, type GpuContext } from '../gpu/device.js';
import { FsCheckpointSource } from '../io/sources/fs.js';
import { ensureDefaultModel } from '../model/tiny.js';
import type { ChatMessage } from './chat-template.js';
import type { ChatCompletionChunk } from './completions.js';
import { drain, Qwen35Model } from './model.js';

let gpu: GpuContext;
let dir: string;
let model: Qwen35Model;
const temp = mkdtempSync(join(tmpdir(), 'qwen35-completions-'));

const load = (from: string) =>
  Qwen35Model.load(new FsCheckpointSource(from), { gpu, weightFormat: 'f32', kvFormat: 'f32', maxContext: 256 });

beforeAll(async () => {
  dir = await ensureDefaultModel();
  gpu = await acquireGpu();
  model = await load(dir);
});
afterAll(() => {
  model?.dispose();
  gpu?.destroy();
  rmSync(temp, { recursive: true, force: true });
});

const messages: ChatMessage[] = [{ role: 'user', content: 'Name three colours.' }];
const GREEDY = { temperature: 0, maxTokens: 12, enableThinking: false, eosTokenIds: [] as number[] };

/** chat() from an empty cache: the reply every facade call below is compared with. */
async function chatReply(options: Partial<typeof GREEDY> & { stop?: string[] } = {}) {
  model.reset();
  return drain(model.chat(messages, { ...GREEDY, ...options }));
}

describe('chat.completions.create', () => {
  it('non-streamed: the message is chat()’s text; usage counts the rendered prompt and the reply', async () => {
    const want = await chatReply();
    model.reset();
    const got = await model.chat.completions.create({ messages, max_tokens: 12, temperature: 0, enable_thinking: false });
    expect(got.object).toBe('chat.completion');
    expect(got.choices[0].message).toEqual({ role: 'assistant', content: want.text });
    expect(got.choices[0].finish_reason).toBe('length');
    const promptTokens = model.tokenizer.encode(model.renderChat(messages, { enableThinking: false })).length;
    expect(got.usage.prompt_tokens).toBe(promptTokens);
    expect(got.usage.completion_tokens).toBe(12);
    expect(got.usage.total_tokens).toBe(promptTokens + 12);
    expect(got.usage.extra.decode_tokens_per_s).toBeGreaterThan(0);
    expect(got.usage.extra.time_to_first_token_ms).toBeGreaterThan(0);
  });

  it('streamed: a role chunk, content deltas that add up to the same text, a last chunk with the finish reason and usage', async () => {
    const want = await chatReply();
    model.reset();
    const chunks: ChatCompletionChunk[] = [];
    for await (const c of await model.chat.completions.create({ messages, stream: true, max_tokens: 12, temperature: 0, enable_thinking: false })) chunks.push(c);
    expect(chunks[0]!.choices[0].delta).toEqual({ role: 'assistant' });
    const last = chunks.at(-1)!;
    expect(last.choices[0].finish_reason).toBe('length');
    expect(last.usage?.completion_tokens).toBe(12);
    const middle = chunks.slice(1, -1);
    expect(middle.every((c) => c.choices[0].finish_reason === null && typeof c.choices[0].delta.content === 'string')).toBe(true);
    expect(middle.map((c) => c.choices[0].delta.content).join('')).toBe(want.text);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
  });

  it('a stop string ends the reply before it, with finish_reason "stop"', async () => {
    const full = await chatReply();
    // A piece of the greedy reply past its start: the reply must end where it first appears.
    const stop = full.text.slice(4, 6);
    expect(stop.length).toBe(2);
    model.reset();
    const got = await model.chat.completions.create({ messages, max_tokens: 12, temperature: 0, enable_thinking: false, stop });
    expect(got.choices[0].finish_reason).toBe('stop');
    expect(got.choices[0].message.content).toBe(full.text.slice(0, full.text.indexOf(stop)));
  });

  it('invalid requests are InvalidArgumentErrors, for both forms; the model stays usable', async () => {
    const before = await chatReply();
    await expect(model.chat.completions.create(null as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(model.chat.completions.create({ messages, temperature: Number.NaN })).rejects.toBeInstanceOf(InvalidArgumentError);
    // The streamed form validates when it starts generating: on the first chunk.
    const stream = await model.chat.completions.create({ messages, stream: true, top_p: 2 });
    await expect(drainChunks(stream)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect((await chatReply()).tokens).toEqual(before.tokens);
  });
});

async function drainChunks(stream: AsyncIterable<ChatCompletionChunk>): Promise<void> {
  for await (const _ of stream);
}

describe('EOS ids from generation_config.json', () => {
  it('end a generation with finish reason "stop" when no eosTokenIds are given', async () => {
    model.reset();
    const prompt = model.tokenizer.encode('hello there');
    const free = await model.generateText(prompt, { temperature: 0, maxTokens: 8, eosTokenIds: [] });
    // A copy of the checkpoint whose generation_config names the 4th greedy token as EOS.
    const copy = join(temp, 'eos');
    cpSync(dir, copy, { recursive: true });
    writeFileSync(join(copy, 'generation_config.json'), JSON.stringify({ eos_token_id: [free.tokens[3]] }));
    const eosModel = await load(copy);
    try {
      const got = await eosModel.generateText(prompt, { temperature: 0, maxTokens: 8 });
      const cut = free.tokens.indexOf(free.tokens[3]!);
      expect(got.finishReason).toBe('stop');
      expect(got.tokens).toEqual(free.tokens.slice(0, cut + 1));
    } finally {
      eosModel.dispose();
    }
  });
});
