/**
 * Chunked (WY/UT) gated delta rule for prefill (architecture §4.3; ops.ts gdnChunked is the
 * reference): three dispatches per call, the state carried across chunks and calls.
 *   intra  (chunks × Hv):                 β, g from the projection, γ, P = (QKᵀ)⊙D, T = (I + A)⁻¹, U = T·βV, W = T·βe^γK
 *   scan   (DV/BV × Hv):                  chunk by chunk, V' = U − W S and the state update
 *   output (chunks × Hv × column blocks): O = e^γ Q S_chunk + P V'
 * Same bind signature as the recurrent kernel (gdn.ts); the scratch is allocated by the builder.
 */
import { bindBuffers, type Dispatch, type KernelContext } from '../gpu/kernel.js';
import { requireBufferBytes, requireThat, requireTokens } from './checks.js';
import { checkGdnDims, stepBufferChecks, type BoundTokens, type GdnDimsShape, type GdnStepBuffers } from './gdn-shapes.js';

export interface GdnChunkedShape extends GdnDimsShape {
  /** Tokens per chunk (default 64, §4.3). */
  chunk?: number;
  /** State columns per scan workgroup: 4, 8 or 16, dividing valueDim (default: the largest ≤ 8). The bench sweeps it. */
  scanColumns?: number;
  /** Threads per scan workgroup: 64, 128 (default) or 256. The bench sweeps it. */
  scanThreads?: number;
  /** Independent loads a scan thread issues before using them: 4, 8 (default), 16 or 32. The bench sweeps it. */
  scanBatch?: number;
}

/** The chunked kernel's tuning after the defaults: what the bench records with each point. */
export interface GdnChunkedTuning {
  chunk: number;
  scanColumns: number;
  scanThreads: number;
  scanBatch: number;
}

/** §4.3: chunk 64, as FLA's chunked kernels. */
const DEFAULT_CHUNK = 64;
const SCAN_COLUMN_CHOICES = [4, 8, 16];
const SCAN_THREAD_CHOICES = [64, 128, 256];
const SCAN_BATCH_CHOICES = [4, 8, 16, 32];

const LAYOUT = [
  ['tokens', 'u32'],
  ['keyHeads', 'u32'],
  ['valueHeads', 'u32'],
  ['offU', 'u32'],
  ['offW', 'u32'],
  ['offGamma', 'u32'],
  ['offP', 'u32'],
  ['offSc', 'u32'],
] as const;

/** Element offsets of the scratch regions (see shaders/gdn_chunked_common.wgsl) for chunks of L tokens, each 4-aligned, and the total bytes. */
function scratchLayout(s: GdnDimsShape, L: number) {
  const chunks = Math.ceil(s.maxTokens / L);
  const align4 = (n: number): number => Math.ceil(n / 4) * 4;
  const offU = 0;
  const offW = align4(offU + s.maxTokens * s.valueHeads * s.valueDim);
  const offGamma = align4(offW + s.maxTokens * s.valueHeads * s.keyDim);
  const offP = align4(offGamma + s.maxTokens * s.valueHeads);
  const offSc = align4(offP + chunks * s.valueHeads * ((L * (L + 1)) / 2));
  const end = offSc + chunks * s.valueHeads * s.keyDim * s.valueDim;
  return { offU, offW, offGamma, offP, offSc, bytes: end * 4 };
}

/** Bytes of the scratch one chunked builder allocates (category 'activations'). */
export function gdnChunkedScratchBytes(shape: GdnChunkedShape): number {
  return scratchLayout(shape, resolveTuning('gdn chunked', shape).chunk).bytes;
}

