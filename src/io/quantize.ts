/**
 * CPU packing of matrices into the GPU weight formats of ./formats.ts (read its header for the
 * byte layout), and the inverse (dequantizeMatrix), which is the reference every quantized
 * kernel test compares against: kernels are checked on the DEQUANTIZED weights.
 *
 * Scales are rounded to f16 first and the codes are chosen against the rounded scale, so the
 * dequantized value is within half a step of the original (q8 always; q4 except the codes
 * clamped at +7, see packQ4Group).
 *
 * f16/bf16 rounding (nearest even) comes from ./bf16.ts. Packed arrays are little-endian (every WebGPU host is).
 */
import { InvalidArgumentError } from '../errors.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './bf16.js';
import { dataBytes, isQuantized, paddedCols, QUANT_GROUP, scaleBytes, type WeightFormat } from './formats.js';

export interface PackedMatrix {
  /** Row-major codes/values, each row padded with zeros to paddedCols(cols). */
  data: Uint8Array;
  /** One f16 scale per group of 32 of each row (q8 and q4 only). */
  scales?: Uint8Array;
}

const roundToF16 = (v: number): number => f16ToF32(f32ToF16(v));

/** llama.cpp roundf: halves away from zero. */
const roundHalfAway = (v: number): number => Math.sign(v) * Math.round(Math.abs(v));

function checkedScale(scale: number, row: number, group: number): number {
  const s = roundToF16(scale);
  if (!Number.isFinite(s)) {
    throw new InvalidArgumentError(
      `quantize: row ${row}, columns ${group * QUANT_GROUP}..${group * QUANT_GROUP + 31} give the scale ${scale}, ` +
        `which is not a finite f16 (values must be finite and |w| < 8.3e6)`,
    );
  }
  return s;
}

/** q8: s = max|w| / 127 (f16), q = round(w / s) ∈ [−127, 127]. Writes 32 codes, returns the f16 bits. */
function packQ8Group(src: Float32Array, off: number, n: number, out: Int8Array, outOff: number, row: number, group: number): number {
  let amax = 0;
  for (let i = 0; i < n; i++) amax = Math.max(amax, Math.abs(src[off + i]!));
  const s = checkedScale(amax / 127, row, group);
  for (let i = 0; i < n; i++) {
    out[outOff + i] = s === 0 ? 0 : Math.max(-127, Math.min(127, roundHalfAway(src[off + i]! / s)));
  }
  return f32ToF16(s);
}

/**
 * q4 (llama.cpp Q4_0): m = the element of largest magnitude (first one on ties), s = m / −8 (f16),
 * c = min(15, floor(w / s + 8.5)). The element m itself maps to code 0 (exact); elements of the
 * other sign beyond 7.5·|s| clamp to code 15, an error of up to |s|.
 */
function packQ4Group(src: Float32Array, off: number, n: number, out: Uint8Array, outOff: number, row: number, group: number): number {
  let amax = 0;
  let m = 0;
  for (let i = 0; i < n; i++) {
    const v = src[off + i]!;
    if (Number.isNaN(v)) checkedScale(NaN, row, group);
    if (Math.abs(v) > amax) {
      amax = Math.abs(v);
      m = v;
    }
  }
  const s = checkedScale(m / -8, row, group);
  const inv = s === 0 ? 0 : 1 / s;
  for (let i = 0; i < QUANT_GROUP; i++) {
    const c = i < n ? Math.max(0, Math.min(15, Math.floor(src[off + i]! * inv + 8.5))) : 8; // padding decodes to 0
    const byte = outOff + (i >> 1);
    out[byte] = i & 1 ? out[byte]! | (c << 4) : c;
  }
  return f32ToF16(s);
}

/**
 * Packs rows [rowStart, rowStart + rowCount) of `values` (row-major [*, cols] f32) into `format`.
 * The loader packs part by part (see planMatrixParts); packMatrix packs everything.
 */
