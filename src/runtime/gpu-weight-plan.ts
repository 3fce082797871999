/**
 * Which GPU weight buffers a model needs, in which format and how many bytes: the single
 * source both the loader (what to allocate and fill) and the memory predictor (what it will
 * cost) read. Matrices that are used together are fused by rows at load time so that one
 * matvec computes them all:
 *   attention  qkv     = [q_proj (per head q_h | gate_h) ; k_proj ; v_proj]       §3
 *   GDN        inProj  = [in_proj_qkv ; in_proj_z ; in_proj_b ; in_proj_a]        §4.1
 *   MLP        gateUp  = [gate_proj ; up_proj]   (SwiGLU epilogue)                  §5
 *   MoE        experts.gateUp = per expert [gate ; up] (the checkpoint's fused layout) §5
 *              router  = [router (E rows) ; shared_expert_gate (1 row)]: E logits and the shared gate
 * Small vectors (norms, A_log, dt_bias, conv1d taps) stay f32.
 */
import { InvalidArgumentError, OutOfGpuMemoryError } from '../errors.js';
import { dataBytes, scaleBytes, WEIGHT_FORMATS, type WeightFormat } from '../io/formats.js';
import { planMatrixParts, type PartPlan } from '../kernels/matrix.js';
import type { Qwen35Config } from '../model/config.js';

/** Tensor classes whose format the user chooses. */
export const WEIGHT_CLASSES = ['embedding', 'lmHead', 'attention', 'deltanet', 'mlp', 'experts'] as const;
export type WeightClass = (typeof WEIGHT_CLASSES)[number];
export type WeightFormats = Record<WeightClass, WeightFormat>;

/** Memory-report groups: the weight classes, the f32 MoE router gates and the norms. */
export type WeightGroup = WeightClass | 'router' | 'norms';

/** One format for every matrix, or per class (missing classes take `default`, else q4). */
export type WeightFormatSpec = WeightFormat | (Partial<WeightFormats> & { default?: WeightFormat });

export function resolveWeightFormats(spec: WeightFormatSpec = 'q4'): WeightFormats {
  const check = (f: unknown, what: string): WeightFormat => {
    if (!WEIGHT_FORMATS.includes(f as WeightFormat)) {
      throw new InvalidArgumentError(`${what}: unknown weight format "${String(f)}" (expected one of ${WEIGHT_FORMATS.join(', ')})`);
    }
    return f as WeightFormat;
  };
  if (typeof spec === 'string') {
    const f = check(spec, 'weight format');
    return Object.fromEntries(WEIGHT_CLASSES.map((c) => [c, f])) as WeightFormats;
  }
  const fallback = check(spec.default ?? 'q4', 'default weight format');
  return Object.fromEntries(WEIGHT_CLASSES.map((c) => [c, check(spec[c] ?? fallback, `${c} weight format`)])) as WeightFormats;
}

/** A canonical tensor (a path into ModelWeights, e.g. "layers.3.attn.qProj") and how many rows it gives. */
export interface RowSource {
  path: string;
  rows: number;
}

export interface MatrixPlan {
  /** Stable key, e.g. "layers.3.attn.qkv". */
  key: string;
  group: WeightGroup;
  format: WeightFormat;
  rows: number;
  cols: number;
  /** Parts start at multiples of this many rows (stacked experts). */
  rowGranularity: number;
  parts: PartPlan[];
  /** Concatenated by rows, in order. */
  sources: RowSource[];
  bytes: number;
}

export interface VectorPlan {
  key: string;
  group: WeightGroup;
  /** Canonical tensor path; its values are stored as f32 (flattened). */
  path: string;
  length: number;
  bytes: number;
}

export interface WeightPlan {
  matrices: MatrixPlan[];
  vectors: VectorPlan[];
  /** Key of the matrix the LM head uses (the embedding when tied). */
  lmHeadKey: string;
  bytes: number;
}

