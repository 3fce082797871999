/**
 * Continuing a cached chat (chat-continuation.ts): which text is fed after the cache, with the
 * project's generated ChatML template and with one that, like Qwen3.5's, drops the reasoning of
 * replies before the last user message. Exact string comparisons (pure text, no GPU).
 */
import { describe, expect, it } from 'vitest';
import { CHAT_TEMPLATE } from '../model/tokenizer-gen.js';
import { cachedChat, continuationText } from './chat-continuation.js';
import { ChatTemplate, QWEN35_TEMPLATE_TOKENS, type ChatMessage } from './chat-template.js';

/** Qwen3.5's reasoning rule, reduced to it: an assistant turn keeps `<think>…</think>` only after the last user message. */
const REASONING_TEMPLATE = [
  '{%- set ns = namespace(last_user=-1) -%}',
  "{%- for m in messages -%}{%- if m.role == 'user' -%}{%- set ns.last_user = loop.index0 -%}{%- endif -%}{%- endfor -%}",
  '{%- for m in messages -%}',
  "{%- if m.role == 'assistant' and '</think>' in m.content -%}",
  "{%- set content = m.content.split('</think>')[-1].lstrip('\\n') -%}",
  "{%- set reasoning = m.content.split('</think>')[0].strip('\\n') -%}",
  '{%- if loop.index0 > ns.last_user -%}',
  "{{- '<|im_start|>assistant\\n<think>\\n' + reasoning + '\\n</think>\\n\\n' + content + '<|im_end|>\\n' -}}",
  '{%- else -%}',
  "{{- '<|im_start|>assistant\\n' + content + '<|im_end|>\\n' -}}",
  '{%- endif -%}',
  '{%- else -%}',
  "{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' -}}",
  '{%- endif -%}',
  '{%- endfor -%}',
  "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n<think>\\n' -}}{%- endif -%}",
].join('\n');

const END = 258;
const user = (content: string): ChatMessage => ({ role: 'user', content });

describe('continuationText', () => {
  const chatml = new ChatTemplate(CHAT_TEMPLATE, QWEN35_TEMPLATE_TOKENS);
  const reasoning = new ChatTemplate(REASONING_TEMPLATE, QWEN35_TEMPLATE_TOKENS);
  const first = [{ role: 'system' as const, content: 'Be brief.' }, user('Hi')];

  it('feeds the new turn after a reply that ended with the end-of-turn token', () => {
    const cached = cachedChat(first, 'Hello!', END, END);
    expect(cached.closed).toBe(true);
    const next = [...cached.messages, user('How are you?')];
    expect(continuationText(chatml, cached, next, { enableThinking: false })).toBe(
      '\n<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n',
    );
  });

  it('closes a reply cut by maxTokens, a stop string or an abort with the end-of-turn token first', () => {
    const cached = cachedChat(first, 'Hel', 75, END);
    expect(cached.closed).toBe(false);
    expect(continuationText(chatml, cached, [...cached.messages, user('Go on')], {})).toBe(
      '<|im_end|>\n<|im_start|>user\nGo on<|im_end|>\n<|im_start|>assistant\n<think>\n',
    );
  });

  it("keeps a reply's reasoning in the cache where the re-rendered prompt drops it", () => {
    const cached = cachedChat([user('2+2?')], 'add them\n</think>\n\n4', END, END);
    const next = [...cached.messages, user('and 3+3?')];
    const full = reasoning.render(next, {});
    // The template renders the earlier reply without its reasoning, so the prompt does not extend the cache ...
    expect(full).toBe('<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nand 3+3?<|im_end|>\n<|im_start|>assistant\n<think>\n');
    // ... but what follows the reply is the same, and only that is fed.
    expect(continuationText(reasoning, cached, next, {})).toBe('\n<|im_start|>user\nand 3+3?<|im_end|>\n<|im_start|>assistant\n<think>\n');
  });

  it('several new messages are all fed', () => {
    const cached = cachedChat(first, 'Hello!', END, END);
    const next = [...cached.messages, { role: 'tool' as const, content: '{"t": 20}' }, user('Weather?')];
    expect(continuationText(chatml, cached, next, {})).toBe(
      '\n<|im_start|>tool\n{"t": 20}<|im_end|>\n<|im_start|>user\nWeather?<|im_end|>\n<|im_start|>assistant\n<think>\n',
    );
  });

  it('does not continue a conversation that does not extend the cached one', () => {
    const cached = cachedChat(first, 'Hello!', END, END);
    const edited = { role: 'assistant' as const, content: 'Hello there!' };
    expect(continuationText(chatml, cached, [...first, edited, user('?')], {})).toBeUndefined();
    expect(continuationText(chatml, cached, [first[0]!, user('Other'), user('?')], {})).toBeUndefined();
    expect(continuationText(chatml, cached, cached.messages, {})).toBeUndefined();
    expect(continuationText(chatml, cached, [user('Hi')], {})).toBeUndefined();
    // Without an end-of-turn token there is no place to continue from.
    const noEnd = new ChatTemplate(CHAT_TEMPLATE, { bos: '', eos: '' });
    expect(continuationText(noEnd, cached, [...cached.messages, user('?')], {})).toBeUndefined();
  });
});
