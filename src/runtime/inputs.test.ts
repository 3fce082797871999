/**
 * Hostile or careless input through the public calls, on the mini model: prompts beyond the
 * context, invalid token ids, NaN/Inf/negative/mistyped options, chat templates that raise or do
 * not parse, and streamed text whose tokens split multi-byte UTF-8 characters. Each is either a
 * clear typed error (naming the option, the position, the limit) that leaves the model usable,
 * or correct output. Streaming must only ever emit complete characters, and the streamed pieces
 * must concatenate to exactly the full decode of the tokens (exact string comparisons).
 */
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContextOverflowError, InvalidArgumentError, ModelFormatError } from '../errors.js';
import { acquireGpu, type GpuContext } from '../gpu/device.js';
import { FsCheckpointSource } from '../io/sources/fs.js';
import { Random } from '../model/random.js';
import { byteToUnicode } from '../model/tokenizer-gen.js';
import { drain, Qwen35Model } from './model.js';
import type { GenerateOptions } from './options.js';
import { collectUnhandledRejections, MINI_CONFIG, tempDir, writeMiniCheckpoint } from './reliability-fixture.js';
import type { TextTokenizer } from './tokenizer.js';

const unhandled = collectUnhandledRejections();
const root = tempDir('inputs');
const MAX_CONTEXT = 32;
const VOCAB = MINI_CONFIG.vocabSize;
let dir: string;
let gpu: GpuContext;
let model: Qwen35Model;

const loadFrom = (folder: string) => Qwen35Model.load(new FsCheckpointSource(folder), { gpu, maxContext: MAX_CONTEXT, prefillChunk: 8, weightFormat: 'q8' });

/** A copy of the mini checkpoint with `chat_template.jinja` (which takes precedence over tokenizer_config's). */
function withTemplate(name: string, template: string): string {
  const copy = join(root, name);
  mkdirSync(copy);
  for (const f of readdirSync(dir)) copyFileSync(join(dir, f), join(copy, f));
  writeFileSync(join(copy, 'chat_template.jinja'), template);
  return copy;
}

beforeAll(async () => {
  dir = await writeMiniCheckpoint(root);
  gpu = await acquireGpu();
  model = await loadFrom(dir);
});
afterAll(() => {
  model?.dispose();
  gpu?.destroy();
  rmSync(root, { recursive: true, force: true });
  expect(unhandled).toEqual([]);
});

describe('the context limit', () => {
  it('a prompt beyond the context is a ContextOverflowError that changes nothing; the model stays usable', async () => {
    model.reset();
    await model.generateText([1, 2, 3], { maxTokens: 2, eosTokenIds: [] });
    const position = model.session.position;
    const error = model.generateText(Array(40).fill(7), {});
    await expect(error).rejects.toBeInstanceOf(ContextOverflowError);
    await expect(model.generateText(Array(40).fill(7), {})).rejects.toThrow(/the prompt \(40 tokens\).*context holds 32.*reset the session/);
    await expect(model.generateText('a long text prompt '.repeat(20), {})).rejects.toBeInstanceOf(ContextOverflowError);
    expect(model.session.position).toBe(position);
    expect((await model.generateText([4], { maxTokens: 2, eosTokenIds: [] })).tokens).toHaveLength(2);
  });

  it('generation stops at a full context with finishReason "length"; the next prompt then overflows until reset', async () => {
    model.reset();
    const one = await model.generateText(Array(MAX_CONTEXT - 1).fill(5), { maxTokens: 50, eosTokenIds: [] });
    expect(one.tokens).toHaveLength(1);
    expect(one.finishReason).toBe('length');
    model.reset();
    const fill = await model.generateText(Array(20).fill(9), { maxTokens: 50, eosTokenIds: [] });
    expect(fill.tokens).toHaveLength(MAX_CONTEXT - 20);
    expect(fill.finishReason).toBe('length');
    await expect(model.generateText([1], {})).rejects.toBeInstanceOf(ContextOverflowError);
    model.reset();
    expect((await model.generateText([1], { maxTokens: 1 })).tokens).toHaveLength(1);
  });
});

