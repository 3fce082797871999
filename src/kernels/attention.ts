/**
 * Gated causal GQA attention over the KV cache (shaders/attention.wgsl + attention_combine.wgsl,
 * architecture §3 steps 3–5). One bound kernel serves both call shapes:
 *   decode (tokens = 1): flash-decoding, the context split over workgroups, then a combine dispatch;
 *     a context of one split (≤ MIN_SPLIT_LEN positions) takes the one-pass kernel with one token
 *     per workgroup instead: one dispatch, no partials;
 *   prefill (tokens > 1): tiled causal attention with an online softmax, one dispatch.
 * The prep kernel (attention-prep.ts) must have written the call's own K/V rows first; with
 * `decodePrep`, decode does the prep itself (attention.wgsl DECODE_PREP: q/k norm, RoPE, the new
 * K/V row into the cache), so a decode step needs no prep dispatch.
 */
import { InvalidArgumentError } from '../errors.js';
import { bindBuffers, type BufferArg, type Dispatch, type KernelContext } from '../gpu/kernel.js';
import { kvCacheBytes, requireRotaryDim, type KvFormat } from './attention-prep.js';
import { requireBufferBytes, requirePositions, requirePositiveInts, requireThat } from './checks.js';

export { createAttentionPrep, kvCacheBytes, type KvFormat } from './attention-prep.js';

export interface AttentionShape {
  heads: number;
  kvHeads: number;
  /** Multiple of 4. */
  headDim: number;
  maxTokens: number;
  maxContext: number;
  kvFormat: KvFormat;
  /** Decode does the attention prep itself (bind `prep` then): the rotary dims and the q/k norm epsilon. */
  decodePrep?: { rotaryDim: number; eps: number };
}

export interface AttentionBuffers {
  /** [T, H, d] roped queries (from the prep kernel). */
  q: BufferArg;
  kCache: BufferArg;
  vCache: BufferArg;
  /** The fused projection [T, 2·H·d + 2·Hkv·d]; gate_h is read from it (§3 step 5). */
  proj: BufferArg;
  /** Output [T, H·d]. */
  out: BufferArg;
  /** With decodePrep: the q/k norm weights [d] and the prep kernel's inv_freq table. */
  prep?: { qNorm: BufferArg; kNorm: BufferArg; invFreq: BufferArg };
}

export interface BoundAttention {
  /** Decode split pass, combine pass, prefill pass, one-split decode pass; the ones the current call does not use have 0 workgroups. */
  dispatches: Dispatch[];
  /** Sets the call: queries at positions pos0..pos0+tokens−1 over cached positions 0..pos0+tokens−1. */
  setPosition(pos0: number, tokens: number): void;
}

/** Cached positions per tile, and the least positions per decode split / the most splits. */
const TILE = 32;
const MIN_SPLIT_LEN = 128;
const MAX_SPLITS = 64;
/** Query rows (heads × tokens) per workgroup: bounds the per-thread accumulators. */
const MAX_ROWS = 16;

const maxSplits = (maxContext: number): number => Math.min(MAX_SPLITS, Math.ceil(maxContext / MIN_SPLIT_LEN));

/** Bytes of the decode split partials the builder allocates (category 'activations'). */
export function attentionScratchBytes(shape: Pick<AttentionShape, 'heads' | 'headDim' | 'maxContext'>): number {
  return maxSplits(shape.maxContext) * shape.heads * (shape.headDim + 2) * 4;
}

/** Splits for a decode step over `context` positions: at least MIN_SPLIT_LEN positions each, whole tiles. */
export function decodeSplits(context: number, maxContext: number): { splits: number; splitLen: number } {
  const want = Math.min(maxSplits(maxContext), Math.ceil(context / MIN_SPLIT_LEN));
  const splitLen = Math.ceil(context / want / TILE) * TILE;
  return { splits: Math.ceil(context / splitLen), splitLen };
}

/** Workgroup plan: threads, heads of one GQA group per workgroup (a divisor of the group), prefill tokens per workgroup. */
function plan(shape: AttentionShape, workgroupBytes: number): { wg: number; hpw: number; bt: number } {
  const d = shape.headDim;
  const bytes = (rows: number): number => 4 * rows * (d + TILE + 3);
  const group = shape.heads / shape.kvHeads;
  let hpw = 0;
  for (let h = 1; h <= Math.min(group, MAX_ROWS); h++) if (group % h === 0 && bytes(h) <= workgroupBytes) hpw = h;
  if (hpw === 0) {
    throw new InvalidArgumentError(
      `attention: headDim ${d} needs ${bytes(1)} bytes of workgroup memory per query row; the device allows ${workgroupBytes}`,
    );
  }
  let bt = Math.floor(MAX_ROWS / hpw);
  while (bt > 1 && bytes(hpw * bt) > workgroupBytes) bt--;
  const wg = Math.min(128, Math.max(32, 2 ** Math.ceil(Math.log2(d / 2))));
  // DECODE_PREP adds the head row, the new K and V rows and the reduction scratch.
  const decodePrepBytes = bytes(hpw) + 4 * (3 * d + wg);
  if (shape.decodePrep && decodePrepBytes > workgroupBytes) {
    throw new InvalidArgumentError(`attention: the decode prep needs ${decodePrepBytes} bytes of workgroup memory; the device allows ${workgroupBytes}`);
  }
  return { wg, hpw, bt: Math.max(1, bt) };
}