export function packRows(values: Float32Array, cols: number, format: WeightFormat, rowStart: number, rowCount: number): PackedMatrix {
  if (!(Number.isInteger(cols) && cols > 0 && Number.isInteger(rowStart) && rowStart >= 0 && Number.isInteger(rowCount) && rowCount > 0)) {
    throw new InvalidArgumentError(`packRows: invalid shape cols=${cols} rowStart=${rowStart} rowCount=${rowCount}`);
  }
  if (values.length < (rowStart + rowCount) * cols) {
    throw new InvalidArgumentError(
      `packRows: rows ${rowStart}..${rowStart + rowCount - 1} of ${cols} columns need ${(rowStart + rowCount) * cols} values, got ${values.length}`,
    );
  }
  const pc = paddedCols(cols);
  const data = new Uint8Array(dataBytes(format, rowCount, cols));
  const scales = isQuantized(format) ? new Uint16Array(scaleBytes(format, rowCount, cols) / 2) : undefined;
  const groups = pc / QUANT_GROUP;
  for (let r = 0; r < rowCount; r++) {
    const src = (rowStart + r) * cols;
    const dst = r * pc;
    if (format === 'f32') {
      new Float32Array(data.buffer, dst * 4, cols).set(values.subarray(src, src + cols));
    } else if (format === 'f16' || format === 'bf16') {
      const out = new Uint16Array(data.buffer, dst * 2, cols);
      const convert = format === 'f16' ? f32ToF16 : f32ToBf16;
      for (let c = 0; c < cols; c++) out[c] = convert(values[src + c]!);
    } else {
      for (let g = 0; g < groups; g++) {
        const n = Math.min(QUANT_GROUP, cols - g * QUANT_GROUP);
        scales![r * groups + g] =
          format === 'q8'
            ? packQ8Group(values, src + g * QUANT_GROUP, n, new Int8Array(data.buffer), dst + g * QUANT_GROUP, rowStart + r, g)
            : packQ4Group(values, src + g * QUANT_GROUP, n, data, (dst + g * QUANT_GROUP) / 2, rowStart + r, g);
      }
    }
  }
  return scales ? { data, scales: new Uint8Array(scales.buffer) } : { data };
}

export function packMatrix(values: Float32Array, rows: number, cols: number, format: WeightFormat): PackedMatrix {
  if (values.length !== rows * cols) {
    throw new InvalidArgumentError(`packMatrix: a [${rows}, ${cols}] matrix needs ${rows * cols} values, got ${values.length}`);
  }
  return packRows(values, cols, format, 0, rows);
}

/** Decodes a packed [rows, cols] matrix back to f32 (padding dropped): the reference for kernel tests. */
export function dequantizeMatrix(packed: PackedMatrix, rows: number, cols: number, format: WeightFormat): Float32Array {
  if (packed.data.byteLength !== dataBytes(format, rows, cols) || (packed.scales?.byteLength ?? 0) !== scaleBytes(format, rows, cols)) {
    throw new InvalidArgumentError(
      `dequantizeMatrix: ${format} [${rows}, ${cols}] needs ${dataBytes(format, rows, cols)} data bytes and ` +
        `${scaleBytes(format, rows, cols)} scale bytes, got ${packed.data.byteLength} and ${packed.scales?.byteLength ?? 0}`,
    );
  }
  const pc = paddedCols(cols);
  const out = new Float32Array(rows * cols);
  const bytes = packed.data;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const scaleView = packed.scales ? new DataView(packed.scales.buffer, packed.scales.byteOffset, packed.scales.byteLength) : undefined;
  // Element i of the padded matrix belongs to group floor(i / 32) (rows hold whole groups).
  const groupScale = (i: number): number => f16ToF32(scaleView!.getUint16(Math.floor(i / QUANT_GROUP) * 2, true));
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * pc + c;
      let v: number;
      if (format === 'f32') v = view.getFloat32(i * 4, true);
      else if (format === 'f16') v = f16ToF32(view.getUint16(i * 2, true));
      else if (format === 'bf16') v = bf16ToF32(view.getUint16(i * 2, true));
      else if (format === 'q8') v = view.getInt8(i) * groupScale(i);
      else v = (((bytes[i >> 1]! >> ((i & 1) * 4)) & 15) - 8) * groupScale(i);
      out[r * cols + c] = v;
    }
  }
  return out;
}
