/**
 * The GPU forward pass as graphs over one set of bound kernels and buffers:
 *   prefill            the decoder stack over T tokens from `ids` at positions pos0.., DeltaNet in chunked form;
 *   prefillSequential  the same with the token-sequential DeltaNet kernel (benchmarks compare them);
 *   head               the last token's hidden row → final norm fused into the LM-head matvec → GPU sampler;
 *   decode             one token embedded from the sampler's `token` buffer (no read-back),
 *                      the stack with the one-dispatch DeltaNet decode step and attention doing
 *                      its own prep, then the head reading the one hidden row: one compute pass.
 * Per layer (§1): h += mixer(norm(h)); h += mlp(norm(h)). Residual adds are fused into the
 * output projections (linear 'add' epilogue); the MoE block adds in its combine kernel. At one
 * token the norms run inside the matvecs that read them (linear normInput; the MoE experts' gate_up
 * normalises its rows itself at any T), so a decode step has no norm dispatch of its own.
 */
import type { KernelContext } from '../gpu/kernel.js';
import { createAttention, createAttentionPrep } from '../kernels/attention.js';
import { createEmbedding } from '../kernels/embedding.js';
import { createGdnChunked } from '../kernels/gdn-chunked.js';
import { createGatedRmsNorm, createGdnDecodeStep, createGdnPrep, createGdnRecurrent } from '../kernels/gdn.js';
import { createLinear, type LinearEpilogue } from '../kernels/linear.js';
import type { GpuMatrix } from '../kernels/matrix.js';
import { createExpertLinear, createMoeCombine, createRouter } from '../kernels/moe.js';
import { createRmsNorm } from '../kernels/rmsnorm.js';
import { createSampler } from '../kernels/sampler.js';
import type { Qwen35Config } from '../model/config.js';
import type { SessionShape } from './buffer-plan.js';
import type { GpuAttnWeights, GpuGdnWeights, GpuMoeWeights, GpuWeights } from './gpu-weights.js';
import { computeNode, Graph, type CallShape, type ComputeNode, type GraphNode } from './graph.js';

/** Which DeltaNet core a graph runs. */
type CoreMode = 'chunked' | 'sequential' | 'step';
/** A stack entry: a node, or one node (null: none) per DeltaNet core mode. */
type StackEntry = GraphNode | Record<CoreMode, GraphNode | null>;

type Sampler = ReturnType<Awaited<ReturnType<typeof createSampler>>['bind']>;

export interface ForwardGraphs {
  prefill: Graph;
  prefillSequential: Graph;
  head: Graph;
  decode: Graph;
  /** Sampling options and the RNG step of the GPU sampler. */
  sampler: Sampler;
  /** Frees kernel-owned scratch. */
  destroy(): void;
}

type Buffers = Record<string, GPUBuffer>;
/**
 * A node sized by the token count alone. The bound kernel is driven only through its node, so the
 * setter runs only when the count changes: a decode step after the first leaves such nodes as
 * they are (about a third of the host's per-step graph update at 0.8B).
 */
const byTokens = (bound: { setTokens(t: number): void }) => {
  let current: number | undefined;
  return (s: CallShape): void => {
    if (s.tokens === current) return;
    bound.setTokens(s.tokens);
    current = s.tokens;
  };
};
const byPosition = (bound: { setPosition(pos0: number, t: number): void }) => (s: CallShape) => bound.setPosition(s.pos0, s.tokens);