/** Largest of 16, 8, 4 dividing n and at most `max`. */
const tileFor = (n: number, max = 16): number => [16, 8, 4].find((t) => n % t === 0 && t <= max) ?? 4;

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** The tuning of `shape` with its defaults filled in and checked (chunk size; the scan's column block, threads and load batch). */
function resolveTuning(name: string, shape: GdnChunkedShape): GdnChunkedTuning {
  const chunk = shape.chunk ?? DEFAULT_CHUNK;
  requireThat(name, Number.isInteger(chunk) && chunk % 4 === 0 && chunk >= 4 && chunk <= 64, `chunk must be a multiple of 4 in 4..64, got ${chunk}`);
  // Default ≤ 8 columns: DV/8 · Hv scan workgroups walk the chunks in parallel.
  const scanColumns = shape.scanColumns ?? tileFor(shape.valueDim, 8);
  requireThat(name, SCAN_COLUMN_CHOICES.includes(scanColumns) && shape.valueDim % scanColumns === 0,
    `scanColumns must be one of ${SCAN_COLUMN_CHOICES.join(', ')} and divide valueDim ${shape.valueDim}, got ${scanColumns}`);
  const scanThreads = shape.scanThreads ?? 128;
  requireThat(name, SCAN_THREAD_CHOICES.includes(scanThreads), `scanThreads must be one of ${SCAN_THREAD_CHOICES.join(', ')}, got ${scanThreads}`);
  const scanBatch = shape.scanBatch ?? 8;
  requireThat(name, SCAN_BATCH_CHOICES.includes(scanBatch), `scanBatch must be one of ${SCAN_BATCH_CHOICES.join(', ')}, got ${scanBatch}`);
  return { chunk, scanColumns, scanThreads, scanBatch };
}

/**
 * The column quads per workgroup of the output stage, the block size of the intra stage's
 * triangular inverse, and the workgroup bytes each stage declares (the scan's block: `colBlock` columns).
 */
function plan(L: number, dk: number, dv: number, colBlock: number) {
  const outputQuads = gcd(dv / 4, 8);
  const inverseBlock = tileFor(L);
  const ntri = (L * (L + 1)) / 2;
  const bytes = {
    intra: 4 * (ntri + Math.max(1, L / inverseBlock - 1) * inverseBlock ** 2 + 2 * L),
    scan: 4 * (dk * colBlock + L * colBlock + L),
    output: 4 * (ntri + L),
  };
  return { outputQuads, inverseBlock, bytes };
}

export async function createGdnChunked(ctx: KernelContext, shape: GdnChunkedShape) {
  const name = 'gdn chunked';
  checkGdnDims(name, shape);
  const tuning = resolveTuning(name, shape);
  const { chunk: L, scanColumns, scanThreads, scanBatch } = tuning;
  const { keyHeads, valueHeads, keyDim, valueDim, maxTokens } = shape;
  const tiles = plan(L, keyDim, valueDim, scanColumns);
  const limit = ctx.gpu.limits.maxComputeWorkgroupStorageSize;
  for (const [stage, bytes] of Object.entries(tiles.bytes)) {
    requireThat(name, bytes <= limit, `the ${stage} stage needs ${bytes} bytes of workgroup memory with chunk ${L}, dk ${keyDim}; the device allows ${limit} (use a smaller chunk)`);
  }
  const layout = scratchLayout(shape, L);
  requireThat(name, layout.bytes <= ctx.gpu.limits.maxStorageBufferBindingSize,
    `scratch of ${layout.bytes} bytes for maxTokens ${maxTokens} exceeds maxStorageBufferBindingSize (${ctx.gpu.limits.maxStorageBufferBindingSize}); use a smaller maxTokens`);
  const dims = { CHUNK: L, KEY_DIM: keyDim, VALUE_DIM: valueDim };
  const [intra, scan, output] = await Promise.all([
    ctx.pipelines.get({ shader: 'gdn_chunked_intra', defines: { ...dims, INVERSE_BLOCK: tiles.inverseBlock } }),
    ctx.pipelines.get({ shader: 'gdn_chunked_scan', defines: { ...dims, COL_BLOCK: scanColumns, SCAN_THREADS: scanThreads, SCAN_BATCH: scanBatch } }),
    ctx.pipelines.get({ shader: 'gdn_chunked_output', defines: { ...dims, COL_QUADS: tiles.outputQuads } }),
  ]);
  const scratch = ctx.allocator.create({ label: 'gdn chunked scratch', category: 'activations', size: layout.bytes, usage: GPUBufferUsage.STORAGE });
  return {
    shape,
    tuning,
    /** Frees the scratch. */
    destroy: () => ctx.allocator.destroy(scratch),
    bind(b: GdnStepBuffers, label = 'gdn chunked'): BoundTokens {
      requireBufferBytes(name, stepBufferChecks(shape, b));
      const params = ctx.uniforms.alloc(LAYOUT, { keyHeads, valueHeads, ...layout });
      const pass = (stage: string, pipeline: GPUComputePipeline, resources: Array<GPUBuffer | GPUBufferBinding>): Dispatch => ({
        label: `${label} ${stage}`,
        pipeline,
        bindGroup: bindBuffers(ctx, pipeline, `${label} ${stage}`, [params.binding, ...resources]),
        workgroups: [0, 0, 0],
      });
      const stages = [
        pass('intra', intra, [b.q, b.k, b.v, b.proj, b.aLog, b.dtBias, scratch]),
        pass('scan', scan, [b.k, scratch, b.state]),
        pass('output', output, [b.q, scratch, scratch, b.out]),
      ] as const;
      return {
        dispatches: [...stages],
        setTokens(tokens: number): void {
          requireTokens(name, tokens, maxTokens);
          params.set({ tokens });
          const chunks = Math.ceil(tokens / L);
          const on = chunks > 0 ? 1 : 0;
          stages[0].workgroups = [chunks, valueHeads, on];
          stages[1].workgroups = [valueDim / scanColumns, valueHeads, on];
          stages[2].workgroups = [chunks, valueHeads, on * (valueDim / 4 / tiles.outputQuads)];
        },
      };
    },
  };
}