describe('invalid arguments', () => {
  it('token ids outside the vocabulary or not integers: InvalidArgumentError naming the id and its position', async () => {
    model.reset();
    for (const bad of [-1, 1.5, Number.NaN, Infinity, VOCAB, 2 ** 53, '3', null]) {
      await expect(model.generateText([1, 2, bad as number], {})).rejects.toThrow(
        new InvalidArgumentError(`token id ${String(bad)} at position 2 is outside the vocabulary [0, ${VOCAB})`),
      );
    }
    expect(model.session.position).toBe(0);
  });

  it('prompts that are empty or not text / token arrays: InvalidArgumentError', async () => {
    model.reset();
    for (const prompt of [[], '']) await expect(model.generateText(prompt, {})).rejects.toThrow(/the prompt is empty/);
    // Also when a reply cut by maxTokens left its last id to be fed by the next call.
    expect((await model.generateText([1, 2, 3], { maxTokens: 2, eosTokenIds: [] })).finishReason).toBe('length');
    const history = model.generator.history;
    for (const prompt of [[], '']) await expect(model.generateText(prompt, {})).rejects.toThrow(/the prompt is empty/);
    expect(model.generator.history).toEqual(history);
    for (const prompt of [42, null, undefined, { ids: [1] }]) {
      await expect(model.generateText(prompt as unknown as string, {})).rejects.toThrow(/the prompt must be a string or an array of token ids/);
    }
  });

  const BAD_OPTIONS: [keyof GenerateOptions | 'options', unknown[], RegExp][] = [
    ['temperature', [Number.NaN, -1, Infinity, '1'], /temperature must be a finite number ≥ 0/],
    ['topK', [-1, 1.5, Number.NaN], /topK must be an integer ≥ 0/],
    ['topP', [0, 1.5, -0.1, Number.NaN], /topP must be in \(0, 1\]/],
    ['repetitionPenalty', [0, -1, Number.NaN, Infinity], /repetitionPenalty must be a finite number > 0/],
    ['seed', [-1, 1.5, 2 ** 32, Number.NaN], /seed must be an integer in \[0, 2\^32\)/],
    ['maxTokens', [0, -5, 1.5, Number.NaN, Infinity], /maxTokens must be an integer ≥ 1/],
    ['stop', ['x', [''], [1], 'stop'], /stop must be an array of non-empty strings/],
    ['eosTokenIds', [[-1], [VOCAB], [1.5], 5], /eosTokenIds must be token ids in \[0, 512\)/],
    ['signal', [{}, 'abort', { aborted: false }], /signal must be an AbortSignal/],
  ];
  it.each(BAD_OPTIONS)('%s: every invalid value is an InvalidArgumentError naming it, nothing runs', async (name, values, message) => {
    model.reset();
    for (const value of values) {
      const error = model.generateText([1], { [name]: value } as GenerateOptions);
      await expect(error, `${name} = ${String(value)}`).rejects.toThrow(message);
      await expect(model.generateText([1], { [name]: value } as GenerateOptions)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    expect(model.session.position).toBe(0);
  });

  it('restore() of a released, foreign or made-up snapshot: InvalidArgumentError, the cache untouched', async () => {
    model.reset();
    await model.generateText([1, 2], { maxTokens: 1, eosTokenIds: [] });
    const released = model.snapshot();
    model.releaseSnapshot(released);
    const madeUp = { position: 0, tokens: [], buffers: {} };
    for (const snap of [released, madeUp]) {
      expect(() => model.restore(snap)).toThrow(new InvalidArgumentError('restore() needs a snapshot taken by this model with snapshot() and not released yet'));
    }
    expect(model.session.position).toBe(2);
  });

  it('options that are not an object, and the valid edges of every option', async () => {
    for (const options of [null, 5, [], 'greedy']) {
      await expect(model.generateText([1], options as GenerateOptions)).rejects.toThrow(/generation options must be an object/);
    }
    model.reset();
    const edges = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 2 ** 32 - 1, maxTokens: 1, stop: [], eosTokenIds: [] };
    expect((await model.generateText([1], edges)).tokens).toHaveLength(1);
  });
});

describe('chat templates from the checkpoint', () => {
  it('a template that raises: the load works, chat() names the template message, generate() is unaffected', async () => {
    const raising = withTemplate(
      'raising',
      "{%- if messages[0].role != 'system' -%}{{ raise_exception('Conversations must start with a system message.') }}{%- endif -%}" +
        '{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n',
    );
    const m = await loadFrom(raising);
    try {
      expect(() => m.chat([{ role: 'user', content: 'hi' }])).toThrow(
        new InvalidArgumentError('the chat template failed to render these messages: Conversations must start with a system message.'),
      );
      const ok = [
        { role: 'system' as const, content: 'x' },
        { role: 'user' as const, content: 'hi' },
      ];
      expect(m.renderChat(ok)).toBe('<|im_start|>system\nx<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant'); // Jinja drops the template's final newline
      expect((await drain(m.chat(ok, { maxTokens: 2, eosTokenIds: [] }))).tokens).toHaveLength(2);
    } finally {
      m.dispose();
    }
  });

  it('a template that does not parse: the load works, chat() and renderChat() throw ModelFormatError, generate() works', async () => {
    const broken = withTemplate('broken', '{% for m in messages %}{{ m.content }}');
    const m = await loadFrom(broken);
    try {
      const messages = [{ role: 'user' as const, content: 'hi' }];
      expect(() => m.renderChat(messages)).toThrow(ModelFormatError);
      expect(() => m.chat(messages)).toThrow(/the chat template could not be parsed/);
      await expect(m.chat.completions.create({ messages })).rejects.toBeInstanceOf(ModelFormatError);
      expect((await m.generateText([1, 2], { maxTokens: 2, eosTokenIds: [] })).tokens).toHaveLength(2);
    } finally {
      m.dispose();
    }
  });
});

/** Lone (unpaired) UTF-16 surrogates: half a character. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Streams `ids` through the tokenizer's stream decoder; returns the pieces (the flush last). */
function streamPieces(tokenizer: TextTokenizer, ids: number[]): string[] {
  const decoder = tokenizer.streamDecoder();
  const pieces = ids.map((id) => decoder.push(id));
  pieces.push(decoder.flush());
  return pieces;
}

describe('streamed text and UTF-8 boundaries', () => {
  let byteIds: number[];
  beforeAll(() => {
    byteIds = byteToUnicode().map((ch) => model.tokenizer.tokenId(ch)!);
    expect(model.tokenizer.decode(byteIds.slice(0x61, 0x64))).toBe('abc');
  });
  const ofBytes = (bytes: Iterable<number>): number[] => [...bytes].map((b) => byteIds[b]!);

  it('text whose characters arrive one byte per token: only whole characters are emitted, and they add up to the text', () => {
    for (const text of ['héllo wörld', '世界你好', 'emoji 🎉🙂 and 👩‍👩‍👧', 'aé世🎉z', 'ĀāĂă ǅ ﬁ']) {
      const pieces = streamPieces(model.tokenizer, ofBytes(new TextEncoder().encode(text)));
      for (const p of pieces) {
        expect(p).not.toMatch(LONE_SURROGATE);
        expect(p).not.toContain('\uFFFD');
      }
      expect(pieces.join('')).toBe(text);
      expect(pieces.filter((p) => p === '').length).toBeGreaterThan(0); // some tokens had to wait for the rest of a character
    }
  });

  it('300 seeded random byte sequences (valid or not): the pieces concatenate to exactly the full decode', () => {
    const rnd = new Random(300);
    for (let i = 0; i < 300; i++) {
      const bytes = Array.from({ length: 1 + rnd.int(14) }, () => (rnd.int(3) === 0 ? rnd.int(128) : 0x80 + rnd.int(128)));
      const ids = ofBytes(bytes);
      const pieces = streamPieces(model.tokenizer, ids);
      expect(pieces.join(''), `bytes ${bytes.map((b) => b.toString(16)).join(' ')}`).toBe(model.tokenizer.decode(ids));
      for (const p of pieces) expect(p).not.toMatch(LONE_SURROGATE);
    }
  });

  it('sampled generations (random tokens, split characters included): one chunk per token, adding up to result.text = decode(tokens)', async () => {
    let splits = 0;
    for (const seed of [1, 2, 3]) {
      model.reset();
      const chunks: string[] = [];
      const counts: number[] = [];
      const result = await drain(model.generate([1, 2, 3], { temperature: 2, seed, maxTokens: 24, eosTokenIds: [] }), (c) => {
        chunks.push(c.text);
        counts.push(c.generated);
      });
      // The last token's chunk also carries whatever text was still held back.
      expect(counts).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
      expect(chunks.join('')).toBe(result.text);
      expect(result.text).toBe(model.tokenizer.decode(result.tokens));
      for (const c of chunks) expect(c).not.toMatch(LONE_SURROGATE);
      splits += result.tokens.filter((id) => model.tokenizer.decode([id]).endsWith('\uFFFD')).length;
    }
    expect(splits).toBeGreaterThan(0); // the runs did produce tokens holding part of a character
  });
});