/** Creates the kernel builders of one model shape (pipelines are compiled once, bound per layer). */
async function createBuilders(ctx: KernelContext, config: Qwen35Config, shape: SessionShape, embed: GpuMatrix) {
  const chunk = shape.prefillChunk;
  const eps = config.rmsNormEps;
  const attn = { heads: config.numAttentionHeads, kvHeads: config.numKeyValueHeads, headDim: config.headDim };
  const kv = { maxTokens: chunk, maxContext: shape.maxContext, kvFormat: shape.kvFormat };
  const gdn = {
    keyHeads: config.linearNumKeyHeads,
    valueHeads: config.linearNumValueHeads,
    keyDim: config.linearKeyHeadDim,
    valueDim: config.linearValueHeadDim,
    maxTokens: chunk,
  };
  const hasAttn = config.layerTypes.includes('full_attention');
  const hasGdn = config.layerTypes.includes('linear_attention');
  const moe = config.mlpTypes.includes('moe') ? config.moe : undefined;
  const maybe = <T>(cond: unknown, f: () => Promise<T>): Promise<T | undefined> => (cond ? f() : Promise.resolve(undefined));
  const [norm, embedding, tokenEmbedding, prep, attention, gdnPrep, recurrent, chunked, gatedNorm, gdnDecode, router, combine, sampler] = await Promise.all([
    createRmsNorm(ctx, { n: config.hiddenSize, rows: chunk, eps, unitOffset: true }),
    createEmbedding(ctx, { format: embed.format, rows: embed.rows, cols: embed.cols, tokens: chunk }),
    createEmbedding(ctx, { format: embed.format, rows: embed.rows, cols: embed.cols, tokens: 1 }),
    maybe(hasAttn, () => createAttentionPrep(ctx, { ...attn, ...kv, rotaryDim: config.rotaryDim, ropeTheta: config.ropeTheta, eps })),
    maybe(hasAttn, () => createAttention(ctx, { ...attn, ...kv, decodePrep: { rotaryDim: config.rotaryDim, eps } })),
    maybe(hasGdn, () => createGdnPrep(ctx, { ...gdn, convKernel: config.linearConvKernelDim })),
    maybe(hasGdn, () => createGdnRecurrent(ctx, gdn)),
    maybe(hasGdn, () => createGdnChunked(ctx, gdn)),
    maybe(hasGdn, () => createGatedRmsNorm(ctx, { valueHeads: gdn.valueHeads, valueDim: gdn.valueDim, keyHeads: gdn.keyHeads, keyDim: gdn.keyDim, eps, maxTokens: chunk })),
    maybe(hasGdn, () => createGdnDecodeStep(ctx, { ...gdn, convKernel: config.linearConvKernelDim, normEps: eps })),
    // The router's logits rows end with the shared expert's gate logit (gpu-weight-plan.ts).
    maybe(moe, () => createRouter(ctx, { experts: moe!.numExperts, topK: moe!.numExpertsPerTok, renormalize: moe!.normTopkProb, tokens: chunk, logitStride: moe!.numExperts + 1 })),
    maybe(moe, () => createMoeCombine(ctx, { hidden: config.hiddenSize, topK: moe!.numExpertsPerTok, tokens: chunk, gateStride: moe!.numExperts + 1, gateColumn: moe!.numExperts })),
    createSampler(ctx, { vocab: config.vocabSize, maxHistory: shape.maxContext + 1 }),
  ]);
  return { norm, embedding, tokenEmbedding, prep, attention, gdnPrep, recurrent, chunked, gatedNorm, gdnDecode, router, combine, sampler };
}

