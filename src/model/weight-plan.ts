/**
 * Maps the tensors of a Hugging Face checkpoint to the canonical weights (weights.ts), checking
 * every name, shape and dtype before anything is read (architecture §4.1, §4.5, §5, §6):
 *   - prefixes `model.language_model.` (multimodal) or `model.` (text-only, Qwen3-Next), `lm_head.weight`;
 *   - Qwen3-Next `in_proj_qkvz` / `in_proj_ba` (grouped by key head) de-interleaved to the 3.5 layout;
 *   - per-expert tensors stacked into the fused [E, 2I, hidden] / [E, hidden, I] layout;
 *   - FP8 e4m3 weights with `weight_scale_inv` (128×128 blocks) dequantized;
 *   - vision (`model.visual.*`) and MTP (`mtp.*`) tensors recognised and listed as skipped.
 */
import { ModelFormatError } from '../errors.js';
import type { Dtype } from '../io/safetensors.js';
import { showValue } from '../io/show-value.js';
import { listNames, type TensorDirectory } from '../io/tensor-directory.js';
import type { Qwen35Config } from './config.js';
import { FP8_BLOCK, type AttnWeights, type GdnWeights, type LayerWeights, type MlpWeights, type ModelWeights, type MoeWeights, type RowCopy, type SourceTensor, type TensorRecipe } from './weights.js';

export interface SkippedTensors {
  /** Vision tower tensors (not used for text). */
  vision: string[];
  /** Multi-token-prediction head tensors (kept for a later speculative decoder). */
  mtp: string[];
  /** A stored `lm_head.weight` ignored because the embeddings are tied. */
  tiedLmHead?: string;
}

export interface WeightPlan extends ModelWeights<TensorRecipe> {
  /** Name prefix of the decoder tensors ("model.language_model." or "model."). */
  prefix: string;
  skipped: SkippedTensors;
}

const FLOATS: readonly Dtype[] = ['BF16', 'F16', 'F32'];
const isVision = (n: string): boolean => n.startsWith('model.visual.') || n.startsWith('visual.');
const isMtp = (n: string): boolean => n.startsWith('mtp.');

/** Collects every problem (missing, wrong shape/dtype, unknown) and reports them together. */
class Planner {
  readonly claimed = new Set<string>();
  readonly missing: string[] = [];
  readonly wrong: string[] = [];

  constructor(private readonly dir: TensorDirectory) {}

  has(name: string): boolean {
    return this.dir.tensors.has(name);
  }

  /** A checkpoint tensor that must exist with this shape and a float dtype (or FP8 + scale). */
  source(name: string, shape: number[]): SourceTensor {
    const info = this.dir.tensors.get(name)?.info;
    if (!info) {
      this.missing.push(name);
      return { name, shape, dtype: 'BF16' };
    }
    this.claimed.add(name);
    if (info.shape.join() !== shape.join()) this.wrong.push(`${name}: shape ${showValue(info.shape)}, expected ${showValue(shape)}`);
    const scaleName = `${name}_scale_inv`;
    if (info.dtype === 'F8_E4M3' && shape.length === 2 && this.has(scaleName)) {
      const blocks = [Math.ceil(shape[0]! / FP8_BLOCK), Math.ceil(shape[1]! / FP8_BLOCK)];
      this.source(scaleName, blocks);
      return { name, shape, dtype: info.dtype, scaleInv: scaleName };
    }
    if (!FLOATS.includes(info.dtype)) {
      const fp8 = info.dtype === 'F8_E4M3' ? ` (F8_E4M3 needs a 2-D weight with "${scaleName}")` : '';
      this.wrong.push(`${name}: dtype ${info.dtype}, expected one of ${FLOATS.join(', ')}${fp8}`);
    }
    return { name, shape, dtype: info.dtype };
  }

  /** A canonical tensor read verbatim from one checkpoint tensor (whose shape may differ only by unit dims). */
  identity(path: string, name: string, shape: number[], stored: number[] = shape): TensorRecipe {
    const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    return { path, shape, sources: [this.source(name, stored)], rows: [{ source: 0, from: 0, rows }] };
  }

  report(): void {
    const unknown = [...this.dir.tensors.keys()].filter((n) => !this.claimed.has(n) && !isVision(n) && !isMtp(n));
    const problems = [
      this.missing.length ? `missing tensors: ${listNames(this.missing)}` : '',
      this.wrong.length ? `wrong tensors: ${listNames(this.wrong)}` : '',
      unknown.length ? `unknown tensors (not part of this architecture): ${listNames(unknown)}` : '',
    ].filter(Boolean);
    if (problems.length) throw new ModelFormatError(`${this.dir.description}: checkpoint does not match config.json: ${problems.join('; ')}`);
  }
}

