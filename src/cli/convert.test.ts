/** `qwen35 convert`: option parsing, and a real conversion into a folder that the packed loader opens. */
import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { openPackedCheckpoint, PACKED_MANIFEST } from '../io/packed-manifest.js';
import { FsCheckpointSource } from '../io/sources/fs.js';
import { generateCheckpoint, TINY_CONFIGS } from '../model/tiny.js';
import { command, parseByteSize, parseFormatSpec } from './convert.js';

const temps: string[] = [];
afterAll(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true });
});

describe('qwen35 convert options', () => {
  it('parses shard sizes with decimal and binary units', () => {
    expect(parseByteSize('2GiB', 'shard-size')).toBe(2 ** 31);
    expect(parseByteSize('500MB', 'shard-size')).toBe(5e8);
    expect(parseByteSize('1.5 KiB', 'shard-size')).toBe(1536);
    expect(parseByteSize('1048576', 'shard-size')).toBe(1048576);
    for (const bad of ['0', '-1', 'abc', '5XB', '', '1e3']) {
      expect(() => parseByteSize(bad, 'shard-size'), bad).toThrow(InvalidArgumentError);
    }
    expect(() => parseByteSize('5XB', 'shard-size')).toThrow(/--shard-size must be a positive size such as 2GiB, 500MB or 1048576, got "5XB"/);
  });

  it('parses one format or a default with per-class formats', () => {
    expect(parseFormatSpec('q8')).toEqual({ default: 'q8' });
    expect(parseFormatSpec('q4, embedding=q8,lmHead=bf16')).toEqual({ default: 'q4', embedding: 'q8', lmHead: 'bf16' });
    expect(() => parseFormatSpec('q3')).toThrow(/unknown weight format "q3"/);
    expect(() => parseFormatSpec('q4,vision=q8')).toThrow(/unknown weight class "vision"/);
  });
});

describe('qwen35 convert', () => {
  it('converts a checkpoint folder into a packed folder, refusing to overwrite one unless --force', async () => {
    const root = await mkdtemp(join(tmpdir(), 'qwen35-convert-'));
    temps.push(root);
    const model = join(root, 'tiny');
    await generateCheckpoint(TINY_CONFIGS.dense, model, { seed: 2 });
    const out = join(root, 'tiny-q8');
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await command.run(['--model', model, '--out', out, '--format', 'q8', '--shard-size', '200KiB'])).toBe(0);
      expect(log.mock.calls.at(-1)?.[0]).toMatch(/^wrote .*tiny-q8 \(q8\): \d+ files, weights .* instead of .* \(1\.\d\d× smaller\) in [\d.]+ s$/);
      const files = await readdir(out);
      expect(files).toContain(PACKED_MANIFEST);
      expect(files.filter((f) => f.endsWith('.safetensors')).length).toBeGreaterThan(2);
      expect(files.some((f) => f.startsWith('.'))).toBe(false);
      const packed = await openPackedCheckpoint(new FsCheckpointSource(out), TINY_CONFIGS.dense);
      expect(packed.formats.attention).toBe('q8');

      await expect(command.run(['--model', model, '--out', out])).rejects.toThrow(/tiny-q8 already exists and is not empty \(use --force to replace it\)/);
      expect(await command.run(['--model', model, '--out', out, '--force'])).toBe(0);
      expect((await openPackedCheckpoint(new FsCheckpointSource(out), TINY_CONFIGS.dense)).formats.attention).toBe('q4');
      // A failed conversion leaves no folder and no temporary folder behind.
      const broken = join(root, 'broken');
      await mkdir(broken);
      await writeFile(join(broken, 'config.json'), '{"model_type": "llama"}');
      await expect(command.run(['--model', broken, '--out', join(root, 'never')])).rejects.toThrow(/unsupported model_type "llama"/);
      expect((await readdir(root)).sort()).toEqual(['broken', 'tiny', 'tiny-q8']);
    } finally {
      log.mockRestore();
      stderr.mockRestore();
    }
    await expect(command.run(['--out', out])).rejects.toThrow(/--model is required/);
    await expect(command.run(['--model', model])).rejects.toThrow(/--out is required/);
  });
});
