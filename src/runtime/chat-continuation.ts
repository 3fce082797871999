/**
 * Multi-turn chat on the cached state. A chat template re-renders the whole conversation every
 * turn and may render earlier turns differently from how they were generated — Qwen3.5's drops
 * the `<think>` block of every reply before the last user message — so the re-rendered prompt is
 * usually not an extension of the tokens in the cache, and a prefix match would recompute the
 * whole history each turn. Instead, when the new messages extend the conversation the cache holds
 * (the same messages, then the reply generated into the cache), only the new part of the
 * rendering is fed: what follows that reply, starting at the end-of-turn token that closes it (or
 * just after it, when the reply already ended with it).
 *
 * The cache thus keeps each reply exactly as it was generated, reasoning included, as runtimes
 * with a persistent KV cache do; `reset()` starts over with the template's own rendering.
 */
import type { ChatMessage, ChatTemplate, ChatTemplateOptions } from './chat-template.js';

/** The conversation the cache holds: the messages of a chat call followed by the reply it generated. */
export interface CachedChat {
  messages: ChatMessage[];
  /** The reply's last generated token was the end-of-turn token (it is in the cache or pending). */
  closed: boolean;
}

/** Stands in for the first new message's content to find where the new messages start (never in real text). */
const MARK = '\u0000qwen35:new-messages\u0000';

const sameMessage = (a: ChatMessage, b: ChatMessage): boolean => a.role === b.role && a.content === b.content;

/** The conversation a chat reply leaves in the cache. */
export function cachedChat(messages: readonly ChatMessage[], reply: string, lastToken: number | undefined, endOfTurnId: number | undefined): CachedChat {
  return { messages: [...messages, { role: 'assistant', content: reply }], closed: lastToken !== undefined && lastToken === endOfTurnId };
}

/**
 * The text to feed after the cache for `messages`, or undefined when they do not extend `cached`
 * (the caller then renders the whole conversation from an empty cache).
 */
export function continuationText(template: ChatTemplate, cached: CachedChat, messages: readonly ChatMessage[], options: ChatTemplateOptions): string | undefined {
  const n = cached.messages.length;
  const endOfTurn = template.tokens.eos;
  if (!endOfTurn || messages.length <= n || !cached.messages.every((m, i) => sameMessage(m, messages[i]!))) return undefined;
  const full = template.render([...messages], options);
  const marked = template.render([...messages.slice(0, n), { ...messages[n]!, content: MARK }, ...messages.slice(n + 1)], options);
  const start = marked.indexOf(MARK);
  // Both renderings treat the earlier turns alike (a later message follows them in both).
  if (start < 0 || full.slice(0, start) !== marked.slice(0, start)) return undefined;
  const end = full.lastIndexOf(endOfTurn, start - endOfTurn.length);
  if (end < 0) return undefined;
  return full.slice(cached.closed ? end + endOfTurn.length : end);
}
