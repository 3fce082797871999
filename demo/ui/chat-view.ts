/**
 * The chat column: the transcript (user messages, streamed assistant replies with their speed),
 * the composer (Enter sends, Shift+Enter is a new line; Stop; New chat) and the sampling form.
 */
import type { GenerationStats } from '../../src/index.js';
import type { SamplingSettings } from '../protocol.js';
import { byId, el, numberValue } from './dom.js';
import { formatMs, formatRate } from './format.js';

const THINK_END = '</think>';

/** One assistant message being streamed. The body's text is exactly the streamed text. */
export class ReplyBubble {
  private raw = '';
  private tokens = 0;
  private readonly thinking = el('span', { className: 'thinking' });
  private readonly answer = el('span', { className: 'answer' });
  private readonly meta = el('span', { className: 'meta', textContent: 'waiting for the first token…' });
  readonly root: HTMLDivElement;

  /** `thinkingOpen`: the prompt ended inside <think>, so the text starts as reasoning. */
  constructor(private readonly thinkingOpen: boolean) {
    this.root = el('div', { className: 'message assistant' }, el('span', { className: 'body' }, this.thinking, this.answer), this.meta);
  }

  get text(): string {
    return this.raw;
  }

  append(text: string, tokens: number): void {
    this.raw += text;
    this.tokens = tokens;
    const end = this.raw.indexOf(THINK_END);
    const split = !this.thinkingOpen ? 0 : end >= 0 ? end + THINK_END.length : this.raw.length;
    this.thinking.textContent = this.raw.slice(0, split);
    this.answer.textContent = this.raw.slice(split);
    this.meta.textContent = `${tokens} tokens…`;
  }

  finish(stats: GenerationStats): void {
    this.meta.textContent =
      `${stats.generatedTokens} tokens · prefill ${formatRate(stats.prefillTokensPerSecond)} (${stats.promptTokens} tokens) · ` +
      `decode ${formatRate(stats.decodeTokensPerSecond)} · first token ${formatMs(stats.timeToFirstTokenMs)}`;
    this.meta.dataset.decode = String(stats.decodeTokensPerSecond);
    this.meta.dataset.prefill = String(stats.prefillTokensPerSecond);
  }

  stopped(): void {
    this.root.classList.add('stopped');
    this.meta.textContent = `stopped after ${this.tokens} tokens`;
  }

  failed(message: string): void {
    this.root.classList.add('failed');
    this.meta.textContent = message;
  }
}

export class ChatView {
  private readonly transcript = byId('transcript');
  private readonly prompt = byId<HTMLTextAreaElement>('prompt');

  constructor(handlers: { send(text: string): void; stop(): void; reset(): void }) {
    byId<HTMLFormElement>('composer').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const text = this.prompt.value.trim();
      if (!text || byId<HTMLButtonElement>('send').disabled) return;
      this.prompt.value = '';
      handlers.send(text);
    });
    this.prompt.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey) {
        ev.preventDefault();
        byId<HTMLFormElement>('composer').requestSubmit();
      }
    });
    byId('stop').addEventListener('click', () => handlers.stop());
    byId('reset').addEventListener('click', () => handlers.reset());
  }

  /** ready: a model is loaded; generating: a reply is streaming. */
  setState(state: 'no-model' | 'ready' | 'generating'): void {
    byId<HTMLButtonElement>('send').disabled = state !== 'ready';
    this.prompt.disabled = state === 'no-model';
    byId<HTMLButtonElement>('stop').disabled = state !== 'generating';
    byId<HTMLButtonElement>('reset').disabled = state !== 'ready';
  }

  clear(note = 'Ask something.'): void {
    this.transcript.replaceChildren(el('p', { className: 'muted empty', textContent: note }));
  }

  addUser(text: string): void {
    this.transcript.querySelector('.empty')?.remove();
    this.transcript.append(el('div', { className: 'message user', textContent: text }));
    this.scroll();
  }

  addReply(thinkingOpen: boolean): ReplyBubble {
    const reply = new ReplyBubble(thinkingOpen);
    this.transcript.append(reply.root);
    this.scroll();
    return reply;
  }

  scroll(): void {
    this.transcript.scrollTop = this.transcript.scrollHeight;
  }

  readSampling(): SamplingSettings {
    const num = (id: string, fallback: number): number => numberValue(byId<HTMLInputElement>(id), fallback);
    return {
      temperature: num('temperature', 0.7),
      topK: Math.round(num('top-k', 0)),
      topP: num('top-p', 1),
      repetitionPenalty: num('repetition-penalty', 1),
      seed: Math.round(num('seed', 0)),
      maxTokens: Math.round(num('max-tokens', 256)),
      enableThinking: byId<HTMLInputElement>('thinking').checked,
    };
  }
}
