/**
 * Text ↔ token ids for a checkpoint (tokenizer.json + tokenizer_config.json, byte-level BPE §8),
 * and a streaming decoder that only ever emits complete UTF-8 text.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelFormatError } from '../errors.js';
import type { CheckpointSource } from '../io/source.js';

export interface TokenizerFiles {
  tokenizerJson: unknown;
  tokenizerConfig: Record<string, unknown>;
  /** From chat_template.jinja when the checkpoint ships one (it takes precedence). */
  chatTemplate?: string;
}

async function readJson(source: CheckpointSource, name: string): Promise<unknown> {
  const text = await source.readText(name);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(`${source.description}: ${name} is not valid JSON (${(e as Error).message})`);
  }
}

export async function readTokenizerFiles(source: CheckpointSource): Promise<TokenizerFiles> {
  if (!(await source.has('tokenizer.json'))) {
    throw new ModelFormatError(`${source.description}: tokenizer.json is missing (needed to turn text into token ids)`);
  }
  const tokenizerJson = await readJson(source, 'tokenizer.json');
  const config = (await source.has('tokenizer_config.json')) ? await readJson(source, 'tokenizer_config.json') : {};
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new ModelFormatError(`${source.description}: tokenizer_config.json must be a JSON object`);
  }
  const files: TokenizerFiles = { tokenizerJson, tokenizerConfig: config as Record<string, unknown> };
  if (await source.has('chat_template.jinja')) files.chatTemplate = await source.readText('chat_template.jinja');
  return files;
}

/** `bos_token` / `eos_token` of tokenizer_config.json: a string, or an AddedToken object with `content`. */
function specialToken(value: unknown): string {
  if (typeof value === 'string') return value;
  const content = (value as { content?: unknown } | null)?.content;
  return typeof content === 'string' ? content : '';
}

export class TextTokenizer {
  private readonly tokenizer: Tokenizer;
  readonly vocabSize: number;
  /** The chat template (chat_template.jinja, else tokenizer_config.chat_template), if any. */
  readonly chatTemplate: string | undefined;
  /** The template's `bos_token` / `eos_token` (Qwen3.5: none / `<|im_end|>`, which ends every turn). */
  readonly templateTokens: { bos: string; eos: string };

  constructor(files: TokenizerFiles) {
    try {
      this.tokenizer = new Tokenizer(files.tokenizerJson as object, files.tokenizerConfig);
    } catch (e) {
      throw new ModelFormatError(`tokenizer.json could not be loaded: ${(e as Error).message}`, { cause: e });
    }
    this.vocabSize = this.tokenizer.get_vocab(true).size;
    const template = files.chatTemplate ?? files.tokenizerConfig.chat_template;
    this.chatTemplate = typeof template === 'string' ? template : undefined;
    this.templateTokens = { bos: specialToken(files.tokenizerConfig.bos_token), eos: specialToken(files.tokenizerConfig.eos_token) };
  }

  static async load(source: CheckpointSource): Promise<TextTokenizer> {
    return new TextTokenizer(await readTokenizerFiles(source));
  }

  /** Token ids of `text`; special tokens written in the text (e.g. <|im_start|>) become their ids. */
  encode(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: readonly number[], skipSpecialTokens = true): string {
    if (ids.length === 0) return '';
    return this.tokenizer.decode([...ids], { skip_special_tokens: skipSpecialTokens });
  }

  tokenId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /** A decoder for a stream of generated ids. */
  streamDecoder(): StreamDecoder {
    return new StreamDecoder((ids) => this.decode(ids));
  }
}

/**
 * Incremental detokenisation: byte-level BPE tokens can end in the middle of a UTF-8 character,
 * so text is only emitted once it no longer ends with U+FFFD. Decodes a short window
 * (prefix .. end) per token, so the cost per token is constant.
 */
export class StreamDecoder {
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;

  constructor(private readonly decode: (ids: number[]) => string) {}

  /** Adds a token; returns the newly completed text (possibly empty). */
  push(id: number): string {
    this.ids.push(id);
    const prefix = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const text = this.decode(this.ids.slice(this.prefixOffset));
    if (text.length > prefix.length && !text.endsWith('\uFFFD')) {
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      return text.slice(prefix.length);
    }
    return '';
  }

  /** Whatever is still held back at the end of the stream (an incomplete character shows as U+FFFD). */
  flush(): string {
    const prefix = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const text = this.decode(this.ids.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset = this.ids.length;
    return text.slice(prefix.length);
  }
}
