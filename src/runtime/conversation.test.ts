/**
 * Conversations on the cached state, on the GPU: chat() turns continue the cache (only the new
 * turn is fed, also after a reply cut by maxTokens) and reply exactly as the CPU reference that
 * continues the same token stream (demo/reference-chat.ts); an edited history starts over; a
 * restored snapshot brings back the repetition penalty's view of the conversation.
 *
 * Tolerance: identical greedy ids and text. f32 weights and an f32 KV cache leave only
 * accumulation order between GPU and CPU (~1e-6 relative), far below the tiny model's top-2
 * logit margins on these prompts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReferenceChat } from '../../demo/reference-chat.js';
import { acquireGpu, type GpuContext } from '../gpu/device.js';
import { FsCheckpointSource } from '../io/sources/fs.js';
import { ensureDefaultModel } from '../model/tiny.js';
import type { ChatMessage } from './chat-template.js';
import { drain, Qwen35Model } from './model.js';

let gpu: GpuContext;
let model: Qwen35Model;
let reference: ReferenceChat;

beforeAll(async () => {
  const dir = await ensureDefaultModel();
  gpu = await acquireGpu();
  model = await Qwen35Model.load(new FsCheckpointSource(dir), { gpu, weightFormat: 'f32', kvFormat: 'f32', maxContext: 256 });
  reference = await ReferenceChat.load(dir);
});
afterAll(() => {
  model?.dispose();
  gpu?.destroy();
});

const user = (content: string): ChatMessage => ({ role: 'user', content });

describe('chat turns continue the cache', () => {
  it('feeds only the new turn and replies as the reference continuing the same tokens', async () => {
    model.reset();
    const turn1 = [user('Hello there, who are you?')];
    const r1 = await drain(model.chat(turn1, { maxTokens: 6, enableThinking: true }));
    const want1 = reference.reply(turn1, 6, true);
    expect(r1.finishReason).toBe('length');
    expect(r1.text).toBe(want1.text);
    expect(r1.stats.promptTokens).toBe(want1.fed);
    const afterTurn1 = model.generator.history;

    const turn2: ChatMessage[] = [...turn1, { role: 'assistant', content: r1.text }, user('Tell me more.')];
    const r2 = await drain(model.chat(turn2, { maxTokens: 6, enableThinking: false }));
    const want2 = reference.reply(turn2, 6, false);
    expect(r2.text).toBe(want2.text);
    expect(r2.tokens.slice(0, want2.ids.length)).toEqual(want2.ids);
    // Fed: the cut reply's last token, its end of turn and the new turn — not the history again.
    expect(r2.stats.promptTokens).toBe(want2.fed);
    const fullPrompt = model.tokenizer.encode(model.renderChat(turn2, { enableThinking: false }));
    expect(r2.stats.promptTokens).toBeLessThan(fullPrompt.length - afterTurn1.length + 2);
    expect(model.generator.history.slice(0, afterTurn1.length)).toEqual(afterTurn1);

    const turn3: ChatMessage[] = [...turn2, { role: 'assistant', content: r2.text }, user('Thanks!')];
    const r3 = await drain(model.chat(turn3, { maxTokens: 4, enableThinking: false }));
    const want3 = reference.reply(turn3, 4, false);
    expect(r3.text).toBe(want3.text);
    expect(r3.stats.promptTokens).toBe(want3.fed);
  });

  it('starts over when the history was edited, or after generate() changed the cache', async () => {
    model.reset();
    const turn1 = [user('Count to three.')];
    const r1 = await drain(model.chat(turn1, { maxTokens: 4, enableThinking: false }));
    const edited: ChatMessage[] = [...turn1, { role: 'assistant', content: `${r1.text}!` }, user('Again.')];
    const r2 = await drain(model.chat(edited, { maxTokens: 4, enableThinking: false }));
    const full = model.tokenizer.encode(model.renderChat(edited, { enableThinking: false }));
    expect(r2.stats.promptTokens).toBe(full.length);
    expect(r2.text).toBe(reference.reply(edited, 4, false).text);

    const kept: ChatMessage[] = [...edited, { role: 'assistant', content: r2.text }, user('Once more.')];
    await drain(model.generate(' plain text', { maxTokens: 2 }));
    const r3 = await drain(model.chat(kept, { maxTokens: 4, enableThinking: false }));
    expect(r3.stats.promptTokens).toBe(model.tokenizer.encode(model.renderChat(kept, { enableThinking: false })).length);
  });
});

describe('snapshots', () => {
  it('a restored snapshot penalises the ids of its own conversation, not those generated since', async () => {
    model.reset();
    const sampled = { maxTokens: 12, temperature: 1, seed: 7, eosTokenIds: [] };
    const penalty = { ...sampled, repetitionPenalty: 3 };
    await drain(model.generate('the the the and the', { maxTokens: 1, eosTokenIds: [] }));
    const snap = model.snapshot();
    try {
      const plain = await drain(model.generate(' and', sampled));
      model.restore(snap);
      const first = await drain(model.generate(' and', penalty));
      expect(first.tokens).not.toEqual(plain.tokens); // the penalty matters on this prompt
      // Another conversation from an empty cache overwrites the ids the penalty reads ...
      model.reset();
      await drain(model.generate('zq xv zq xv zq xv zq xv', { maxTokens: 8, eosTokenIds: [] }));
      // ... and the restored state must bring back its own.
      model.restore(snap);
      expect((await drain(model.generate(' and', penalty))).tokens).toEqual(first.tokens);
    } finally {
      model.releaseSnapshot(snap);
    }
  });
});
