/**
 * Pre-quantized ("packed") checkpoints, written by `qwen35 convert` (./convert.ts): every GPU
 * matrix of planGpuWeights already in its GPU byte layout (./formats.ts), so loading is a copy.
 * Next to config.json, generation_config.json and the tokenizer files (copied unchanged) the
 * folder holds safetensors shards + index and `qwen35-packed.json`:
 *   { format: "qwen35-packed", version: 2, groupSize: 32, converter,
 *     weightFormats: { embedding, lmHead, attention, deltanet, mlp, experts }, lmHeadKey,
 *     matrices: [{ key, group, format, rows, cols, rowGranularity, sources: [{ path, rows }] }],
 *     vectors: [{ key, group, path, length }] }
 * Tensors of a matrix with key K (one logical tensor, however a device later splits it):
 *   q8, q4:          K.qscales U8 [rows, 2·groups] (f16 scales, row-major, no padding)
 *                    K.qdata   U8 [rows, paddedCols·bits/8]
 *   f32, f16, bf16:  K.weight  F32 / F16 / BF16 [rows, paddedCols]
 * and of a vector with key K: K F32 [length].
 * Opening checks the manifest against the plan config.json implies and every tensor's dtype and
 * shape before any tensor is read: a hostile file ends in ModelFormatError, never in an
 * allocation of a size it claims.
 */
import { InvalidArgumentError, ModelFormatError } from '../errors.js';
import type { Qwen35Config } from '../model/config.js';
import { isObject } from '../model/config-fields.js';
import {
  planGpuWeights,
  resolveWeightFormats,
  WEIGHT_CLASSES,
  type MatrixPlan,
  type WeightFormats,
  type WeightFormatSpec,
  type WeightPlan,
} from '../runtime/gpu-weight-plan.js';
import { dataBytes, isQuantized, paddedCols, QUANT_GROUP, WEIGHT_FORMATS, type WeightFormat } from './formats.js';
import type { Dtype } from './safetensors.js';
import type { TensorSpec } from './safetensors-writer.js';
import { showValue as show } from './show-value.js';
import type { CheckpointSource } from './source.js';
import { listNames, openTensorDirectory, type TensorDirectory } from './tensor-directory.js';

export const PACKED_MANIFEST = 'qwen35-packed.json';
export const PACKED_FORMAT = 'qwen35-packed';
export const PACKED_VERSION = 2;
export const CONVERTER_VERSION = 'qwen35-webgpu convert 2';
/** A manifest lists a few entries per layer; anything bigger is not one. */
const MAX_MANIFEST_BYTES = 16 * 2 ** 20;
/** A binding limit no matrix reaches: the packed plan keeps every matrix in one part. */
export const WHOLE_MATRIX_BYTES = Number.MAX_SAFE_INTEGER;

export interface PackedMatrixEntry {
  key: string;
  group: string;
  format: WeightFormat;
  rows: number;
  cols: number;
  rowGranularity: number;
  sources: { path: string; rows: number }[];
}

export interface PackedVectorEntry {
  key: string;
  group: string;
  path: string;
  length: number;
}

export interface PackedManifest {
  format: typeof PACKED_FORMAT;
  version: typeof PACKED_VERSION;
  groupSize: number;
  converter: string;
  weightFormats: WeightFormats;
  lmHeadKey: string;
  matrices: PackedMatrixEntry[];
  vectors: PackedVectorEntry[];
}

/** A validated packed checkpoint, ready for the GPU loader (src/runtime/packed-weights.ts). */
export interface PackedCheckpoint {
  description: string;
  config: Qwen35Config;
  manifest: PackedManifest;
  formats: WeightFormats;
  dir: TensorDirectory;
}

/** Name, dtype and shape of a matrix's stored data (and scales when quantized). */
export function packedMatrixTensors(m: Pick<MatrixPlan, 'key' | 'format' | 'rows' | 'cols'>): { data: TensorSpec; scales?: TensorSpec } {
  const pc = paddedCols(m.cols);
  if (!isQuantized(m.format)) {
    const dtype: Dtype = m.format === 'f32' ? 'F32' : m.format === 'f16' ? 'F16' : 'BF16';
    return { data: { name: `${m.key}.weight`, dtype, shape: [m.rows, pc] } };
  }
  return {
    data: { name: `${m.key}.qdata`, dtype: 'U8', shape: [m.rows, dataBytes(m.format, 1, m.cols)] },
    scales: { name: `${m.key}.qscales`, dtype: 'U8', shape: [m.rows, (2 * pc) / QUANT_GROUP] },
  };
}

