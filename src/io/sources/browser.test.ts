/**
 * Browser sources in Node: Node 20 has `File`/`Blob`; the directory handle is a small fake with
 * the same contract (NotFoundError / TypeMismatchError DOMExceptions, async `values()`).
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, ModelFormatError } from '../../errors.js';
import { DirectoryHandleCheckpointSource, FilesCheckpointSource, type DirectoryHandleLike } from './browser.js';
import { deterministicBytes, firstDifference } from './test-fixture.js';

type Tree = { [name: string]: Uint8Array<ArrayBuffer> | Tree };

function pickedFile(relativePath: string, bytes: Uint8Array<ArrayBuffer>): File {
  const file = new File([bytes], relativePath.split('/').pop()!);
  Object.defineProperty(file, 'webkitRelativePath', { value: relativePath });
  return file;
}

function fakeDirectory(name: string, tree: Tree): DirectoryHandleLike & { values(): AsyncIterable<{ kind: 'file' | 'directory'; name: string }> } {
  const entry = (child: string, kind: 'file' | 'directory') => {
    const e = tree[child];
    if (e === undefined) throw new DOMException(`${child} not found`, 'NotFoundError');
    if ((e instanceof Uint8Array) !== (kind === 'file')) throw new DOMException(`${child} is not a ${kind}`, 'TypeMismatchError');
    return e;
  };
  return {
    name,
    async getDirectoryHandle(child) {
      return fakeDirectory(child, entry(child, 'directory') as Tree);
    },
    async getFileHandle(child) {
      const bytes = entry(child, 'file') as Uint8Array<ArrayBuffer>;
      return { getFile: async () => new File([bytes], child) };
    },
    async *values() {
      for (const [n, e] of Object.entries(tree)) yield { kind: e instanceof Uint8Array ? 'file' : 'directory', name: n };
    },
  };
}

const shard = deterministicBytes(300_001, 5);
const config = new TextEncoder().encode('{"model_type":"qwen3_5"}');

describe('FilesCheckpointSource', () => {
  it('names come from webkitRelativePath without the picked folder; range reads are exact', async () => {
    const src = new FilesCheckpointSource([
      pickedFile('Qwen3.5-0.8B/config.json', config),
      pickedFile('Qwen3.5-0.8B/model.safetensors', shard),
      pickedFile('Qwen3.5-0.8B/sub/a.txt', config),
    ]);
    expect(await src.list()).toEqual(['config.json', 'model.safetensors', 'sub/a.txt']);
    expect(src.description).toContain('Qwen3.5-0.8B');
    expect(await src.readText('config.json')).toBe('{"model_type":"qwen3_5"}');
    const file = await src.open('model.safetensors');
    expect(await file.size()).toBe(300_001);
    expect(firstDifference(await file.read(12_345, 100_003), shard.subarray(12_345, 112_348))).toBe(-1);
    await expect(file.read(300_000, 2)).rejects.toThrow(ModelFormatError);
  });

  it('plain files (drag and drop) use their name; errors for missing, duplicate and no files', async () => {
    const src = new FilesCheckpointSource([new File([config], 'config.json')]);
    expect(await src.has('config.json')).toBe(true);
    expect(await src.has('model.safetensors')).toBe(false);
    await expect(src.open('model.safetensors')).rejects.toThrow(/no file "model.safetensors" \(it has: config.json\)/);
    expect(() => new FilesCheckpointSource([new File([config], 'a'), new File([config], 'a')])).toThrow(InvalidArgumentError);
    expect(() => new FilesCheckpointSource([])).toThrow(InvalidArgumentError);
  });
});

describe('DirectoryHandleCheckpointSource', () => {
  const handle = fakeDirectory('Qwen3.5-0.8B', { 'config.json': config, 'model.safetensors': shard, onnx: { 'x.bin': config } });

  it('opens files (also nested), reads exact ranges, lists', async () => {
    const src = new DirectoryHandleCheckpointSource(handle);
    const file = await src.open('model.safetensors');
    expect(firstDifference(await file.read(299_000, 1001), shard.subarray(299_000))).toBe(-1);
    expect(await src.readText('onnx/x.bin')).toBe('{"model_type":"qwen3_5"}');
    expect(await src.list()).toEqual(['config.json', 'model.safetensors', 'onnx/x.bin']);
  });

  it('has() is false for missing files and folders; open() of a missing file lists the folder', async () => {
    const src = new DirectoryHandleCheckpointSource(handle);
    expect(await src.has('config.json')).toBe(true);
    expect(await src.has('onnx')).toBe(false);
    expect(await src.has('absent/x.bin')).toBe(false);
    await expect(src.open('tokenizer.json')).rejects.toThrow(
      /folder "Qwen3.5-0.8B" has no file "tokenizer.json" \(it has: config.json, model.safetensors, onnx\/x.bin\)/,
    );
  });
});
