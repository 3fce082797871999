/**
 * The whole Qwen3.5 forward pass on the CPU, llama2.c style: readable first, fast never.
 * Built only from the operators of ops.ts (f32 storage, f64 accumulation); sections (§) refer
 * to ../shared/docs/qwen35-architecture.md. It is the numerical truth the GPU runtime is
 * tested against, and is itself tested against the golden files.
 *
 * State carried between calls: per attention layer a KV cache (K after k_norm and RoPE, §4.4),
 * per GDN layer the last K−1 pre-conv columns and the recurrent state S [Hv, dk, dv].
 */
import { ContextOverflowError, InvalidArgumentError } from '../errors.js';
import { openTensorDirectory } from '../io/tensor-directory.js';
import type { CheckpointSource } from '../io/source.js';
import { loadConfig, type Qwen35Config } from './config.js';
import {
  applyRope,
  attention,
  causalConv1dSilu,
  embed,
  gatedRmsNorm,
  gdnChunked,
  gdnGates,
  gdnRecurrent,
  l2Normalize,
  linear,
  rmsNorm,
  routerTopK,
  sigmoid,
  sigmoidGate,
  swiglu,
} from './ops.js';
import { planWeights } from './weight-plan.js';
import { directoryReader, loadAllWeights, type AttnWeights, type GdnWeights, type MlpWeights, type ModelWeights, type MoeWeights } from './weights.js';

/** §4.3: the chunk length of the chunked gated delta rule used for multi-token calls. */
export const GDN_CHUNK = 64;

interface KvCache {
  /** [capacity, Hkv, d] each. */
  k: Float32Array;
  v: Float32Array;
}

interface GdnState {
  /** [K−1, C]: the last pre-conv columns, oldest first. */
  conv: Float32Array;
  /** [Hv, dk, dv]. */
  S: Float32Array;
}

/** Columns [from, from + width) of a [T, stride] matrix, as a [T, width] matrix. */
function columns(x: Float32Array, stride: number, from: number, width: number): Float32Array {
  const tokens = x.length / stride;
  const out = new Float32Array(tokens * width);
  for (let t = 0; t < tokens; t++) out.set(x.subarray(t * stride + from, t * stride + from + width), t * width);
  return out;
}

const add = (a: Float32Array, b: Float32Array): Float32Array => a.map((v, i) => v + b[i]!);

/** Dense SwiGLU (§5): down(silu(gate·x) ⊙ up·x). */
function mlp(x: Float32Array, w: MlpWeights<Float32Array>, inter: number, hidden: number): Float32Array {
  const gate = linear(x, w.gateProj, inter, hidden);
  const up = linear(x, w.upProj, inter, hidden);
  const tokens = x.length / hidden;
  const gateUp = new Float32Array(tokens * 2 * inter);
  for (let t = 0; t < tokens; t++) {
    gateUp.set(gate.subarray(t * inter, (t + 1) * inter), t * 2 * inter);
    gateUp.set(up.subarray(t * inter, (t + 1) * inter), t * 2 * inter + inter);
  }
  return linear(swiglu(gateUp, inter), w.downProj, hidden, inter);
}

export class ReferenceModel {
  private kv: (KvCache | undefined)[] = [];
  private gdn: (GdnState | undefined)[] = [];
  private pos = 0;

  constructor(
    readonly config: Qwen35Config,
    readonly weights: ModelWeights<Float32Array>,
  ) {
    this.reset();
  }

  /** Number of tokens consumed since the last reset. */
  get position(): number {
    return this.pos;
  }

  /** Forgets every token: empty KV caches, zero conv and recurrent states. */
  reset(): void {
    const c = this.config;
    const C = 2 * c.linearNumKeyHeads * c.linearKeyHeadDim + c.linearNumValueHeads * c.linearValueHeadDim;
    this.pos = 0;
    this.kv = c.layerTypes.map((t) => (t === 'full_attention' ? { k: new Float32Array(0), v: new Float32Array(0) } : undefined));
    this.gdn = c.layerTypes.map((t) =>
      t === 'linear_attention'
        ? { conv: new Float32Array((c.linearConvKernelDim - 1) * C), S: new Float32Array(c.linearNumValueHeads * c.linearKeyHeadDim * c.linearValueHeadDim) }
        : undefined,
    );
  }

