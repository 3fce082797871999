/**
 * Embedding lookup (shaders/embedding.wgsl, architecture §1): out[t, :] = table row ids[t], for
 * every weight format. One dispatch per table part; ids ≥ rows give zero rows (no out-of-bounds read).
 *   ids: u32 [T];  out: f32 [T, cols]
 */
import { InvalidArgumentError } from '../errors.js';
import { bindBuffers, gridFor, type BufferArg, type Dispatch, type KernelContext } from '../gpu/kernel.js';
import type { WeightFormat } from '../io/formats.js';
import { requireBytes } from './buffer-checks.js';
import { wordsPerRow } from './linear.js';
import { partResources, weightDefines, type GpuMatrix } from './matrix.js';

export interface EmbeddingShape {
  format: WeightFormat;
  /** Vocabulary size (table rows). */
  rows: number;
  /** Hidden size (table columns). */
  cols: number;
  /** Largest T a bound embedding will be asked to run (setTokens). */
  tokens: number;
}

export interface EmbeddingBuffers {
  w: GpuMatrix;
  ids: BufferArg;
  out: BufferArg;
}

const LAYOUT = [
  ['part_rows', 'u32'], ['row_start', 'u32'], ['table_rows', 'u32'], ['cols', 'u32'],
  ['words_per_row', 'u32'], ['tokens', 'u32'], ['zero_invalid', 'u32'],
] as const;

export async function createEmbedding(ctx: KernelContext, shape: EmbeddingShape) {
  const { format, rows, cols, tokens } = shape;
  if (![rows, cols, tokens].every((n) => Number.isInteger(n) && n > 0)) {
    throw new InvalidArgumentError(`embedding: invalid shape rows=${rows} cols=${cols} tokens=${tokens}`);
  }
  const pipeline = await ctx.pipelines.get({ shader: 'embedding', defines: weightDefines(format) });
  const maxGrid = ctx.gpu.limits.maxComputeWorkgroupsPerDimension;
  return {
    shape,
    bind(b: EmbeddingBuffers, label = 'embedding'): { dispatches: Dispatch[]; setTokens(t: number): void } {
      if (b.w.format !== format || b.w.rows !== rows || b.w.cols !== cols) {
        throw new InvalidArgumentError(`${label}: kernel built for ${format} [${rows}, ${cols}], got ${b.w.label}: ${b.w.format} [${b.w.rows}, ${b.w.cols}]`);
      }
      requireBytes(`${label}: ids u32 [${tokens}]`, b.ids, tokens * 4);
      requireBytes(`${label}: out [${tokens}, ${cols}] f32`, b.out, tokens * cols * 4);
      const parts = b.w.parts.map((part, i) => {
        const params = ctx.uniforms.alloc(LAYOUT, {
          part_rows: part.rows,
          row_start: part.rowStart,
          table_rows: rows,
          cols,
          words_per_row: wordsPerRow(format, cols),
          tokens,
          zero_invalid: i === 0 ? 1 : 0,
        });
        const name = b.w.parts.length > 1 ? `${label}#${i}` : label;
        const dispatch: Dispatch = { label: name, pipeline, bindGroup: bindBuffers(ctx, pipeline, name, [params.binding, ...partResources(part), b.ids, b.out]), workgroups: [0, 1, 1] };
        return { params, dispatch };
      });
      const setTokens = (t: number): void => {
        if (!(Number.isInteger(t) && t >= 0 && t <= tokens)) throw new RangeError(`${label}: ${t} tokens outside 0..${tokens}`);
        for (const p of parts) {
          p.params.set({ tokens: t });
          p.dispatch.workgroups = gridFor(t, maxGrid);
        }
      };
      setTokens(tokens);
      return { dispatches: parts.map((p) => p.dispatch), setTokens };
    },
  };
}
