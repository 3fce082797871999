/**
 * A loaded Qwen3.5 model: config, tokenizer, chat template and a GPU session, with the
 * high-level calls users make — generate(), chat() (the checkpoint's template, with
 * enable_thinking) and an OpenAI-style chat.completions.create().
 */
import { AbortedError, ConfigError, ModelFormatError } from '../errors.js';
import { withPlannedReads, type CheckpointSource, type ProgressCallback } from '../io/source.js';
import { openPackedCheckpoint, PACKED_MANIFEST } from '../io/packed-manifest.js';
import { openTensorDirectory, tensorFileNames } from '../io/tensor-directory.js';
import { parseConfig, type Qwen35Config } from '../model/config.js';
import { planWeights } from '../model/weight-plan.js';
import { ChatTemplate, validateMessages, type ChatMessage, type ChatTemplateOptions } from './chat-template.js';
import { continuationText } from './chat-continuation.js';
import { createCompletions, type Completions } from './completions.js';
import { Generator, type GenerationChunk, type GenerationResult } from './generate.js';
import { loadGpuWeights, type LoadWeightsOptions } from './gpu-weights.js';
import { loadPackedWeights } from './packed-weights.js';
import { predictSessionMemory, type MemoryComparison } from './memory-report.js';
import type { GenerateOptions } from './options.js';
import { Session, type SessionOptions } from './session.js';
import type { CacheSnapshot } from './state.js';
import { TextTokenizer } from './tokenizer.js';

export interface LoadModelOptions extends SessionOptions, Pick<LoadWeightsOptions, 'quantizeThreads'> {
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

export interface ChatOptions extends GenerateOptions, Pick<ChatTemplateOptions, 'enableThinking' | 'tools'> {}

async function readJson(source: CheckpointSource, name: string): Promise<unknown> {
  const text = await source.readText(name);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(`${source.description}: ${name} is not valid JSON (${(e as Error).message})`);
  }
}

/** Reads config.json (+ generation_config.json for the EOS ids). */
export async function readModelConfig(source: CheckpointSource): Promise<Qwen35Config> {
  if (!(await source.has('config.json'))) throw new ConfigError(`${source.description}: config.json is missing`);
  const generation = (await source.has('generation_config.json')) ? await readJson(source, 'generation_config.json') : undefined;
  return parseConfig(await readJson(source, 'config.json'), generation);
}

export class Qwen35Model {
  readonly generator: Generator;
  /** The parsed chat template, or why it could not be parsed (reported by chat(), not by load()). */
  private readonly template: ChatTemplate | ModelFormatError | undefined;
  /**
   * Streams the assistant's reply to a conversation; also the OpenAI-style facade
   * `model.chat.completions.create({ messages, stream })`.
   */
  readonly chat: ((messages: ChatMessage[], options?: ChatOptions) => AsyncGenerator<GenerationChunk, GenerationResult>) & {
    completions: Completions;
  };

  private constructor(
    readonly source: CheckpointSource,
    readonly config: Qwen35Config,
    readonly tokenizer: TextTokenizer,
    readonly session: Session,
  ) {
    this.generator = new Generator(session, tokenizer);
    this.template = tokenizer.chatTemplate ? parseTemplate(tokenizer.chatTemplate, tokenizer.templateTokens, source.description) : undefined;
    this.chat = Object.assign((messages: ChatMessage[], options?: ChatOptions) => this.chatStream(messages, options), {
      completions: createCompletions(this),
    });
  }

  /** Names the model in completion responses: the checkpoint it was loaded from. */
  get modelId(): string {
    return this.source.description;
  }

  /**
   * Loads config, tokenizer and weights from a checkpoint source onto the GPU. A checkpoint
   * converted by `qwen35 convert` (it has qwen35-packed.json) loads in its stored formats:
   * `weightFormat` may be omitted, and any other format than the stored one is an InvalidArgumentError.
   */
  static async load(source: CheckpointSource, options: LoadModelOptions = {}): Promise<Qwen35Model> {
    // Config, tokenizer and shard index first; a source that reports download progress then learns
    // the size of every file still to read, so its progress has the final total from the start.
    const { config, tokenizer, packed } = await withPlannedReads(
      source,
      async () => ({ config: await readModelConfig(source), tokenizer: await TextTokenizer.load(source), packed: await source.has(PACKED_MANIFEST) }),
      async (start) => [...(start.packed ? [PACKED_MANIFEST] : []), ...(await tensorFileNames(source))],
    );
    const loadOptions = { onProgress: options.onProgress, signal: options.signal, quantizeThreads: options.quantizeThreads };
    if (packed) {
      // Converted by `qwen35 convert`: the stored formats are used and rows are uploaded as stored.
      const checkpoint = await openPackedCheckpoint(source, config, options.weightFormat);
      const session = await Session.create(config, { ...options, weightFormat: checkpoint.formats }, (ctx, plan) =>
        loadPackedWeights(ctx, plan, checkpoint, loadOptions),
      );
      return Qwen35Model.unlessCancelled(new Qwen35Model(source, config, tokenizer, session), options.signal);
    }
    const dir = await openTensorDirectory(source);
    const recipes = planWeights(config, dir);
    const session = await Session.create(config, options, (ctx, plan) => loadGpuWeights(ctx, plan, recipes, dir, loadOptions));
    return Qwen35Model.unlessCancelled(new Qwen35Model(source, config, tokenizer, session), options.signal);
  }