  /** Consumes tokens; returns the next-token logits after the last one [V], or after each one [T, V]. */
  prefill(tokens: readonly number[], opts: { allLogits?: boolean } = {}): Float32Array {
    const c = this.config;
    if (tokens.length === 0) throw new InvalidArgumentError('prefill: no tokens');
    const bad = tokens.find((t) => !Number.isInteger(t) || t < 0 || t >= c.vocabSize);
    if (bad !== undefined) throw new InvalidArgumentError(`token id ${bad} is outside the vocabulary [0, ${c.vocabSize})`);
    if (this.pos + tokens.length > c.maxPositionEmbeddings) {
      throw new ContextOverflowError(`${this.pos} cached + ${tokens.length} new tokens exceed max_position_embeddings ${c.maxPositionEmbeddings}`);
    }
    const h = c.hiddenSize;
    const w = this.weights;
    let x = embed(w.embed, h, tokens); // §1: no scaling
    for (const [i, layer] of w.layers.entries()) {
      // §1 decoder layer: pre-norm, two residuals.
      const n1 = rmsNorm(x, layer.inputNorm, h, c.rmsNormEps, true);
      x = add(x, layer.attn ? this.attention(i, n1, layer.attn) : this.deltaNet(i, n1, layer.gdn!));
      const n2 = rmsNorm(x, layer.postNorm, h, c.rmsNormEps, true);
      x = add(x, layer.moe ? this.moe(n2, layer.moe) : mlp(n2, layer.mlp!, c.intermediateSize, h));
    }
    this.pos += tokens.length;
    const rows = opts.allLogits ? x : x.subarray((tokens.length - 1) * h);
    const normed = rmsNorm(rows, w.finalNorm, h, c.rmsNormEps, true);
    return linear(normed, w.lmHead ?? w.embed, c.vocabSize, h); // tied: the head is the embedding
  }

  /** One decode step (T = 1: the recurrent GDN form). */
  step(token: number): Float32Array {
    return this.prefill([token]);
  }

  /** §3: gated attention with per-head [q | gate] packing, q/k norms, partial RoPE, GQA over the KV cache. */
  private attention(layer: number, x: Float32Array, w: AttnWeights<Float32Array>): Float32Array {
    const c = this.config;
    const { hiddenSize: h, numAttentionHeads: H, numKeyValueHeads: Hkv, headDim: d } = c;
    const tokens = x.length / h;
    const qg = linear(x, w.qProj, 2 * H * d, h); // per token and head: [q_h (d) | gate_h (d)]
    const q = new Float32Array(tokens * H * d);
    const gate = new Float32Array(tokens * H * d);
    for (let r = 0; r < tokens * H; r++) {
      q.set(qg.subarray(r * 2 * d, r * 2 * d + d), r * d);
      gate.set(qg.subarray(r * 2 * d + d, (r + 1) * 2 * d), r * d);
    }
    const qn = rmsNorm(q, w.qNorm, d, c.rmsNormEps, true);
    const kn = rmsNorm(linear(x, w.kProj, Hkv * d, h), w.kNorm, d, c.rmsNormEps, true);
    const v = linear(x, w.vProj, Hkv * d, h);
    applyRope(qn, H, d, c.rotaryDim, c.ropeTheta, this.pos);
    applyRope(kn, Hkv, d, c.rotaryDim, c.ropeTheta, this.pos);
    const cache = this.growCache(layer, this.pos + tokens);
    cache.k.set(kn, this.pos * Hkv * d);
    cache.v.set(v, this.pos * Hkv * d);
    const o = attention(qn, cache.k, cache.v, { heads: H, kvHeads: Hkv, headDim: d }, this.pos);
    return linear(sigmoidGate(o, gate), w.oProj, h, H * d);
  }

  private growCache(layer: number, positions: number): KvCache {
    const cache = this.kv[layer]!;
    const row = this.config.numKeyValueHeads * this.config.headDim;
    if (cache.k.length >= positions * row) return cache;
    const capacity = Math.min(this.config.maxPositionEmbeddings, Math.max(positions, 2 * (cache.k.length / row), 64));
    const grown = { k: new Float32Array(capacity * row), v: new Float32Array(capacity * row) };
    grown.k.set(cache.k);
    grown.v.set(cache.v);
    this.kv[layer] = grown;
    return grown;
  }