/** Plans every canonical weight of `config` from the checkpoint's tensors; throws listing all mismatches. */
export function planWeights(config: Qwen35Config, dir: TensorDirectory): WeightPlan {
  const p = new Planner(dir);
  const prefix = ['model.language_model.', 'model.'].find((pre) => p.has(`${pre}embed_tokens.weight`));
  if (prefix === undefined) {
    throw new ModelFormatError(`${dir.description}: no embedding found (expected "model.language_model.embed_tokens.weight" or "model.embed_tokens.weight")`);
  }
  const h = config.hiddenSize;
  const V = config.vocabSize;
  const embed = p.identity('embed', `${prefix}embed_tokens.weight`, [V, h]);
  const finalNorm = p.identity('finalNorm', `${prefix}norm.weight`, [h]);
  let lmHead: TensorRecipe | undefined;
  let tiedLmHead: string | undefined;
  if (!config.tieWordEmbeddings) lmHead = p.identity('lmHead', 'lm_head.weight', [V, h]);
  else if (p.has('lm_head.weight')) p.claimed.add((tiedLmHead = 'lm_head.weight'));

  const layers = config.layerTypes.map((type, i): LayerWeights<TensorRecipe> => {
    const lp = `${prefix}layers.${i}.`;
    const path = `layers.${i}`;
    const layer: LayerWeights<TensorRecipe> = {
      inputNorm: p.identity(`${path}.inputNorm`, `${lp}input_layernorm.weight`, [h]),
      postNorm: p.identity(`${path}.postNorm`, `${lp}post_attention_layernorm.weight`, [h]),
    };
    if (type === 'full_attention') layer.attn = planAttention(p, config, lp, `${path}.attn`);
    else layer.gdn = planGdn(p, config, lp, `${path}.gdn`);
    if (config.mlpTypes[i] === 'moe') layer.moe = planMoe(p, config, lp, `${path}.moe`);
    else layer.mlp = planMlp(p, config.intermediateSize, h, `${lp}mlp.`, `${path}.mlp`);
    return layer;
  });
  p.report();
  const names = [...dir.tensors.keys()];
  const skipped: SkippedTensors = { vision: names.filter(isVision), mtp: names.filter(isMtp), ...(tiedLmHead ? { tiedLmHead } : {}) };
  return { embed, finalNorm, ...(lmHead ? { lmHead } : {}), layers, prefix, skipped };
}

function planAttention(p: Planner, c: Qwen35Config, lp: string, path: string): AttnWeights<TensorRecipe> {
  const { hiddenSize: h, numAttentionHeads: H, numKeyValueHeads: Hkv, headDim: d } = c;
  const a = `${lp}self_attn.`;
  return {
    qProj: p.identity(`${path}.qProj`, `${a}q_proj.weight`, [2 * H * d, h]),
    kProj: p.identity(`${path}.kProj`, `${a}k_proj.weight`, [Hkv * d, h]),
    vProj: p.identity(`${path}.vProj`, `${a}v_proj.weight`, [Hkv * d, h]),
    oProj: p.identity(`${path}.oProj`, `${a}o_proj.weight`, [h, H * d]),
    qNorm: p.identity(`${path}.qNorm`, `${a}q_norm.weight`, [d]),
    kNorm: p.identity(`${path}.kNorm`, `${a}k_norm.weight`, [d]),
  };
}