const LAYOUT = [
  ['tokens', 'u32'],
  ['pos0', 'u32'],
  ['heads', 'u32'],
  ['kvHeads', 'u32'],
  ['splitLen', 'u32'],
  ['scale', 'f32'],
  ['eps', 'f32'],
] as const;
const COMBINE_LAYOUT = [
  ['heads', 'u32'],
  ['headDim', 'u32'],
  ['splits', 'u32'],
] as const;

export async function createAttention(ctx: KernelContext, shape: AttentionShape) {
  const name = 'attention';
  const { heads, kvHeads, headDim: d, maxTokens, maxContext } = shape;
  requirePositiveInts(name, { heads, kvHeads, headDim: d, maxTokens, maxContext });
  requireThat(name, heads % kvHeads === 0, `heads (${heads}) must be a multiple of kvHeads (${kvHeads})`);
  requireThat(name, d % 4 === 0, `headDim must be a multiple of 4, got ${d}`);
  const { wg, hpw, bt } = plan(shape, ctx.gpu.limits.maxComputeWorkgroupStorageSize);
  const { decodePrep } = shape;
  if (decodePrep) {
    requireRotaryDim(name, decodePrep.rotaryDim, d);
    requireThat(name, decodePrep.eps > 0, `eps must be > 0, got ${decodePrep.eps}`);
  }
  const defines = { WG: wg, HEAD_DIM: d, HEADS_PER_WG: hpw, TILE, KV_F16: shape.kvFormat === 'f16' };
  const decodeDefines = { ...defines, TOKENS_PER_WG: 1, ...(decodePrep ? { DECODE_PREP: true, ROTARY_DIM: decodePrep.rotaryDim } : {}) };
  const [decode, prefill, combine, onePass] = await Promise.all([
    ctx.pipelines.get({ shader: 'attention', defines: { ...decodeDefines, SPLIT_KV: true } }),
    ctx.pipelines.get({ shader: 'attention', defines: { ...defines, TOKENS_PER_WG: bt, SPLIT_KV: false } }),
    ctx.pipelines.get({ shader: 'attention_combine' }),
    ctx.pipelines.get({ shader: 'attention', defines: { ...decodeDefines, SPLIT_KV: false } }),
  ]);
  const partial = ctx.allocator.create({
    label: 'attention split partials',
    category: 'activations',
    size: attentionScratchBytes(shape),
    usage: GPUBufferUsage.STORAGE,
  });
  const cacheBytes = kvCacheBytes(shape.kvFormat, maxContext, kvHeads, d);
  return {
    shape,
    /** Frees the split-partials scratch. */
    destroy: () => ctx.allocator.destroy(partial),
    bind(b: AttentionBuffers, label = 'attention'): BoundAttention {
      requireBufferBytes(name, {
        q: [b.q, maxTokens * heads * d * 4],
        kCache: [b.kCache, cacheBytes],
        vCache: [b.vCache, cacheBytes],
        proj: [b.proj, maxTokens * 2 * (heads + kvHeads) * d * 4],
        out: [b.out, maxTokens * heads * d * 4],
      });
      requireThat(name, (decodePrep !== undefined) === (b.prep !== undefined), 'the prep buffers (qNorm, kNorm, invFreq) go with decodePrep, and only with it');
      if (decodePrep && b.prep) {
        requireBufferBytes(name, { qNorm: [b.prep.qNorm, d * 4], kNorm: [b.prep.kNorm, d * 4], invFreq: [b.prep.invFreq, (decodePrep.rotaryDim / 2) * 4] });
      }
      const params = ctx.uniforms.alloc(LAYOUT, { heads, kvHeads, scale: 1 / Math.sqrt(d), eps: decodePrep?.eps ?? 0 });
      const combineParams = ctx.uniforms.alloc(COMBINE_LAYOUT, { heads, headDim: d });
      const pass = (suffix: string, pipeline: GPUComputePipeline, resources: BufferArg[]): Dispatch => ({
        label: `${label} ${suffix}`,
        pipeline,
        bindGroup: bindBuffers(ctx, pipeline, `${label} ${suffix}`, resources),
        workgroups: [0, 0, 0],
      });
      // Decode inputs: the queries and caches, or with decodePrep what the prep reads and the caches.
      const decodeIn = b.prep ? [params.binding, b.proj, b.prep.qNorm, b.prep.kNorm, b.prep.invFreq, b.kCache, b.vCache] : [params.binding, b.q, b.kCache, b.vCache];
      const split = pass('decode splits', decode, [...decodeIn, partial]);
      const merge = pass('decode combine', combine, [combineParams.binding, partial, b.proj, b.out]);
      const tiled = pass('prefill', prefill, [params.binding, b.q, b.kCache, b.vCache, b.proj, b.out]);
      const single = pass('decode', onePass, b.prep ? [...decodeIn, b.out] : [...decodeIn, b.proj, b.out]);
      const all = [split, merge, tiled, single];
      return {
        dispatches: all,
        setPosition(pos0: number, tokens: number): void {
          requirePositions(name, pos0, tokens, maxTokens, maxContext);
          for (const dsp of all) dsp.workgroups = [0, 0, 0];
          const { splits, splitLen } = decodeSplits(pos0 + 1, maxContext);
          if (tokens === 1 && splits === 1) {
            params.set({ tokens, pos0 });
            single.workgroups = [1, heads / hpw, 1];
          } else if (tokens === 1) {
            params.set({ tokens, pos0, splitLen });
            combineParams.set({ splits });
            split.workgroups = [splits, heads / hpw, 1];
            merge.workgroups = [heads, 1, 1];
          } else if (tokens > 1) {
            params.set({ tokens, pos0 });
            tiled.workgroups = [Math.ceil(tokens / bt), heads / hpw, 1];
          }
        },
      };
    },
  };
}
