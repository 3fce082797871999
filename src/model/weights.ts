/**
 * Canonical weights of the model (what the runtime and the reference use), independent of the
 * checkpoint layout. Every matrix is [out, in] (Linear(W)(x) = W·x). `planWeights`
 * (weight-plan.ts) maps checkpoint tensors to these; `materialize` builds one canonical tensor.
 */
import { ModelFormatError } from '../errors.js';
import { numel, type Dtype } from '../io/safetensors.js';
import { readTensorF32, type TensorDirectory } from '../io/tensor-directory.js';

/** Gated attention (§3). */
export interface AttnWeights<T> {
  /** [2·H·d, hidden], per head h rows [q_h (d) | gate_h (d)]. */
  qProj: T;
  /** [Hkv·d, hidden]. */
  kProj: T;
  /** [Hkv·d, hidden]. */
  vProj: T;
  /** [hidden, H·d]. */
  oProj: T;
  /** [d], zero-centred (1+w). */
  qNorm: T;
  /** [d], zero-centred (1+w). */
  kNorm: T;
}

/** Gated DeltaNet (§4), always in the Qwen3.5 layout (Qwen3-Next tensors are de-interleaved). */
export interface GdnWeights<T> {
  /** [C = 2·Hk·dk + Hv·dv, hidden], rows [q all heads | k all heads | v all heads]. */
  inProjQkv: T;
  /** [Hv·dv, hidden]. */
  inProjZ: T;
  /** [Hv, hidden]. */
  inProjB: T;
  /** [Hv, hidden]. */
  inProjA: T;
  /** [C, K] depthwise conv taps (checkpoint [C, 1, K]). */
  conv1d: T;
  /** [Hv]. */
  aLog: T;
  /** [Hv]. */
  dtBias: T;
  /** [dv], plain weight of the gated RMSNorm (no +1). */
  norm: T;
  /** [hidden, Hv·dv]. */
  outProj: T;
}

/** Dense SwiGLU (§5). */
export interface MlpWeights<T> {
  /** [I, hidden]. */
  gateProj: T;
  /** [I, hidden]. */
  upProj: T;
  /** [hidden, I]. */
  downProj: T;
}

/** Sparse MoE + shared expert (§5), experts fused. */
export interface MoeWeights<T> {
  /** [E, hidden]. */
  router: T;
  /** [E, 2·I, hidden], rows 0..I−1 gate, I..2I−1 up. */
  gateUp: T;
  /** [E, hidden, I]. */
  down: T;
  /** [I_sh, hidden]. */
  sharedGateProj: T;
  /** [I_sh, hidden]. */
  sharedUpProj: T;
  /** [hidden, I_sh]. */
  sharedDownProj: T;
  /** [1, hidden]. */
  sharedExpertGate: T;
}

export interface LayerWeights<T> {
  /** [hidden], (1+w). */
  inputNorm: T;
  /** [hidden], (1+w). */
  postNorm: T;
  attn?: AttnWeights<T>;
  gdn?: GdnWeights<T>;
  mlp?: MlpWeights<T>;
  moe?: MoeWeights<T>;
}

export interface ModelWeights<T> {
  /** [V, hidden]. */
  embed: T;
  /** [hidden], (1+w). */
  finalNorm: T;
  /** [V, hidden]; absent when the embeddings are tied (the head is `embed`). */
  lmHead?: T;
  layers: LayerWeights<T>[];
}

/** One checkpoint tensor a recipe reads, with the shape and dtypes it must have. */
export interface SourceTensor {
  name: string;
  shape: number[];
  dtype: Dtype;
  /** FP8 block-scaled weight: the `<name>_scale_inv` tensor, one factor per 128×128 block. */
  scaleInv?: string;
}

/** Copy `rows` rows starting at row `from` of source `source` (rows are the canonical last dim). */
export interface RowCopy {
  source: number;
  from: number;
  rows: number;
}

/** How to build one canonical tensor: its shape, the checkpoint tensors, and the row copies in output order. */
export interface TensorRecipe {
  /** Canonical path for messages, e.g. "layers.3.gdn.inProjQkv". */
  path: string;
  shape: number[];
  sources: SourceTensor[];
  rows: RowCopy[];
}

/** FP8 block size of `weight_scale_inv` (DeepSeek-V3 / Qwen FP8 checkpoints). */
export const FP8_BLOCK = 128;

