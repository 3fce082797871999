/** FsCheckpointSource: exact range reads against the bytes written, and precise errors. */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, InvalidArgumentError, ModelFormatError } from '../../errors.js';
import { FsCheckpointSource } from './fs.js';
import { firstDifference, tempDir, writeCheckpointFolder } from './test-fixture.js';

const tmp = tempDir('fs');
let files: Map<string, Uint8Array>;

beforeAll(async () => {
  files = await writeCheckpointFolder(tmp.dir, { 'config.json': 50, 'model.safetensors': 1_000_003, 'sub/extra.bin': 17 });
});
afterAll(() => tmp.remove());

describe('FsCheckpointSource', () => {
  it('reads exact byte ranges (odd offsets and lengths, empty, the whole file)', async () => {
    const src = new FsCheckpointSource(tmp.dir);
    const file = await src.open('model.safetensors');
    const want = files.get('model.safetensors')!;
    expect(await file.size()).toBe(1_000_003);
    for (const [offset, length] of [[0, 8], [3, 65_537], [999_999, 4], [500, 0], [0, 1_000_003]] as const) {
      expect(firstDifference(await file.read(offset, length), want.subarray(offset, offset + length))).toBe(-1);
    }
    expect(firstDifference(await (await src.open('sub/extra.bin')).read(0, 17), files.get('sub/extra.bin')!)).toBe(-1);
  });

  it('has, readText and list', async () => {
    const src = new FsCheckpointSource(tmp.dir);
    expect(await src.has('config.json')).toBe(true);
    expect(await src.has('sub')).toBe(false); // a folder is not a file
    expect(await src.has('nope.json')).toBe(false);
    expect(JSON.parse(await src.readText('config.json')).name).toBe('config.json');
    expect(await src.list()).toEqual(['config.json', 'model.safetensors', 'sub/extra.bin']);
  });

  it('a missing file names the file and the folder and lists what is there', async () => {
    const src = new FsCheckpointSource(tmp.dir);
    const err = (await src.open('model-00001-of-00002.safetensors').catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(ModelFormatError);
    expect(err.message).toContain(`${tmp.dir} has no file "model-00001-of-00002.safetensors"`);
    expect(err.message).toContain('config.json, model.safetensors, sub/extra.bin');
    await expect(src.readText('tokenizer.json')).rejects.toThrow(/has no file "tokenizer.json"/);
    await expect(new FsCheckpointSource(join(tmp.dir, 'absent')).open('config.json')).rejects.toThrow(InvalidArgumentError);
  });

  it('reading beyond the end, a truncated file, a bad name, an aborted read', async () => {
    const src = new FsCheckpointSource(tmp.dir);
    const file = await src.open('model.safetensors');
    await expect(file.read(1_000_000, 4)).rejects.toThrow(/4 bytes at offset 1000000 goes past the end of the file \(1000003 bytes\)/);
    await expect(src.open('../etc/passwd')).rejects.toThrow(InvalidArgumentError);
    await expect(file.read(0, 1, AbortSignal.abort())).rejects.toThrow(AbortedError);
    await fsp.truncate(join(tmp.dir, 'model.safetensors'), 1000);
    await expect(file.read(900, 200)).rejects.toThrow(/ended at byte 1000.*changed or was truncated/);
  });
});
