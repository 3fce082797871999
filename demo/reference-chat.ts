/**
 * For the browser tests (Node): what the page's chat must produce, computed independently of the
 * GPU runtime — the checkpoint's chat template rendered with the same messages, tokenized, and
 * run through the CPU reference forward (src/model/reference.ts) greedily; the ids decoded with
 * the checkpoint's tokenizer (generation stops at an EOS id, which is not part of the text). It keeps
 * its state between replies, so a multi-turn conversation is checked as the runtime continues it.
 */
import { FsCheckpointSource } from '../src/io/sources/fs.js';
import { loadReferenceModel, type ReferenceModel } from '../src/model/reference.js';
import { cachedChat, continuationText, type CachedChat } from '../src/runtime/chat-continuation.js';
import { ChatTemplate, type ChatMessage } from '../src/runtime/chat-template.js';
import { TextTokenizer } from '../src/runtime/tokenizer.js';

const argmax = (row: Float32Array): number => row.reduce((best, v, i) => (v > row[best]! ? i : best), 0);

export class ReferenceChat {
  /** The conversation the reference model's state holds, continued as the runtime continues it. */
  private cached: CachedChat | undefined;
  /** The last generated id, not fed yet (the runtime's pending token, or the EOS it fed). */
  private unfed: number | undefined;

  private constructor(
    private readonly model: ReferenceModel,
    private readonly tokenizer: TextTokenizer,
    private readonly template: ChatTemplate,
  ) {}

  static async load(dir: string): Promise<ReferenceChat> {
    const source = new FsCheckpointSource(dir);
    const tokenizer = await TextTokenizer.load(source);
    if (!tokenizer.chatTemplate) throw new Error(`${dir} has no chat template`);
    return new ReferenceChat(await loadReferenceModel(source), tokenizer, new ChatTemplate(tokenizer.chatTemplate, tokenizer.templateTokens));
  }

  /** Tokens in the template's rendering of the whole conversation (what a start from an empty cache feeds). */
  promptLength(messages: ChatMessage[], enableThinking: boolean): number {
    return this.tokenizer.encode(this.template.render(messages, { enableThinking })).length;
  }

  /**
   * The greedy reply (at most `maxTokens` tokens) to the conversation: continuing the previous
   * reply's state when `messages` extends it (src/runtime/chat-continuation.ts, as the runtime
   * does), else from an empty cache. `fed`: how many tokens the prompt fed.
   */
  reply(messages: ChatMessage[], maxTokens: number, enableThinking: boolean): { ids: number[]; text: string; fed: number } {
    const continued = this.cached && continuationText(this.template, this.cached, messages, { enableThinking });
    let prompt: number[];
    if (continued) {
      prompt = [...(this.unfed === undefined ? [] : [this.unfed]), ...this.tokenizer.encode(continued)];
    } else {
      this.model.reset();
      prompt = this.tokenizer.encode(this.template.render(messages, { enableThinking }));
    }
    const eos = new Set(this.model.config.eosTokenIds);
    let logits = this.model.prefill(prompt);
    const ids: number[] = [];
    this.unfed = undefined;
    while (ids.length < maxTokens) {
      const id = argmax(logits);
      if (eos.has(id)) {
        this.unfed = id;
        break;
      }
      ids.push(id);
      if (ids.length < maxTokens) logits = this.model.step(id);
      else this.unfed = id;
    }
    const text = this.tokenizer.decode(ids);
    this.cached = cachedChat(messages, text, this.unfed, this.tokenizer.tokenId(this.template.tokens.eos));
    return { ids, text, fed: prompt.length };
  }
}