/** Every leaf of a ModelWeights with its path ("embed", "layers.3.attn.qProj", ...), in a stable order. */
export function weightEntries<T>(w: ModelWeights<T>): [string, T][] {
  const out: [string, T][] = [['embed', w.embed], ['finalNorm', w.finalNorm]];
  if (w.lmHead !== undefined) out.push(['lmHead', w.lmHead]);
  w.layers.forEach((layer, i) => {
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue;
      if (key === 'inputNorm' || key === 'postNorm') out.push([`layers.${i}.${key}`, value as T]);
      else for (const [leaf, t] of Object.entries(value as Record<string, T>)) out.push([`layers.${i}.${key}.${leaf}`, t]);
    }
  });
  return out;
}

/** Maps every leaf (sequentially, so a loader holds one tensor at a time). */
export async function mapWeights<T, U>(w: ModelWeights<T>, f: (t: T, path: string) => Promise<U>): Promise<ModelWeights<U>> {
  const group = async (g: object | undefined, path: string): Promise<Record<string, U> | undefined> => {
    if (g === undefined) return undefined;
    const out: Record<string, U> = {};
    for (const [key, t] of Object.entries(g)) out[key] = await f(t as T, `${path}.${key}`);
    return out;
  };
  const layers: LayerWeights<U>[] = [];
  for (const [i, l] of w.layers.entries()) {
    const p = `layers.${i}`;
    const layer: LayerWeights<U> = { inputNorm: await f(l.inputNorm, `${p}.inputNorm`), postNorm: await f(l.postNorm, `${p}.postNorm`) };
    for (const key of ['attn', 'gdn', 'mlp', 'moe'] as const) {
      const g = await group(l[key], `${p}.${key}`);
      if (g) (layer as unknown as Record<string, unknown>)[key] = g;
    }
    layers.push(layer);
  }
  const embed = await f(w.embed, 'embed');
  const finalNorm = await f(w.finalNorm, 'finalNorm');
  return { embed, finalNorm, ...(w.lmHead !== undefined ? { lmHead: await f(w.lmHead, 'lmHead') } : {}), layers };
}

/**
 * Multiplies `rows` rows of an FP8 matrix (starting at matrix row `rowStart`) by their per-block
 * factors scaleInv [⌈matrixRows/128⌉, ⌈cols/128⌉], in place.
 */
export function dequantizeBlocks(values: Float32Array, scaleInv: Float32Array, rows: number, cols: number, rowStart = 0): void {
  const blockCols = Math.ceil(cols / FP8_BLOCK);
  for (let r = 0; r < rows; r++) {
    const srow = Math.floor((rowStart + r) / FP8_BLOCK) * blockCols;
    for (let c = 0; c < cols; c++) values[r * cols + c]! *= scaleInv[srow + Math.floor(c / FP8_BLOCK)]!;
  }
}

/**
 * Builds one canonical tensor. Sources are read one after another, so the peak memory is the
 * output plus one source tensor. `read` returns a checkpoint tensor converted to f32.
 */
export async function materialize(recipe: TensorRecipe, read: (name: string) => Promise<Float32Array>): Promise<Float32Array> {
  const rowLength = recipe.shape[recipe.shape.length - 1] ?? 1;
  const out = new Float32Array(numel(recipe.shape));
  const destination: number[] = []; // first output row of each copy
  let next = 0;
  for (const copy of recipe.rows) {
    destination.push(next);
    next += copy.rows;
  }
  for (const [s, src] of recipe.sources.entries()) {
    const data = await read(src.name);
    if (data.length !== numel(src.shape)) {
      throw new ModelFormatError(`${recipe.path}: tensor "${src.name}" has ${data.length} values, expected shape ${JSON.stringify(src.shape)}`);
    }
    if (src.scaleInv) {
      const cols = src.shape[src.shape.length - 1]!;
      dequantizeBlocks(data, await read(src.scaleInv), data.length / cols, cols);
    }
    recipe.rows.forEach((copy, i) => {
      if (copy.source !== s) return;
      out.set(data.subarray(copy.from * rowLength, (copy.from + copy.rows) * rowLength), destination[i]! * rowLength);
    });
  }
  return out;
}

/** A `read` for materialize over a tensor directory (FP8 values are widened exactly; scaling is materialize's). */
export const directoryReader =
  (dir: TensorDirectory, signal?: AbortSignal) =>
  (name: string): Promise<Float32Array> =>
    readTensorF32(dir, name, signal);

/** All canonical weights as f32 (the CPU reference); the GPU loader materializes one recipe at a time instead. */
export function loadAllWeights(plan: ModelWeights<TensorRecipe>, read: (name: string) => Promise<Float32Array>): Promise<ModelWeights<Float32Array>> {
  return mapWeights(plan, (recipe) => materialize(recipe, read));
}
