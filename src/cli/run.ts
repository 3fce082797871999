/**
 * `qwen35 run`: the main job. Loads a model (the embedded tiny one by default), streams the
 * continuation of a prompt to stdout, then prints prefill/decode speed, time to first token and
 * GPU memory measured vs predicted per category.
 */
import { describeGpu } from '../gpu/device.js';
import { formatBytes } from '../gpu/allocator.js';
import { drain } from '../runtime/model.js';
import type { GenerationResult } from '../runtime/generate.js';
import type { MemoryComparison } from '../runtime/memory-report.js';
import type { Command } from './main.js';
import { intOption, loadModelFromArgs, MODEL_OPTIONS, MODEL_USAGE, numberOption, parse } from './load.js';

export const SAMPLING_OPTIONS = {
  'max-tokens': { type: 'string', short: 'n' },
  temperature: { type: 'string', short: 't' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'repetition-penalty': { type: 'string' },
  seed: { type: 'string' },
  stop: { type: 'string', multiple: true },
  'no-think': { type: 'boolean' },
} as const;

export const SAMPLING_USAGE = `sampling options:
  --max-tokens, -n <n>      tokens to generate (default 64)
  --temperature, -t <x>     0 = greedy (default 0)
  --top-k <k>, --top-p <p>, --repetition-penalty <x>, --seed <n>
  --stop <text>             stop string (repeatable)
  --no-think                chat template with enable_thinking = false`;

export function samplingFromArgs(v: { [K in keyof typeof SAMPLING_OPTIONS]?: string | boolean | string[] }) {
  return {
    maxTokens: intOption(v['max-tokens'] as string | undefined, 'max-tokens') ?? 64,
    temperature: numberOption(v.temperature as string | undefined, 'temperature'),
    topK: intOption(v['top-k'] as string | undefined, 'top-k'),
    topP: numberOption(v['top-p'] as string | undefined, 'top-p'),
    repetitionPenalty: numberOption(v['repetition-penalty'] as string | undefined, 'repetition-penalty'),
    seed: intOption(v.seed as string | undefined, 'seed'),
    stop: v.stop as string[] | undefined,
    enableThinking: !v['no-think'],
  };
}

export function printStats(r: GenerationResult, write: (s: string) => void): void {
  const s = r.stats;
  write(
    `prompt ${s.promptTokens} tokens, generated ${s.generatedTokens} (${r.finishReason}); ` +
      `prefill ${s.prefillTokensPerSecond.toFixed(1)} tok/s, time to first token ${s.timeToFirstTokenMs.toFixed(0)} ms, ` +
      `decode ${s.decodeTokensPerSecond.toFixed(1)} tok/s\n`,
  );
}

export function printMemory(m: MemoryComparison, write: (s: string) => void): void {
  write('GPU memory        predicted      measured    error\n');
  for (const row of m.rows) {
    if (row.predicted === 0 && row.measured === 0) continue;
    const err = Number.isFinite(row.errorPercent) ? `${row.errorPercent >= 0 ? '+' : ''}${row.errorPercent.toFixed(2)}%` : 'n/a';
    write(`  ${row.category.padEnd(14)} ${formatBytes(row.predicted).padStart(12)} ${formatBytes(row.measured).padStart(12)} ${err.padStart(8)}\n`);
  }
  const total = m.rows.reduce((a, r) => [a[0]! + r.predicted, a[1]! + r.measured], [0, 0]);
  write(`  ${'total'.padEnd(14)} ${formatBytes(total[0]!).padStart(12)} ${formatBytes(total[1]!).padStart(12)}\n`);
}

export const command: Command = {
  summary: 'Generate text from a prompt and report speed and GPU memory (measured vs predicted).',
  usage: `qwen35 run [--prompt <text>] [--chat] [options]
  --prompt, -p <text>       prompt (default "The capital of France is")
  --chat                    wrap the prompt as a user message with the chat template
${SAMPLING_USAGE}
${MODEL_USAGE}`,
  async run(args) {
    const v = parse(args, { ...MODEL_OPTIONS, ...SAMPLING_OPTIONS, prompt: { type: 'string', short: 'p' }, chat: { type: 'boolean' } });
    const sampling = samplingFromArgs(v);
    const model = await loadModelFromArgs(v);
    try {
      const err = (s: string): void => void process.stderr.write(s);
      err(`model ${model.source.description} on ${describeGpu(model.session.ctx.gpu)}\n`);
      const prompt = v.prompt ?? 'The capital of France is';
      const stream = v.chat ? model.chat([{ role: 'user', content: prompt }], sampling) : model.generate(prompt, sampling);
      if (!v.chat) process.stdout.write(prompt);
      const result = await drain(stream, (piece) => process.stdout.write(piece.text));
      process.stdout.write('\n');
      printStats(result, err);
      printMemory(model.memory(), err);
      return 0;
    } finally {
      model.dispose();
    }
  },
};