  /** A load cancelled after the loader's last check must not hand back a model nobody will dispose. */
  private static unlessCancelled(model: Qwen35Model, signal: AbortSignal | undefined): Qwen35Model {
    if (!signal?.aborted) return model;
    model.dispose();
    throw new AbortedError('loading the model was cancelled');
  }

  /** Streams the continuation of `prompt` (text or token ids) after the cached conversation. */
  generate(prompt: string | readonly number[], options?: GenerateOptions): AsyncGenerator<GenerationChunk, GenerationResult> {
    return this.generator.generate(prompt, options);
  }

  /** Runs generate() to the end and returns the whole result. */
  async generateText(prompt: string | readonly number[], options?: GenerateOptions): Promise<GenerationResult> {
    return drain(this.generate(prompt, options));
  }

  /** The prompt text the chat template makes of `messages` (with the generation prompt). */
  renderChat(messages: ChatMessage[], options: ChatTemplateOptions = {}): string {
    if (!this.template) throw new ModelFormatError(`${this.source.description}: the checkpoint has no chat template`);
    if (this.template instanceof ModelFormatError) throw this.template;
    return this.template.render(validateMessages(messages), options);
  }

  /**
   * Streams the assistant's reply to a conversation. When the messages extend the conversation the
   * cache holds (the earlier messages and the reply generated last; the usual multi-turn case), only
   * the new turns are computed (chat-continuation.ts); otherwise the session starts over. (Use
   * snapshot()/restore() to branch conversations explicitly.)
   */
  chatStream(messages: ChatMessage[], options: ChatOptions = {}): AsyncGenerator<GenerationChunk, GenerationResult> {
    const prompt = this.renderChat(messages, options);
    const template = this.template as ChatTemplate;
    const conversation = validateMessages(messages);
    return this.generator.generateConversation(this.tokenizer.encode(prompt), options, {
      messages: conversation,
      continueAfter: (cached) => {
        const text = continuationText(template, cached, conversation, options);
        return text === undefined ? undefined : this.tokenizer.encode(text);
      },
      endOfTurnId: this.tokenizer.tokenId(template.tokens.eos),
    });
  }

  /** Copies the whole cache state (fixed-size DeltaNet state + the KV rows in use). */
  snapshot(): CacheSnapshot {
    return this.generator.snapshot();
  }

  /** Returns to a snapshot; it stays valid until released. */
  restore(snapshot: CacheSnapshot): void {
    this.generator.restore(snapshot);
  }

  releaseSnapshot(snapshot: CacheSnapshot): void {
    this.session.releaseSnapshot(snapshot);
  }

  /** Forgets the conversation. */
  reset(): void {
    this.generator.reset();
  }

  /** GPU memory: what the allocator measures now vs what the predictor computed from the config. */
  memory(): MemoryComparison {
    return predictSessionMemory(this.session);
  }

  dispose(): void {
    this.session.dispose();
  }
}

/** A template that does not parse must not fail the load (generate() does not need it): chat() reports it. */
function parseTemplate(source: string, tokens: ChatTemplate['tokens'], where: string): ChatTemplate | ModelFormatError {
  try {
    return new ChatTemplate(source, tokens);
  } catch (e) {
    return new ModelFormatError(`${where}: ${(e as Error).message}`, { cause: e });
  }
}

/** Runs a generation to its end (handing each chunk to `onChunk`) and returns the result. */
export async function drain(
  stream: AsyncGenerator<GenerationChunk, GenerationResult>,
  onChunk?: (chunk: GenerationChunk) => void,
): Promise<GenerationResult> {
  for (;;) {
    const r = await stream.next();
    if (r.done) return r.value;
    onChunk?.(r.value);
  }
}