  /** §4.2: Gated DeltaNet; chunked form for T > 1 (§4.3), recurrent step for T = 1; state carried. */
  private deltaNet(layer: number, x: Float32Array, w: GdnWeights<Float32Array>): Float32Array {
    const c = this.config;
    const h = c.hiddenSize;
    const { linearNumKeyHeads: Hk, linearNumValueHeads: Hv, linearKeyHeadDim: dk, linearValueHeadDim: dv } = c;
    const keyDim = Hk * dk;
    const valueDim = Hv * dv;
    const C = 2 * keyDim + valueDim;
    const state = this.gdn[layer]!;
    const tokens = x.length / h;
    const mixed = causalConv1dSilu(linear(x, w.inProjQkv, C, h), state.conv, w.conv1d, C, c.linearConvKernelDim);
    const z = linear(x, w.inProjZ, valueDim, h);
    const { beta, g } = gdnGates(linear(x, w.inProjB, Hv, h), linear(x, w.inProjA, Hv, h), w.aLog, w.dtBias);
    const inputs = {
      q: l2Normalize(columns(mixed, C, 0, keyDim), dk, 1 / Math.sqrt(dk)), // §4.2 step 5: l2norm, then dk^−0.5
      k: l2Normalize(columns(mixed, C, keyDim, keyDim), dk),
      v: columns(mixed, C, 2 * keyDim, valueDim),
      beta,
      g,
    };
    const dims = { keyHeads: Hk, valueHeads: Hv, keyDim: dk, valueDim: dv };
    const o = tokens > 1 ? gdnChunked(inputs, state.S, dims, GDN_CHUNK) : gdnRecurrent(inputs, state.S, dims);
    return linear(gatedRmsNorm(o, z, w.norm, c.rmsNormEps), w.outProj, h, valueDim);
  }

  /** §5: softmax over all experts → top-k → renormalise; routed SwiGLU experts + sigmoid-gated shared expert. */
  private moe(x: Float32Array, w: MoeWeights<Float32Array>): Float32Array {
    const c = this.config;
    const h = c.hiddenSize;
    const { numExperts: E, numExpertsPerTok: k, moeIntermediateSize: I, sharedExpertIntermediateSize: Ish, normTopkProb } = c.moe!;
    const tokens = x.length / h;
    const route = routerTopK(linear(x, w.router, E, h), E, k, normTopkProb);
    const shared = mlp(x, { gateProj: w.sharedGateProj, upProj: w.sharedUpProj, downProj: w.sharedDownProj }, Ish, h);
    const sharedGate = linear(x, w.sharedExpertGate, 1, h);
    const out = new Float32Array(tokens * h);
    for (let t = 0; t < tokens; t++) {
      const xt = x.subarray(t * h, (t + 1) * h);
      const acc = new Float64Array(h);
      for (let j = 0; j < k; j++) {
        const e = route.ids[t * k + j]!;
        const act = swiglu(linear(xt, w.gateUp.subarray(e * 2 * I * h, (e + 1) * 2 * I * h), 2 * I, h), I);
        const y = linear(act, w.down.subarray(e * h * I, (e + 1) * h * I), h, I);
        const weight = route.weights[t * k + j]!;
        for (let i = 0; i < h; i++) acc[i]! += weight * y[i]!;
      }
      const s = sigmoid(sharedGate[t]!);
      for (let i = 0; i < h; i++) out[t * h + i] = acc[i]! + s * shared[t * h + i]!;
    }
    return out;
  }
}

/** Loads a checkpoint folder (config, tensor directory, every weight as f32) into a ReferenceModel. */
export async function loadReferenceModel(source: CheckpointSource, signal?: AbortSignal): Promise<ReferenceModel> {
  const config = await loadConfig(source);
  const dir = await openTensorDirectory(source);
  const weights = await loadAllWeights(planWeights(config, dir), directoryReader(dir, signal));
  return new ReferenceModel(config, weights);
}
