/**
 * Chat prompts from the checkpoint's Jinja chat template, rendered by @huggingface/jinja (a
 * sandboxed interpreter: templates never reach eval) with bounded work and memory
 * (template-sandbox.ts). Qwen3.5 templates take `enable_thinking`
 * (§8): the generation prompt is `<|im_start|>assistant\n<think>\n` when on, and
 * `<|im_start|>assistant\n<think>\n\n</think>\n\n` when off.
 */
import { Template } from '@huggingface/jinja';
import { InvalidArgumentError, ModelFormatError } from '../errors.js';
import { renderBounded, TemplateLimitError } from './template-sandbox.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
}

export interface ChatTemplateOptions {
  addGenerationPrompt?: boolean;
  enableThinking?: boolean;
  tools?: unknown[];
}

/** Qwen3.5's tokenizer_config: no BOS token; `<|im_end|>` ends every turn. */
export const QWEN35_TEMPLATE_TOKENS = { bos: '', eos: '<|im_end|>' } as const;

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);

export function validateMessages(messages: unknown): ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new InvalidArgumentError('messages must be a non-empty array of {role, content}');
  }
  return messages.map((m, i) => {
    const msg = m as Partial<ChatMessage> | null;
    if (!msg || typeof msg !== 'object' || !ROLES.has(msg.role as string) || typeof msg.content !== 'string') {
      throw new InvalidArgumentError(`messages[${i}] must be {role: system|user|assistant|tool, content: string}`);
    }
    return { role: msg.role!, content: msg.content };
  });
}

export class ChatTemplate {
  private readonly template: Template;

  /** `tokens`: the tokenizer's bos/eos strings (TextTokenizer.templateTokens); `eos` ends a turn. */
  constructor(
    source: string,
    readonly tokens: { bos: string; eos: string } = QWEN35_TEMPLATE_TOKENS,
  ) {
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new ModelFormatError(`the chat template could not be parsed: ${(e as Error).message}`, { cause: e });
    }
  }

  render(messages: ChatMessage[], options: ChatTemplateOptions = {}): string {
    try {
      return renderBounded(this.template, {
        messages,
        add_generation_prompt: options.addGenerationPrompt ?? true,
        enable_thinking: options.enableThinking ?? true,
        ...(options.tools ? { tools: options.tools } : {}),
        bos_token: this.tokens.bos,
        eos_token: this.tokens.eos,
      });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (e instanceof TemplateLimitError || e instanceof RangeError) {
        throw new ModelFormatError(`the chat template was stopped: ${message}`, { cause: e });
      }
      throw new InvalidArgumentError(`the chat template failed to render these messages: ${message}`, { cause: e });
    }
  }
}
