/**
 * A small byte-level BPE tokenizer in the Qwen3.5 format (§8) for generated checkpoints:
 * NFC normalizer, Split on the Qwen3.5 regex then ByteLevel (no regex) pre-tokenizer, ByteLevel
 * decoder, all 256 byte tokens, merges learned deterministically from an English sample, and the
 * special tokens. Produces tokenizer.json + tokenizer_config.json (ChatML template with
 * `enable_thinking`).
 */

/** §8 pre-tokenizer regex, written into tokenizer.json verbatim (Oniguruma syntax). */
export const QWEN35_SPLIT_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** The same pattern in JavaScript syntax (no inline case-insensitive group), used for training. */
const SPLIT_JS = /'(?:[sStTmMdD]|[rR][eE]|[vV][eE]|[lL][lL])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

/** Special tokens in id order; `special: false` for the think tags as in the released tokenizer (§8). */
export const SPECIAL_TOKENS = [
  { content: '<|endoftext|>', special: true },
  { content: '<|im_start|>', special: true },
  { content: '<|im_end|>', special: true },
  { content: '<think>', special: false },
  { content: '</think>', special: false },
] as const;

/** Qwen3.5 ids of the special tokens above (§8), used when generating full-size vocabularies. */
export const QWEN35_SPECIAL_IDS = [248044, 248045, 248046, 248068, 248069];
/** The same tokens in the Qwen3 vocabulary (Qwen3-Next). */
export const QWEN3_SPECIAL_IDS = [151643, 151644, 151645, 151667, 151668];

/** Merges of the generated tokenizer: 256 bytes + 251 merges + 5 specials = 512 ids. */
export const DEFAULT_MERGES = 251;

/** Qwen3.5-style chat template: ChatML turns; the generation prompt opens a think block or an empty one (§8). */
export const CHAT_TEMPLATE = [
  '{%- for message in messages -%}',
  "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}",
  '{%- endfor -%}',
  '{%- if add_generation_prompt -%}',
  "{{- '<|im_start|>assistant\\n' -}}",
  '{%- if enable_thinking is defined and enable_thinking is false -%}',
  "{{- '<think>\\n\\n</think>\\n\\n' -}}",
  '{%- else -%}',
  "{{- '<think>\\n' -}}",
  '{%- endif -%}',
  '{%- endif -%}',
].join('\n');

const SAMPLE = `The quick brown fox jumps over the lazy dog. A small model can still say hello to the world.
When the weather is fine, people walk in the park, read books under the trees, and talk with their friends.
This is a test of the tokenizer: it should learn common words such as the, and, of, to, in, that, is, was, for, with.
Numbers like 1, 2, 3, 42 and 2024 are split into single digits. Questions? Answers! Lists; colons: and "quotes".
The model reads a prompt, thinks about it, and writes an answer one token at a time until it reaches the end.
Language models predict the next word from the words before it. They learn patterns of grammar and meaning.
Once upon a time there was a little house on a hill, and in the house lived an old man with his cat.
Every morning he made tea, opened the window, and listened to the birds singing in the garden.
Computers store text as bytes; a byte-level tokenizer never meets an unknown character, because every byte has a token.
Hello, how are you today? I am fine, thank you. What would you like to know about the weather, the news, or the time?`;

/** GPT-2 byte → printable character map used by ByteLevel (bytes that are printable map to themselves). */
export function byteToUnicode(): string[] {
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let extra = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCharCode(printable(b) ? b : 256 + extra++));
}

/** Learns `count` merges greedily (most frequent pair; ties broken by the pair's text) from the sample. */
export function learnMerges(count: number, text = SAMPLE): [string, string][] {
  const map = byteToUnicode();
  const freq = new Map<string, number>();
  for (const piece of text.normalize('NFC').match(SPLIT_JS) ?? []) freq.set(piece, (freq.get(piece) ?? 0) + 1);
  const words = [...freq].map(([piece, n]) => ({ symbols: [...new TextEncoder().encode(piece)].map((b) => map[b]!), n }));
  const merges: [string, string][] = [];
  while (merges.length < count) {
    const pairs = new Map<string, number>();
    for (const w of words) {
      for (let i = 0; i + 1 < w.symbols.length; i++) {
        const key = `${w.symbols[i]}\u0000${w.symbols[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + w.n);
      }
    }
    let best: string | undefined;
    for (const [key, n] of pairs) {
      const b = best === undefined ? -1 : pairs.get(best)!;
      if (n > b || (n === b && key < best!)) best = key;
    }
    if (best === undefined) break; // the sample is exhausted
    const [a, b] = best.split('\u0000') as [string, string];
    merges.push([a, b]);
    for (const w of words) {
      const out: string[] = [];
      for (let i = 0; i < w.symbols.length; i++) {
        const merge = i + 1 < w.symbols.length && w.symbols[i] === a && w.symbols[i + 1] === b;
        out.push(merge ? a + b : w.symbols[i]!);
        if (merge) i++;
      }
      w.symbols = out;
    }
  }
  return merges;
}

export interface GeneratedTokenizer {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  /** Ids of SPECIAL_TOKENS, in order. */
  specialIds: number[];
  /** Largest id + 1. */
  size: number;
}

/**
 * Builds the tokenizer: ids 0–255 the byte tokens, then one id per merge, then the specials
 * (right after the merges, or at `specialIds` when given, e.g. QWEN35_SPECIAL_IDS).
 */
export function buildTokenizer(merges: number, specialIds?: number[]): GeneratedTokenizer {
  const bytes = byteToUnicode();
  const learned = learnMerges(merges);
  const vocab: Record<string, number> = {};
  bytes.forEach((ch, id) => (vocab[ch] = id));
  learned.forEach(([a, b], i) => (vocab[a + b] = 256 + i));
  const base = 256 + learned.length;
  const ids = specialIds ?? SPECIAL_TOKENS.map((_, i) => base + i);
  if (ids.length !== SPECIAL_TOKENS.length || ids.some((id) => id < base)) throw new RangeError('special token ids must follow the BPE vocabulary');
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((t, i) => ({ id: ids[i], content: t.content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: t.special })),
    normalizer: { type: 'NFC' },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [{ type: 'Split', pattern: { Regex: QWEN35_SPLIT_REGEX }, behavior: 'Isolated', invert: false }, byteLevel],
    },
    post_processor: byteLevel,
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: learned },
  };
  const tokenizerConfig = {
    add_bos_token: false,
    add_prefix_space: false,
    bos_token: null,
    eos_token: '<|im_end|>',
    pad_token: '<|endoftext|>',
    errors: 'replace',
    model_max_length: 262144,
    split_special_tokens: false,
    tokenizer_class: 'Qwen2Tokenizer',
    chat_template: CHAT_TEMPLATE,
  };
  return { tokenizerJson, tokenizerConfig, specialIds: ids, size: Math.max(...ids) + 1 };
}
