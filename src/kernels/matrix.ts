/**
 * Weight matrices on the GPU in the formats of src/io/formats.ts. A matrix bigger than one
 * storage binding (the embedding / LM head: 248,320 rows) is split by rows into parts, each
 * with its own data (and scale) buffer; kernels issue one dispatch per part. Stacked experts
 * are split only at expert boundaries (rowGranularity = rows per expert).
 */
import { InvalidArgumentError, ModelFormatError, OutOfGpuMemoryError } from '../errors.js';
import { formatBytes } from '../gpu/allocator.js';
import { storageUsage, writeBuffer, type KernelContext } from '../gpu/kernel.js';
import type { Defines } from '../gpu/shaders.js';
import { dataBytes, isQuantized, scaleBytes, type WeightFormat } from '../io/formats.js';
import { packRows, type PackedMatrix } from '../io/quantize.js';

export interface PartPlan {
  /** First row of the matrix held by this part. */
  rowStart: number;
  rows: number;
}

export interface GpuMatrixPart extends PartPlan {
  data: GPUBuffer;
  scales?: GPUBuffer;
}

export interface GpuMatrix {
  label: string;
  format: WeightFormat;
  rows: number;
  cols: number;
  parts: GpuMatrixPart[];
}

export interface UploadOptions {
  /** Upper bound on one part's buffer (tests use it to force splits on small matrices). */
  maxPartBytes?: number;
  /** Parts start at multiples of this many rows (stacked experts: rows per expert). */
  rowGranularity?: number;
}

/** Defines that select the format's decoding in shaders/weights.wgsl. */
export function weightDefines(format: WeightFormat): Defines {
  return { FMT_F32: format === 'f32', FMT_F16: format === 'f16', FMT_BF16: format === 'bf16', FMT_Q8: format === 'q8', FMT_Q4: format === 'q4' };
}

/** A part's buffers in the binding order of shaders/weights.wgsl (bindings 1 and, if quantized, 2). */
export function partResources(part: GpuMatrixPart): GPUBuffer[] {
  return part.scales ? [part.data, part.scales] : [part.data];
}

/** The largest buffer a part may use on this device (binding and buffer limits, and the option). */
export function partByteLimit(ctx: KernelContext, maxPartBytes = Infinity): number {
  return Math.min(ctx.gpu.limits.maxStorageBufferBindingSize, ctx.gpu.limits.maxBufferSize, maxPartBytes);
}

/**
 * Splits `rows` into the fewest parts whose data fits `maxBindingBytes`, balanced in size, each a
 * whole number of `rowGranularity` rows (the scale array is always smaller than the data).
 */
export function planMatrixParts(format: WeightFormat, rows: number, cols: number, maxBindingBytes: number, rowGranularity = 1): PartPlan[] {
  if (!(Number.isInteger(rows) && rows > 0 && Number.isInteger(cols) && cols > 0)) {
    throw new InvalidArgumentError(`matrix shape [${rows}, ${cols}] is invalid: rows and cols must be positive integers`);
  }
  if (!(Number.isInteger(rowGranularity) && rowGranularity > 0 && rows % rowGranularity === 0)) {
    throw new InvalidArgumentError(`matrix of ${rows} rows cannot be split in blocks of ${rowGranularity} rows`);
  }
  const blockBytes = dataBytes(format, rowGranularity, cols);
  const blocks = rows / rowGranularity;
  const blocksPerPart = Math.floor(maxBindingBytes / blockBytes);
  if (blocksPerPart < 1) {
    throw new OutOfGpuMemoryError(
      `${rowGranularity} row(s) of a ${format} matrix with ${cols} columns need ${formatBytes(blockBytes)}, more than ` +
        `one storage binding allows (${formatBytes(maxBindingBytes)}); use a smaller weight format`,
    );
  }
  const parts = Math.ceil(blocks / blocksPerPart);
  const even = Math.ceil(blocks / parts);
  const plan: PartPlan[] = [];
  for (let b = 0; b < blocks; b += even) {
    plan.push({ rowStart: b * rowGranularity, rows: Math.min(even, blocks - b) * rowGranularity });
  }
  return plan;
}

/** Uploads one already-packed part (the streaming loader's entry point); checks the byte sizes. */
export function uploadPackedPart(ctx: KernelContext, label: string, format: WeightFormat, cols: number, part: PartPlan, packed: PackedMatrix): GpuMatrixPart {
  const wantData = dataBytes(format, part.rows, cols);
  const wantScales = scaleBytes(format, part.rows, cols);
  if (packed.data.byteLength !== wantData || (packed.scales?.byteLength ?? 0) !== wantScales) {
    throw new ModelFormatError(
      `${label}: rows ${part.rowStart}..${part.rowStart + part.rows - 1} in ${format} with ${cols} columns need ` +
        `${wantData} data bytes and ${wantScales} scale bytes, got ${packed.data.byteLength} and ${packed.scales?.byteLength ?? 0}`,
    );
  }
  const where = `${label}[${part.rowStart}..${part.rowStart + part.rows})`;
  const data = ctx.allocator.create({ label: where, category: 'weights', size: wantData, usage: storageUsage() });
  writeBuffer(ctx, data, packed.data);
  if (!isQuantized(format)) return { ...part, data };
  try {
    const scales = ctx.allocator.create({ label: `${where}.scales`, category: 'weights', size: wantScales, usage: storageUsage() });
    writeBuffer(ctx, scales, packed.scales!);
    return { ...part, data, scales };
  } catch (e) {
    ctx.allocator.destroy(data);
    throw e;
  }
}

/** Packs a row-major f32 [rows, cols] matrix into `format` and uploads it, split as needed. */
export function uploadMatrix(
  ctx: KernelContext,
  label: string,
  values: Float32Array,
  rows: number,
  cols: number,
  format: WeightFormat,
  opts: UploadOptions = {},
): GpuMatrix {
  if (values.length !== rows * cols) {
    throw new InvalidArgumentError(`${label}: a [${rows}, ${cols}] matrix needs ${rows * cols} values, got ${values.length}`);
  }
  const plan = planMatrixParts(format, rows, cols, partByteLimit(ctx, opts.maxPartBytes), opts.rowGranularity);
  const matrix: GpuMatrix = { label, format, rows, cols, parts: [] };
  try {
    for (const part of plan) {
      matrix.parts.push(uploadPackedPart(ctx, label, format, cols, part, packRows(values, cols, format, part.rowStart, part.rows)));
    }
  } catch (e) {
    destroyMatrix(ctx, matrix);
    throw e;
  }
  return matrix;
}

export function destroyMatrix(ctx: KernelContext, m: GpuMatrix): void {
  for (const part of m.parts) {
    ctx.allocator.destroy(part.data);
    if (part.scales) ctx.allocator.destroy(part.scales);
  }
  m.parts = [];
}
