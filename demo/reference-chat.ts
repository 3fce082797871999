/**
 * For the browser tests (Node): what the page's chat must produce, computed independently of the
 * GPU runtime — the checkpoint's chat template rendered with the same messages, tokenized, and
 * run through the CPU reference forward (src/model/reference.ts) greedily; the ids decoded with
 * the checkpoint's tokenizer (generation stops at an EOS id, which is not part of the text).
 */
import { FsCheckpointSource } from '../src/io/sources/fs.js';
import { loadReferenceModel, type ReferenceModel } from '../src/model/reference.js';
import { ChatTemplate, type ChatMessage } from '../src/runtime/chat-template.js';
import { TextTokenizer } from '../src/runtime/tokenizer.js';

const argmax = (row: Float32Array): number => row.reduce((best, v, i) => (v > row[best]! ? i : best), 0);

export class ReferenceChat {
  private constructor(
    private readonly model: ReferenceModel,
    private readonly tokenizer: TextTokenizer,
    private readonly template: ChatTemplate,
  ) {}

  static async load(dir: string): Promise<ReferenceChat> {
    const source = new FsCheckpointSource(dir);
    const tokenizer = await TextTokenizer.load(source);
    if (!tokenizer.chatTemplate) throw new Error(`${dir} has no chat template`);
    return new ReferenceChat(await loadReferenceModel(source), tokenizer, new ChatTemplate(tokenizer.chatTemplate));
  }

  /** The greedy reply (at most `maxTokens` tokens) to the whole conversation, from an empty cache. */
  reply(messages: ChatMessage[], maxTokens: number, enableThinking: boolean): { ids: number[]; text: string } {
    const prompt = this.tokenizer.encode(this.template.render(messages, { enableThinking }));
    const eos = new Set(this.model.config.eosTokenIds);
    this.model.reset();
    let logits = this.model.prefill(prompt);
    const ids: number[] = [];
    while (ids.length < maxTokens) {
      const id = argmax(logits);
      if (eos.has(id)) break;
      ids.push(id);
      if (ids.length < maxTokens) logits = this.model.step(id);
    }
    return { ids, text: this.tokenizer.decode(ids) };
  }
}
