/**
 * Uploads a packed checkpoint (src/io/packed-manifest.ts, written by `qwen35 convert`) into the
 * GPU weight buffers: rows are copied as stored, never re-quantized. The device's plan may split
 * a matrix into parts differently from the file (it depends on the binding limit), so rows are
 * re-split: each part is filled in blocks of an even number of rows counted from the part's
 * start, which keeps every scale-array write offset (2 bytes per group of 32) a multiple of 4.
 * Peak JS memory: one block (≤ 16 MiB). On any failure every buffer created so far is destroyed.
 */
import { AbortedError, InvalidArgumentError, ModelFormatError } from '../errors.js';
import { writeBuffer, type KernelContext } from '../gpu/kernel.js';
import { dataBytes, paddedCols, QUANT_GROUP, scaleBytes } from '../io/formats.js';
import { packedMatrixTensors, PACKED_MANIFEST, type PackedCheckpoint } from '../io/packed-manifest.js';
import type { TensorSpec } from '../io/safetensors-writer.js';
import { destroyMatrix, type GpuMatrix, type GpuMatrixPart } from '../kernels/matrix.js';
import type { MatrixPlan, VectorPlan, WeightPlan } from './gpu-weight-plan.js';
import { allocate, assemble, type GpuWeights, type LoadWeightsOptions } from './gpu-weights.js';

/** Packed bytes of one block of rows. */
const BLOCK_BYTES = 16 * 2 ** 20;
/** Wait for the queue after this many uploaded bytes so Dawn's staging memory stays bounded. */
const FLUSH_BYTES = 256 * 2 ** 20;

export async function loadPackedWeights(ctx: KernelContext, plan: WeightPlan, packed: PackedCheckpoint, options: LoadWeightsOptions = {}): Promise<GpuWeights> {
  checkPlan(plan, packed);
  const created: GpuMatrix[] = [];
  const vectors: GPUBuffer[] = [];
  let done = 0;
  let sinceFlush = 0;
  const progress = async (bytes: number): Promise<void> => {
    if (options.signal?.aborted) throw new AbortedError('loading the weights was cancelled');
    done += bytes;
    sinceFlush += bytes;
    if (sinceFlush >= FLUSH_BYTES) {
      sinceFlush = 0;
      await ctx.device.queue.onSubmittedWorkDone();
    }
    options.onProgress?.({ phase: 'upload', bytesDone: done, bytesTotal: plan.bytes, files: [] });
  };
  /** `n` rows of `rowBytes` bytes from row `first` of a stored tensor. */
  const readRows = async (spec: TensorSpec, first: number, n: number, rowBytes: number): Promise<Uint8Array> => {
    const entry = packed.dir.tensors.get(spec.name)!;
    const bytes = await packed.dir.files.get(entry.file)!.read(entry.info.offset + first * rowBytes, n * rowBytes, options.signal);
    if (bytes.byteLength !== n * rowBytes) {
      throw new ModelFormatError(`${entry.file}: tensor "${spec.name}": read ${bytes.byteLength} bytes of rows ${first}..${first + n - 1}, expected ${n * rowBytes}`);
    }
    return bytes;
  };

  const uploadMatrix = async (m: MatrixPlan): Promise<GpuMatrix> => {
    const matrix: GpuMatrix = { label: m.key, format: m.format, rows: m.rows, cols: m.cols, parts: [] };
    created.push(matrix);
    const tensors = packedMatrixTensors(m);
    const dataRow = dataBytes(m.format, 1, m.cols);
    const scaleRow = (2 * paddedCols(m.cols)) / QUANT_GROUP;
    const blockRows = Math.max(2, 2 * Math.floor(BLOCK_BYTES / (2 * dataRow)));
    for (const p of m.parts) {
      const part: GpuMatrixPart = { ...p, data: allocate(ctx, `${m.key}[${p.rowStart}..]`, dataBytes(m.format, p.rows, m.cols)) };
      matrix.parts.push(part);
      const sb = scaleBytes(m.format, p.rows, m.cols);
      if (sb > 0) part.scales = allocate(ctx, `${m.key}[${p.rowStart}..].scales`, sb);
      for (let local = 0; local < p.rows; local += blockRows) {
        const n = Math.min(blockRows, p.rows - local);
        const data = await readRows(tensors.data, p.rowStart + local, n, dataRow);
        writeBuffer(ctx, part.data, data, local * dataRow);
        let bytes = data.byteLength;
        if (part.scales && tensors.scales) {
          const scales = await readRows(tensors.scales, p.rowStart + local, n, scaleRow);
          writeBuffer(ctx, part.scales, scales, local * scaleRow); // local is even: 4-byte aligned
          bytes += scales.byteLength;
        }
        await progress(bytes);
      }
    }
    return matrix;
  };

  const uploadVector = async (v: VectorPlan): Promise<GPUBuffer> => {
    const values = await readRows({ name: v.key, dtype: 'F32', shape: [v.length] }, 0, 1, v.bytes);
    const buffer = allocate(ctx, v.key, v.bytes);
    vectors.push(buffer);
    writeBuffer(ctx, buffer, values);
    await progress(v.bytes);
    return buffer;
  };

  try {
    const m = new Map<string, GpuMatrix>();
    for (const mp of plan.matrices) m.set(mp.key, await uploadMatrix(mp));
    const v = new Map<string, GPUBuffer>();
    for (const vp of plan.vectors) v.set(vp.key, await uploadVector(vp));
    await ctx.device.queue.onSubmittedWorkDone();
    return assemble(m, v, plan, packed.config.numLayers);
  } catch (e) {
    created.forEach((matrix) => destroyMatrix(ctx, matrix));
    vectors.forEach((b) => ctx.allocator.destroy(b));
    throw e;
  }
}

/** The device plan must describe the same matrices and vectors as the manifest (only the parts may differ). */
function checkPlan(plan: WeightPlan, packed: PackedCheckpoint): void {
  const { matrices, vectors } = packed.manifest;
  const sameMatrices =
    plan.matrices.length === matrices.length &&
    plan.matrices.every((m, i) => {
      const e = matrices[i]!;
      return m.key === e.key && m.format === e.format && m.rows === e.rows && m.cols === e.cols;
    });
  const sameVectors = plan.vectors.length === vectors.length && plan.vectors.every((v, i) => v.key === vectors[i]!.key && v.length === vectors[i]!.length);
  if (!sameMatrices || !sameVectors) {
    throw new InvalidArgumentError(
      `${packed.description}: the weight plan does not match its ${PACKED_MANIFEST} (a packed checkpoint loads only with the ` +
        `config it was converted with and its stored weight formats)`,
    );
  }
}
