/**
 * The main job from the command line, as a user runs it (child processes, stdout/stderr as pipes):
 * `npm start`, `qwen35 run` and an interactive `qwen35 chat` on the embedded tiny model.
 *
 * Tolerance: exact text. With f32 weights (the checkpoint's bf16 values, exact in f32) and an f32
 * KV cache the GPU differs from the CPU reference only in accumulation order (~1e-6 relative),
 * far below the tiny model's top-2 logit margins, so the greedy text must be identical.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ReferenceChat } from '../../demo/reference-chat.js';
import { FsCheckpointSource } from '../io/sources/fs.js';
import { loadReferenceModel, type ReferenceModel } from '../model/reference.js';
import { ensureDefaultModel } from '../model/tiny.js';
import { TextTokenizer } from '../runtime/tokenizer.js';

const run = promisify(execFile);
const EXACT = ['--format', 'f32', '--kv-format', 'f32'];
const STATS = /prompt (\d+) tokens, generated (\d+) \((stop|length)\); prefill [\d.]+ tok\/s, time to first token \d+ ms, decode [\d.]+ tok\/s/;

let dir: string;
let tokenizer: TextTokenizer;
let reference: ReferenceModel;

beforeAll(async () => {
  dir = await ensureDefaultModel();
  const source = new FsCheckpointSource(dir);
  tokenizer = await TextTokenizer.load(source);
  reference = await loadReferenceModel(source);
});

/** The CPU reference's greedy continuation of `prompt` (at most n tokens, stopping at an EOS id). */
function greedyText(prompt: string, n: number): string {
  reference.reset();
  let logits = reference.prefill(tokenizer.encode(prompt));
  const eos = new Set(reference.config.eosTokenIds);
  const ids: number[] = [];
  while (ids.length < n) {
    const id = logits.indexOf(Math.max(...logits));
    if (eos.has(id)) break;
    ids.push(id);
    if (ids.length < n) logits = reference.step(id);
  }
  return tokenizer.decode(ids);
}

/** The memory table's category rows: each measured exactly as predicted. */
function expectExactMemory(stderr: string): void {
  const rows = [...stderr.matchAll(/^ {2}(weights|kv-cache|linear-state|activations|staging|other) +\S+ \S+ +\S+ \S+ +(\S+)$/gm)];
  expect(rows.map((r) => r[1])).toEqual(expect.arrayContaining(['weights', 'kv-cache', 'linear-state', 'activations']));
  for (const r of rows) expect(r[2]).toBe('+0.00%');
}

describe('the main job', () => {
  it('npm start generates from the default prompt and reports speed and memory', async () => {
    const { stdout, stderr } = await run('npm', ['start', '--silent', '--', '-n', '12', ...EXACT]);
    const prompt = 'The capital of France is';
    expect(stdout).toBe(`${prompt}${greedyText(prompt, 12)}\n`);
    expect(stderr).toMatch(/^model .*tiny-dense on /m);
    const stats = STATS.exec(stderr)!;
    expect(Number(stats[1])).toBe(tokenizer.encode(prompt).length);
    expectExactMemory(stderr);
  });

  it('qwen35 run takes a prompt, sampling options and a model folder', async () => {
    const prompt = 'Once upon a time';
    const { stdout, stderr } = await run('node', ['bin/qwen35.js', 'run', '-m', dir, '-p', prompt, '-n', '5', '--context', '64', ...EXACT]);
    expect(stdout).toBe(`${prompt}${greedyText(prompt, 5)}\n`);
    expect(STATS.exec(stderr)![2]).toBe('5');
    expectExactMemory(stderr);
  });

  it('bad options are a one-line error with exit status 1', async () => {
    const failed = run('node', ['bin/qwen35.js', 'run', '-n', 'many']);
    await expect(failed).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/^qwen35 run: InvalidArgumentError: --max-tokens must be an integer, got "many"\n$/) });
  });

  it('qwen35 chat answers each line from stdin, continuing the conversation', async () => {
    const chat = ReferenceChat.load(dir);
    const child = run('node', ['bin/qwen35.js', 'chat', '-n', '6', '--no-think', ...EXACT]);
    child.child.stdin!.end('Hello!\nWhat next?\n/exit\n');
    const { stdout, stderr } = await child;
    const ref = await chat;
    const first = ref.reply([{ role: 'user', content: 'Hello!' }], 6, false);
    const second = ref.reply(
      [
        { role: 'user', content: 'Hello!' },
        { role: 'assistant', content: first.text },
        { role: 'user', content: 'What next?' },
      ],
      6,
      false,
    );
    expect(stdout).toBe(`assistant: ${first.text}\nassistant: ${second.text}\n`);
    const prompts = [...stderr.matchAll(new RegExp(STATS, 'g'))].map((m) => Number(m[1]));
    expect(prompts).toEqual([first.fed, second.fed]);
  });
});