/** Every stored tensor of a packed plan, in file order (a matrix's scales before its data). */
export function packedTensorSpecs(plan: WeightPlan): TensorSpec[] {
  const specs: TensorSpec[] = [];
  for (const m of plan.matrices) {
    const t = packedMatrixTensors(m);
    if (t.scales) specs.push(t.scales);
    specs.push(t.data);
  }
  for (const v of plan.vectors) specs.push({ name: v.key, dtype: 'F32', shape: [v.length] });
  return specs;
}

export function buildPackedManifest(plan: WeightPlan, formats: WeightFormats): PackedManifest {
  return {
    format: PACKED_FORMAT,
    version: PACKED_VERSION,
    groupSize: QUANT_GROUP,
    converter: CONVERTER_VERSION,
    weightFormats: { ...formats },
    lmHeadKey: plan.lmHeadKey,
    matrices: plan.matrices.map(({ key, group, format, rows, cols, rowGranularity, sources }) => ({
      key,
      group,
      format,
      rows,
      cols,
      rowGranularity,
      sources: sources.map(({ path, rows: r }) => ({ path, rows: r })),
    })),
    vectors: plan.vectors.map(({ key, group, path, length }) => ({ key, group, path, length })),
  };
}

/**
 * Parses qwen35-packed.json and checks it is exactly the manifest `config` implies for its weight
 * formats (the plan is recomputed, so no size in the file is trusted). Returns the manifest.
 */