/** Builds the weight plan; `maxBindingBytes` decides how big matrices are split into parts. */
export function planGpuWeights(config: Qwen35Config, formats: WeightFormats, maxBindingBytes: number): WeightPlan {
  const matrices: MatrixPlan[] = [];
  const vectors: VectorPlan[] = [];
  const h = config.hiddenSize;
  const matrix = (key: string, group: WeightGroup, format: WeightFormat, cols: number, sources: RowSource[], rowGranularity = 1): void => {
    const rows = sources.reduce((a, s) => a + s.rows, 0);
    let parts: PartPlan[];
    try {
      parts = planMatrixParts(format, rows, cols, maxBindingBytes, rowGranularity);
    } catch (e) {
      if (e instanceof OutOfGpuMemoryError) throw new OutOfGpuMemoryError(`${key}: ${e.message}`, { cause: e });
      throw e;
    }
    const bytes = parts.reduce((a, p) => a + dataBytes(format, p.rows, cols) + scaleBytes(format, p.rows, cols), 0);
    matrices.push({ key, group, format, rows, cols, rowGranularity, parts, sources, bytes });
  };
  const vector = (key: string, group: WeightGroup, path: string, length: number): void => {
    vectors.push({ key, group, path, length, bytes: length * 4 });
  };

  matrix('embed', 'embedding', formats.embedding, h, [{ path: 'embed', rows: config.vocabSize }]);
  config.layerTypes.forEach((type, i) => {
    const p = `layers.${i}`;
    vector(`${p}.inputNorm`, 'norms', `${p}.inputNorm`, h);
    vector(`${p}.postNorm`, 'norms', `${p}.postNorm`, h);
    if (type === 'full_attention') {
      const d = config.headDim;
      const kv = config.numKeyValueHeads * d;
      matrix(`${p}.attn.qkv`, 'attention', formats.attention, h, [
        { path: `${p}.attn.qProj`, rows: 2 * config.numAttentionHeads * d },
        { path: `${p}.attn.kProj`, rows: kv },
        { path: `${p}.attn.vProj`, rows: kv },
      ]);
      matrix(`${p}.attn.o`, 'attention', formats.attention, config.numAttentionHeads * d, [{ path: `${p}.attn.oProj`, rows: h }]);
      vector(`${p}.attn.qNorm`, 'norms', `${p}.attn.qNorm`, d);
      vector(`${p}.attn.kNorm`, 'norms', `${p}.attn.kNorm`, d);
    } else {
      const hv = config.linearNumValueHeads;
      const keyDim = config.linearNumKeyHeads * config.linearKeyHeadDim;
      const valueDim = hv * config.linearValueHeadDim;
      const channels = 2 * keyDim + valueDim;
      matrix(`${p}.gdn.inProj`, 'deltanet', formats.deltanet, h, [
        { path: `${p}.gdn.inProjQkv`, rows: channels },
        { path: `${p}.gdn.inProjZ`, rows: valueDim },
        { path: `${p}.gdn.inProjB`, rows: hv },
        { path: `${p}.gdn.inProjA`, rows: hv },
      ]);
      matrix(`${p}.gdn.out`, 'deltanet', formats.deltanet, valueDim, [{ path: `${p}.gdn.outProj`, rows: h }]);
      vector(`${p}.gdn.conv1d`, 'deltanet', `${p}.gdn.conv1d`, channels * config.linearConvKernelDim);
      vector(`${p}.gdn.aLog`, 'deltanet', `${p}.gdn.aLog`, hv);
      vector(`${p}.gdn.dtBias`, 'deltanet', `${p}.gdn.dtBias`, hv);
      vector(`${p}.gdn.norm`, 'norms', `${p}.gdn.norm`, config.linearValueHeadDim);
    }
    if (config.mlpTypes[i] === 'moe') {
      const moe = config.moe!;
      const e = moe.numExperts;
      const inter = moe.moeIntermediateSize;
      const shared = moe.sharedExpertIntermediateSize;
      matrix(`${p}.moe.router`, 'router', 'f32', h, [
        { path: `${p}.moe.router`, rows: e },
        { path: `${p}.moe.sharedExpertGate`, rows: 1 },
      ]);
      matrix(`${p}.moe.gateUp`, 'experts', formats.experts, h, [{ path: `${p}.moe.gateUp`, rows: e * 2 * inter }], 2 * inter);
      matrix(`${p}.moe.down`, 'experts', formats.experts, inter, [{ path: `${p}.moe.down`, rows: e * h }], h);
      matrix(`${p}.moe.sharedGateUp`, 'mlp', formats.mlp, h, [
        { path: `${p}.moe.sharedGateProj`, rows: shared },
        { path: `${p}.moe.sharedUpProj`, rows: shared },
      ]);
      matrix(`${p}.moe.sharedDown`, 'mlp', formats.mlp, shared, [{ path: `${p}.moe.sharedDownProj`, rows: h }]);
    } else {
      const inter = config.intermediateSize;
      matrix(`${p}.mlp.gateUp`, 'mlp', formats.mlp, h, [
        { path: `${p}.mlp.gateProj`, rows: inter },
        { path: `${p}.mlp.upProj`, rows: inter },
      ]);
      matrix(`${p}.mlp.down`, 'mlp', formats.mlp, inter, [{ path: `${p}.mlp.downProj`, rows: h }]);
    }
  });
  vector('finalNorm', 'norms', 'finalNorm', h);
  if (!config.tieWordEmbeddings) matrix('lmHead', 'lmHead', formats.lmHead, h, [{ path: 'lmHead', rows: config.vocabSize }]);
  const bytes = matrices.reduce((a, m) => a + m.bytes, 0) + vectors.reduce((a, v) => a + v.bytes, 0);
  return { matrices, vectors, lmHeadKey: config.tieWordEmbeddings ? 'embed' : 'lmHead', bytes };
}
