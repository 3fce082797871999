/**
 * `qwen35 chat`: an interactive conversation in the terminal (or over piped stdin). Each turn
 * continues from the cached state; /reset forgets the conversation, /exit (or end of input) quits.
 */
import { createInterface } from 'node:readline/promises';
import type { ChatMessage } from '../runtime/chat-template.js';
import { drain } from '../runtime/model.js';
import type { Command } from './main.js';
import { loadModelFromArgs, MODEL_OPTIONS, MODEL_USAGE, parse } from './load.js';
import { printStats, SAMPLING_OPTIONS, SAMPLING_USAGE, samplingFromArgs } from './run.js';

export const command: Command = {
  summary: 'Chat with a model in the terminal (multi-turn, streamed, with speed per reply).',
  usage: `qwen35 chat [--system <text>] [options]   (/reset, /exit)
  --system <text>           system message
${SAMPLING_USAGE}
${MODEL_USAGE}`,
  async run(args) {
    const v = parse(args, { ...MODEL_OPTIONS, ...SAMPLING_OPTIONS, system: { type: 'string' } });
    const sampling = samplingFromArgs(v);
    const model = await loadModelFromArgs(v);
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY === true });
    const messages: ChatMessage[] = v.system ? [{ role: 'system', content: v.system }] : [];
    try {
      process.stderr.write(`chatting with ${model.source.description} (/reset, /exit)\n`);
      for await (const line of rl) {
        const text = line.trim();
        if (text === '/exit') break;
        if (text === '/reset') {
          messages.splice(v.system ? 1 : 0);
          model.reset();
          process.stderr.write('(conversation reset)\n');
          continue;
        }
        if (!text) continue;
        messages.push({ role: 'user', content: text });
        process.stdout.write('assistant: ');
        const result = await drain(model.chat(messages, sampling), (piece) => process.stdout.write(piece.text));
        process.stdout.write('\n');
        messages.push({ role: 'assistant', content: result.text });
        printStats(result, (s) => void process.stderr.write(s));
      }
      return 0;
    } finally {
      rl.close();
      model.dispose();
    }
  },
};
