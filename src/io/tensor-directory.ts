/**
 * All tensors of a checkpoint folder, by name: a single `model.safetensors` or the shards listed
 * in `model.safetensors.index.json` (weight_map: tensor name → shard file). Opening validates
 * every shard header and that the index and the shards agree; no tensor data is read.
 */
import { ModelFormatError } from '../errors.js';
import { readSafetensorsHeader, readTensorBytes, toFloat32, type SafetensorsFile, type TensorInfo } from './safetensors.js';
import { clipText, quoteName, showValue } from './show-value.js';
import type { ByteSource, CheckpointSource } from './source.js';

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

export interface TensorEntry {
  /** Shard file name. */
  file: string;
  info: TensorInfo;
}

export interface TensorDirectory {
  description: string;
  tensors: Map<string, TensorEntry>;
  /** Open shard files by name. */
  files: Map<string, ByteSource>;
  headers: Map<string, SafetensorsFile>;
}

/** At most this many names are listed in one error message. */
const LISTED = 12;
export const listNames = (names: readonly string[]): string =>
  names.slice(0, LISTED).map((n) => clipText(n)).join(', ') + (names.length > LISTED ? `, … (${names.length} in all)` : '');

export async function openTensorDirectory(source: CheckpointSource): Promise<TensorDirectory> {
  if (await source.has(INDEX_FILE)) return openSharded(source);
  if (await source.has(SINGLE_FILE)) {
    const file = await source.open(SINGLE_FILE);
    const header = await readSafetensorsHeader(file);
    const tensors = new Map([...header.tensors].map(([name, info]) => [name, { file: SINGLE_FILE, info }]));
    return { description: source.description, tensors, files: new Map([[SINGLE_FILE, file]]), headers: new Map([[SINGLE_FILE, header]]) };
  }
  throw new ModelFormatError(`${source.description}: no ${INDEX_FILE} or ${SINGLE_FILE} found; is this a Hugging Face safetensors checkpoint folder?`);
}

/**
 * The files openTensorDirectory will read — the index and its shards (the index is read here), or
 * model.safetensors — so that a source can learn their sizes before a byte of weights is read.
 */
export async function tensorFileNames(source: CheckpointSource): Promise<string[]> {
  if (await source.has(INDEX_FILE)) {
    return [INDEX_FILE, ...new Set(parseIndex(await source.readText(INDEX_FILE), source.description).values())];
  }
  return (await source.has(SINGLE_FILE)) ? [SINGLE_FILE] : [];
}

/** Parses the index and returns weight_map (tensor name → shard file). */
function parseIndex(text: string, where: string): Map<string, string> {
  const fail = (what: string): never => {
    throw new ModelFormatError(`${where}/${INDEX_FILE}: ${what}`);
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(`not valid JSON (${(e as Error).message})`);
  }
  const weightMap = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    return fail('expected an object with a "weight_map" object (tensor name → shard file)');
  }
  const map = new Map<string, string>();
  for (const [name, file] of Object.entries(weightMap)) {
    if (typeof file !== 'string' || !isShardFileName(file)) {
      fail(`weight_map[${quoteName(name)}] must be a shard file name like "model-00001-of-00002.safetensors", found ${showValue(file)}`);
    }
    map.set(name, file as string);
  }
  if (map.size === 0) fail('weight_map is empty');
  return map;
}

/** A plain file name in the checkpoint folder (no path traversal). */
const isShardFileName = (f: string): boolean => /^[^/\\]+\.safetensors$/.test(f) && f !== '..' && !f.startsWith('.');

async function openSharded(source: CheckpointSource): Promise<TensorDirectory> {
  const where = source.description;
  const weightMap = parseIndex(await source.readText(INDEX_FILE), where);
  const shardNames = [...new Set(weightMap.values())];
  const missing: string[] = [];
  for (const f of shardNames) if (!(await source.has(f))) missing.push(f);
  if (missing.length) {
    throw new ModelFormatError(`${where}: ${INDEX_FILE} lists shard(s) that do not exist: ${listNames(missing)}`);
  }
  const files = new Map<string, ByteSource>();
  const headers = new Map<string, SafetensorsFile>();
  for (const f of shardNames) {
    const src = await source.open(f);
    files.set(f, src);
    headers.set(f, await readSafetensorsHeader(src));
  }
  const tensors = new Map<string, TensorEntry>();
  const absent: string[] = [];
  for (const [name, file] of weightMap) {
    const info = headers.get(file)!.tensors.get(name);
    if (info) tensors.set(name, { file, info });
    else absent.push(`${name} (→ ${file})`);
  }
  const unlisted: string[] = [];
  for (const [file, header] of headers) {
    for (const name of header.tensors.keys()) if (weightMap.get(name) !== file) unlisted.push(`${name} (in ${file})`);
  }
  const problems = [
    absent.length ? `the index lists tensors absent from their shard: ${listNames(absent)}` : '',
    unlisted.length ? `shards contain tensors the index does not map to them: ${listNames(unlisted)}` : '',
  ].filter(Boolean);
  if (problems.length) throw new ModelFormatError(`${where}: ${INDEX_FILE} and the shards disagree: ${problems.join('; ')}`);
  return { description: where, tensors, files, headers };
}

/** Reads one tensor of the directory as f32. */
export async function readTensorF32(dir: TensorDirectory, name: string, signal?: AbortSignal): Promise<Float32Array> {
  const entry = dir.tensors.get(name);
  if (!entry) throw new ModelFormatError(`${dir.description}: tensor ${quoteName(name)} is not in the checkpoint`);
  const bytes = await readTensorBytes(dir.files.get(entry.file)!, entry.info, signal);
  return toFloat32(bytes, entry.info.dtype, entry.info.shape);
}