export function parsePackedManifest(text: string, config: Qwen35Config, where = PACKED_MANIFEST): PackedManifest {
  const fail = (what: string): never => {
    throw new ModelFormatError(`${where}: ${what}`);
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(`not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(json)) return fail(`must be a JSON object, found ${show(json)}`);
  if (json.format !== PACKED_FORMAT) fail(`format is ${show(json.format)}, expected "${PACKED_FORMAT}"`);
  if (json.version !== PACKED_VERSION) {
    fail(`version ${show(json.version)} is not supported (this runtime reads version ${PACKED_VERSION}); convert the original checkpoint again`);
  }
  if (json.groupSize !== QUANT_GROUP) fail(`groupSize is ${show(json.groupSize)}, this runtime quantizes in groups of ${QUANT_GROUP}`);
  if (typeof json.converter !== 'string' || json.converter.length > 200) fail(`converter must be a short string, found ${show(json.converter)}`);
  const formats = parseWeightFormats(json.weightFormats, fail);
  const expected = buildPackedManifest(planGpuWeights(config, formats, WHOLE_MATRIX_BYTES), formats);
  const known = Object.keys(expected);
  const extra = Object.keys(json).filter((k) => !known.includes(k));
  if (extra.length) fail(`unknown fields ${listNames(extra)}`);
  if (json.lmHeadKey !== expected.lmHeadKey) fail(`lmHeadKey is ${show(json.lmHeadKey)}, config.json implies "${expected.lmHeadKey}"`);
  compareList(json.matrices, expected.matrices, 'matrices', fail);
  compareList(json.vectors, expected.vectors, 'vectors', fail);
  return { ...expected, converter: json.converter as string };
}

function parseWeightFormats(v: unknown, fail: (what: string) => never): WeightFormats {
  if (!isObject(v)) return fail(`weightFormats must be an object of ${WEIGHT_CLASSES.join(', ')}, found ${show(v)}`);
  for (const key of Object.keys(v)) if (!(WEIGHT_CLASSES as readonly string[]).includes(key)) fail(`weightFormats has an unknown class ${show(key)}`);
  for (const c of WEIGHT_CLASSES) {
    if (!WEIGHT_FORMATS.includes(v[c] as WeightFormat)) fail(`weightFormats.${c} is ${show(v[c])}, expected one of ${WEIGHT_FORMATS.join(', ')}`);
  }
  return resolveWeightFormats(v as WeightFormats);
}

/** Field by field (shallow: values compared with ===, `sources` element by element). */
function compareList(found: unknown, expected: readonly object[], list: string, fail: (what: string) => never): void {
  if (!Array.isArray(found)) return fail(`${list} must be an array, found ${show(found)}`);
  if (found.length !== expected.length) fail(`${list} has ${found.length} entries, config.json implies ${expected.length}`);
  expected.forEach((want, i) => {
    const got = found[i] as unknown;
    const at = `${list}[${i}] (expected "${(want as { key: string }).key}")`;
    if (!isObject(got)) return fail(`${at} must be an object, found ${show(got)}`);
    const extra = Object.keys(got).filter((k) => !Object.hasOwn(want, k));
    if (extra.length) fail(`${at} has unknown fields ${listNames(extra)}`);
    for (const [field, value] of Object.entries(want)) {
      if (field === 'sources') compareSources(got.sources, value as PackedMatrixEntry['sources'], `${at}.sources`, fail);
      else if (got[field] !== value) fail(`${at}: ${field} is ${show(got[field])}, config.json implies ${show(value)}`);
    }
  });
}

function compareSources(found: unknown, expected: PackedMatrixEntry['sources'], at: string, fail: (what: string) => never): void {
  if (!Array.isArray(found) || found.length !== expected.length) fail(`${at} is ${show(found)}, config.json implies an array of ${expected.length}`);
  expected.forEach((want, i) => {
    const got = (found as unknown[])[i];
    if (!isObject(got) || Object.keys(got).length !== 2 || got.path !== want.path || got.rows !== want.rows) {
      fail(`${at}[${i}] must be {"path": "${want.path}", "rows": ${want.rows}}, found ${isObject(got) ? `{path: ${show(got.path)}, rows: ${show(got.rows)}}` : show(got)}`);
    }
  });
}

/** Every tensor the manifest implies, with exactly its dtype and shape (so its byte size), and nothing else. */
export function checkPackedTensors(dir: TensorDirectory, plan: WeightPlan): void {
  const specs = packedTensorSpecs(plan);
  const wanted = new Set(specs.map((s) => s.name));
  const missing: string[] = [];
  const wrong: string[] = [];
  for (const s of specs) {
    const info = dir.tensors.get(s.name)?.info;
    if (!info) missing.push(s.name);
    else if (info.dtype !== s.dtype || info.shape.join() !== s.shape.join()) {
      wrong.push(`${s.name}: ${info.dtype} ${show(info.shape)}, expected ${s.dtype} ${show(s.shape)}`);
    }
  }
  const unknown = [...dir.tensors.keys()].filter((n) => !wanted.has(n));
  const problems = [
    missing.length ? `missing tensors: ${listNames(missing)}` : '',
    wrong.length ? `wrong tensors: ${listNames(wrong)}` : '',
    unknown.length ? `tensors the manifest does not describe: ${listNames(unknown)}` : '',
  ].filter(Boolean);
  if (problems.length) throw new ModelFormatError(`${dir.description}: the packed tensors do not match ${PACKED_MANIFEST}: ${problems.join('; ')}`);
}

const describeFormats = (f: WeightFormats): string => WEIGHT_CLASSES.map((c) => `${c} ${f[c]}`).join(', ');

/**
 * Opens a packed checkpoint: manifest, shard headers and every tensor checked. `requested` (the
 * caller's weightFormat, if any) must equal the stored formats: packed weights are not re-quantized.
 */
export async function openPackedCheckpoint(source: CheckpointSource, config: Qwen35Config, requested?: WeightFormatSpec): Promise<PackedCheckpoint> {
  const where = `${source.description}/${PACKED_MANIFEST}`;
  const file = await source.open(PACKED_MANIFEST);
  const size = await file.size();
  if (size > MAX_MANIFEST_BYTES) throw new ModelFormatError(`${where}: ${size} bytes, more than a manifest can be (${MAX_MANIFEST_BYTES})`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(await file.read(0, size));
  } catch (e) {
    throw new ModelFormatError(`${where}: not valid UTF-8 (${(e as Error).message})`);
  }
  const manifest = parsePackedManifest(text, config, where);
  const formats = manifest.weightFormats;
  if (requested !== undefined) {
    const want = resolveWeightFormats(requested);
    if (WEIGHT_CLASSES.some((c) => want[c] !== formats[c])) {
      throw new InvalidArgumentError(
        `${source.description} is pre-quantized by qwen35 convert (${describeFormats(formats)}) and loads only in those formats, ` +
          `but ${describeFormats(want)} was requested; load it without a weight format, or convert the original checkpoint to the formats you want`,
      );
    }
  }
  const dir = await openTensorDirectory(source);
  checkPackedTensors(dir, planGpuWeights(config, formats, WHOLE_MATRIX_BYTES));
  return { description: source.description, config, manifest, formats, dir };
}