export async function buildForwardGraphs(
  ctx: KernelContext,
  config: Qwen35Config,
  shape: SessionShape & { int8Activations?: boolean },
  weights: GpuWeights,
  act: Buffers,
  state: Buffers,
): Promise<ForwardGraphs> {
  const chunk = shape.prefillChunk;
  const h = config.hiddenSize;
  const k = await createBuilders(ctx, config, shape, weights.embed);
  const a = (key: string): GPUBuffer => act[key]!;

  const linearBuilders = new Map<string, ReturnType<typeof createLinear>>();
  /** `norm`: x is the RMSNorm of that row with that weight, which the matvec applies itself (decode). */
  const linear = async (label: string, w: GpuMatrix, epilogue: LinearEpilogue, x: string, y: string, tokens = chunk, norm?: { h: string; w: GPUBuffer }): Promise<ComputeNode> => {
    const key = `${w.format}|${w.rows}|${w.cols}|${epilogue}|${tokens}|${norm !== undefined}`;
    const normInput = norm ? { eps: config.rmsNormEps } : undefined;
    const matvecInt8X = shape.int8Activations === true && w.format === 'q4';
    if (!linearBuilders.has(key)) linearBuilders.set(key, createLinear(ctx, { format: w.format, rows: w.rows, cols: w.cols, tokens, epilogue, normInput, matvecInt8X }));
    const bound = (await linearBuilders.get(key)!).bind({ w, x: a(x), y: a(y), ...(norm ? { norm: { h: a(norm.h), w: norm.w } } : {}) }, label);
    // A single-row linear (the LM head) keeps its one token whatever the call shape.
    return computeNode(label, bound, tokens === 1 ? undefined : byTokens(bound));
  };
  /** At one token every reader of `normed` normalises the row itself: the norm has no rows then. */
  const norm = (label: string, w: GPUBuffer): ComputeNode => {
    const bound = k.norm.bind({ w, h: a('hidden'), y: a('normed') }, label);
    return computeNode(label, bound, (s) => bound.setRows(s.tokens === 1 ? 0 : s.tokens));
  };
  const normedHidden = (w: GPUBuffer) => ({ h: 'hidden', w });

  const attentionMixer = async (p: string, i: number, w: GpuAttnWeights, inputNorm: GPUBuffer): Promise<StackEntry[]> => {
    const caches = { kCache: state[`layers.${i}.kCache`]!, vCache: state[`layers.${i}.vCache`]! };
    const prep = k.prep!.bind({ proj: a('proj'), qNorm: w.qNorm, kNorm: w.kNorm, q: a('attnQ'), ...caches }, `${p} attn prep`);
    // A decode step's attention does the prep itself (q/k norm, RoPE, the new K/V row).
    const decodePrep = { qNorm: w.qNorm, kNorm: w.kNorm, invFreq: k.prep!.invFreq };
    const attn = k.attention!.bind({ q: a('attnQ'), ...caches, proj: a('proj'), out: a('mixerOut'), prep: decodePrep }, `${p} attention`);
    const prepNode = computeNode(`${p} attn prep`, prep, byPosition(prep));
    return [
      await linear(`${p} qkv`, w.qkv, 'store', 'normed', 'proj', chunk, normedHidden(inputNorm)),
      { chunked: prepNode, sequential: prepNode, step: null },
      computeNode(`${p} attention`, attn, byPosition(attn)),
      await linear(`${p} o_proj`, w.o, 'add', 'mixerOut', 'hidden'),
    ];
  };

  const deltaNetMixer = async (p: string, i: number, w: GpuGdnWeights, inputNorm: GPUBuffer): Promise<StackEntry[]> => {
    const io = { q: a('gdnQ'), k: a('gdnK'), v: a('gdnV') };
    const convState = state[`layers.${i}.convState`]!;
    const recurrentState = state[`layers.${i}.recurrentState`]!;
    const prep = k.gdnPrep!.bind({ proj: a('proj'), convWeight: w.conv1d, convState, ...io }, `${p} gdn prep`);
    // The recurrence kernels read β and g off the projection themselves.
    const core = { ...io, proj: a('proj'), aLog: w.aLog, dtBias: w.dtBias, state: recurrentState, out: a('gdnOut') };
    const step = k.recurrent!.bind(core, `${p} gdn recurrent`);
    const chunked = k.chunked!.bind(core, `${p} gdn chunked`);
    const gated = k.gatedNorm!.bind({ o: a('gdnOut'), proj: a('proj'), w: w.norm, y: a('mixerOut') }, `${p} gated norm`);
    // Decode: conv, l2norm, recurrence and gated norm in one dispatch.
    const decode = k.gdnDecode!.bind(
      { proj: a('proj'), convWeight: w.conv1d, convState, aLog: w.aLog, dtBias: w.dtBias, norm: w.norm, state: recurrentState, out: a('mixerOut') },
      `${p} gdn decode step`,
    );
    const prepNode = computeNode(`${p} gdn prep`, prep, byTokens(prep));
    const gatedNode = computeNode(`${p} gated norm`, gated, byTokens(gated));
    return [
      await linear(`${p} in_proj`, w.inProj, 'store', 'normed', 'proj', chunk, normedHidden(inputNorm)),
      { chunked: prepNode, sequential: prepNode, step: null },
      {
        chunked: computeNode(`${p} gdn chunked`, chunked, byTokens(chunked)),
        sequential: computeNode(`${p} gdn recurrent`, step, byTokens(step)),
        step: computeNode(`${p} gdn decode step`, decode),
      },
      { chunked: gatedNode, sequential: gatedNode, step: null },
      await linear(`${p} out_proj`, w.outProj, 'add', 'mixerOut', 'hidden'),
    ];
  };

  const moeBlock = async (p: string, w: GpuMoeWeights, postNorm: GPUBuffer): Promise<StackEntry[]> => {
    const moe = config.moe!;
    const route = k.router!.bind({ logits: a('routerLogits'), ids: a('expertIds'), weights: a('expertWeights') }, `${p} top-k`);
    /** `normWeight`: x is the raw hidden row, normalised by the matvec itself (at any T). */
    const experts = async (label: string, m: GpuMatrix, epilogue: 'store' | 'swiglu', x: string, y: string, inputPerSlot: boolean, normWeight?: GPUBuffer) => {
      const builder = await createExpertLinear(ctx, {
        format: m.format,
        experts: moe.numExperts,
        rows: m.rows / moe.numExperts,
        cols: m.cols,
        topK: moe.numExpertsPerTok,
        tokens: chunk,
        epilogue,
        inputPerSlot,
        ...(normWeight ? { normInput: { eps: config.rmsNormEps } } : {}),
      });
      const bound = builder.bind({ w: m, x: a(x), ids: a('expertIds'), y: a(y), ...(normWeight ? { normWeight } : {}) }, label);
      return computeNode(label, bound, byTokens(bound));
    };
    const combine = k.combine!.bind(
      { expertOut: a('expertOut'), weights: a('expertWeights'), shared: a('sharedOut'), sharedGate: a('routerLogits'), h: a('hidden') },
      `${p} moe combine`,
    );
    const normed = normedHidden(postNorm);
    return [
      // Router and shared-expert gate in one matvec: [E logits, gate logit] per token.
      await linear(`${p} router`, w.router, 'store', 'normed', 'routerLogits', chunk, normed),
      computeNode(`${p} top-k`, route, byTokens(route)),
      await experts(`${p} experts gate_up`, w.gateUp, 'swiglu', 'hidden', 'expertAct', false, postNorm),
      await experts(`${p} experts down`, w.down, 'store', 'expertAct', 'expertOut', true),
      await linear(`${p} shared gate_up`, w.sharedGateUp, 'swiglu', 'normed', 'sharedAct', chunk, normed),
      await linear(`${p} shared down`, w.sharedDown, 'store', 'sharedAct', 'sharedOut'),
      computeNode(`${p} moe combine`, combine, byTokens(combine)),
    ];
  };

  const embed = k.embedding.bind({ w: weights.embed, ids: a('ids'), out: a('hidden') }, 'embedding');
  const embedNode = computeNode('embedding', embed, byTokens(embed));
  // Decode embeds the sampled id straight from the sampler's token buffer.
  const embedSampled = k.tokenEmbedding.bind({ w: weights.embed, ids: a('token'), out: a('hidden') }, 'embedding');
  embedSampled.setTokens(1);
  const stack: StackEntry[] = [{ chunked: embedNode, sequential: embedNode, step: computeNode('embedding', embedSampled) }];
  for (const [i, lw] of weights.layers.entries()) {
    const p = `L${i}`;
    stack.push(norm(`${p} input norm`, lw.inputNorm));
    stack.push(...(lw.attn ? await attentionMixer(p, i, lw.attn, lw.inputNorm) : await deltaNetMixer(p, i, lw.gdn!, lw.inputNorm)));
    stack.push(norm(`${p} post norm`, lw.postNorm));
    if (lw.mlp) {
      stack.push(await linear(`${p} gate_up`, lw.mlp.gateUp, 'swiglu', 'normed', 'mlpAct', chunk, normedHidden(lw.postNorm)));
      stack.push(await linear(`${p} down`, lw.mlp.down, 'add', 'mlpAct', 'hidden'));
    } else {
      stack.push(...(await moeBlock(p, lw.moe!, lw.postNorm)));
    }
  }

  const sampler = k.sampler.bind({ logits: a('logits'), history: a('history'), token: a('token') }, 'sampler');
  const samplerNode = computeNode('sampler', sampler);
  const head: GraphNode[] = [
    {
      kind: 'copy',
      label: 'last hidden row',
      src: a('hidden'),
      dst: a('lastHidden'),
      range: (s) => ({ srcOffset: (s.tokens - 1) * h * 4, dstOffset: 0, size: h * 4 }),
    },
    // The final norm runs inside the LM-head matvec.
    await linear('lm_head', weights.lmHead, 'store', 'lastHidden', 'logits', 1, { h: 'lastHidden', w: weights.finalNorm }),
    samplerNode,
  ];
  // Decode: one token, so hidden is the last row; with the embedding reading the token buffer the
  // step is one compute pass, no copies.
  const decodeHead: GraphNode[] = [
    await linear('lm_head', weights.lmHead, 'store', 'hidden', 'logits', 1, { h: 'hidden', w: weights.finalNorm }),
    samplerNode,
  ];
  const body = (mode: CoreMode): GraphNode[] => stack.flatMap((e) => ('kind' in e ? [e] : (e[mode] ?? [])));

  return {
    prefill: new Graph('prefill', body('chunked')),
    prefillSequential: new Graph('prefill (sequential DeltaNet)', body('sequential')),
    head: new Graph('head', head),
    decode: new Graph('decode', [...body('step'), ...decodeHead]),
    sampler,
    destroy: () => {
      k.prep?.destroy();
      k.attention?.destroy();
      k.chunked?.destroy?.();
      sampler.destroy();
    },
  };
}