function planGdn(p: Planner, c: Qwen35Config, lp: string, path: string): GdnWeights<TensorRecipe> {
  const h = c.hiddenSize;
  const { linearNumKeyHeads: Hk, linearNumValueHeads: Hv, linearKeyHeadDim: dk, linearValueHeadDim: dv, linearConvKernelDim: K } = c;
  const keyDim = Hk * dk;
  const valueDim = Hv * dv;
  const C = 2 * keyDim + valueDim;
  const g = `${lp}linear_attn.`;
  const common = {
    conv1d: p.identity(`${path}.conv1d`, `${g}conv1d.weight`, [C, K], [C, 1, K]),
    aLog: p.identity(`${path}.aLog`, `${g}A_log`, [Hv]),
    dtBias: p.identity(`${path}.dtBias`, `${g}dt_bias`, [Hv]),
    norm: p.identity(`${path}.norm`, `${g}norm.weight`, [dv]),
    outProj: p.identity(`${path}.outProj`, `${g}out_proj.weight`, [h, valueDim]),
  };
  if (c.modelType !== 'qwen3_next') {
    return {
      inProjQkv: p.identity(`${path}.inProjQkv`, `${g}in_proj_qkv.weight`, [C, h]),
      inProjZ: p.identity(`${path}.inProjZ`, `${g}in_proj_z.weight`, [valueDim, h]),
      inProjB: p.identity(`${path}.inProjB`, `${g}in_proj_b.weight`, [Hv, h]),
      inProjA: p.identity(`${path}.inProjA`, `${g}in_proj_a.weight`, [Hv, h]),
      ...common,
    };
  }
  // §4.5: in_proj_qkvz rows grouped by key head k: [q_k (dk) | k_k (dk) | v of its r value heads (r·dv) | z (r·dv)];
  // in_proj_ba per key head: [b (r) | a (r)]. Value head k·r + j belongs to key head k.
  const r = Hv / Hk;
  const group = 2 * dk + 2 * r * dv;
  const qkvz = p.source(`${g}in_proj_qkvz.weight`, [Hk * group, h]);
  const ba = p.source(`${g}in_proj_ba.weight`, [2 * Hv, h]);
  const pick = (offset: number, rows: number, stride: number): RowCopy[] =>
    Array.from({ length: Hk }, (_, k) => ({ source: 0, from: k * stride + offset, rows }));
  return {
    inProjQkv: { path: `${path}.inProjQkv`, shape: [C, h], sources: [qkvz], rows: [...pick(0, dk, group), ...pick(dk, dk, group), ...pick(2 * dk, r * dv, group)] },
    inProjZ: { path: `${path}.inProjZ`, shape: [valueDim, h], sources: [qkvz], rows: pick(2 * dk + r * dv, r * dv, group) },
    inProjB: { path: `${path}.inProjB`, shape: [Hv, h], sources: [ba], rows: pick(0, r, 2 * r) },
    inProjA: { path: `${path}.inProjA`, shape: [Hv, h], sources: [ba], rows: pick(r, r, 2 * r) },
    ...common,
  };
}

function planMlp(p: Planner, inter: number, h: number, mp: string, path: string): MlpWeights<TensorRecipe> {
  return {
    gateProj: p.identity(`${path}.gateProj`, `${mp}gate_proj.weight`, [inter, h]),
    upProj: p.identity(`${path}.upProj`, `${mp}up_proj.weight`, [inter, h]),
    downProj: p.identity(`${path}.downProj`, `${mp}down_proj.weight`, [h, inter]),
  };
}

function planMoe(p: Planner, c: Qwen35Config, lp: string, path: string): MoeWeights<TensorRecipe> {
  const h = c.hiddenSize;
  const { numExperts: E, moeIntermediateSize: I, sharedExpertIntermediateSize: Ish } = c.moe!;
  const m = `${lp}mlp.`;
  const shared = planMlp(p, Ish, h, `${m}shared_expert.`, `${path}.shared`);
  const fused = p.has(`${m}experts.gate_up_proj`);
  let gateUp: TensorRecipe;
  let down: TensorRecipe;
  if (fused) {
    // §5: released Qwen3.5-MoE checkpoints store the experts fused, in the canonical layout.
    gateUp = p.identity(`${path}.gateUp`, `${m}experts.gate_up_proj`, [E, 2 * I, h]);
    down = p.identity(`${path}.down`, `${m}experts.down_proj`, [E, h, I]);
  } else {
    // Per-expert tensors (Qwen3-Next, FP8 checkpoints): expert e contributes [gate_e; up_e] and down_e.
    const experts = Array.from({ length: E }, (_, e) => `${m}experts.${e}.`);
    gateUp = {
      path: `${path}.gateUp`,
      shape: [E, 2 * I, h],
      sources: experts.flatMap((x) => [p.source(`${x}gate_proj.weight`, [I, h]), p.source(`${x}up_proj.weight`, [I, h])]),
      rows: experts.flatMap((_, e) => [{ source: 2 * e, from: 0, rows: I }, { source: 2 * e + 1, from: 0, rows: I }]),
    };
    down = {
      path: `${path}.down`,
      shape: [E, h, I],
      sources: experts.map((x) => p.source(`${x}down_proj.weight`, [h, I])),
      rows: experts.map((_, e) => ({ source: e, from: 0, rows: h })),
    };
  }
  return {
    router: p.identity(`${path}.router`, `${m}gate.weight`, [E, h]),
    gateUp,
    down,
    sharedGateProj: shared.gateProj,
    sharedUpProj: shared.upProj,
    sharedDownProj: shared.downProj,
    sharedExpertGate: p.identity(`${path}.sharedExpertGate`, `${m}shared_expert_gate.weight`, [1, h]),
  };
}
