/**
 * Packing rows of checkpoint weights (the loader's and the converter's call of packRows): a
 * value the format cannot hold becomes a ModelFormatError naming the matrix row and column,
 * instead of a quantizer error without a location (q8/q4: NaN, ±Inf, or a group scale beyond
 * f16) or a silent ±Inf (f16: |w| > 65504, which would turn the model's output into NaN).
 * f32 and bf16 hold every checkpoint value and are not checked.
 */
import { InvalidArgumentError, ModelFormatError } from '../errors.js';
import { paddedCols, type WeightFormat } from './formats.js';
import { packRows, type PackedMatrix } from './quantize.js';

/**
 * Packs `rows` rows of `values` (row-major [rows, cols]); `where(r)` names row r of the block in
 * messages, e.g. `layers.3.attn.qkv row 517`.
 */
export function packWeightRows(values: Float32Array, cols: number, format: WeightFormat, rows: number, where: (row: number) => string): PackedMatrix {
  const fail = (at: number, why: string, cause?: unknown): never => {
    const row = Math.floor(at / cols);
    throw new ModelFormatError(`${where(row)}, column ${at % cols} holds ${values[at]}, ${why}`, { cause });
  };
  let packed: PackedMatrix;
  try {
    packed = packRows(values, cols, format, 0, rows);
  } catch (e) {
    if (!(e instanceof InvalidArgumentError)) throw e;
    return fail(worstIndex(values, rows * cols), `which ${format} cannot encode (${e.message})`, e);
  }
  if (format === 'f16') {
    const halves = new Uint16Array(packed.data.buffer, packed.data.byteOffset, packed.data.byteLength / 2);
    const pc = paddedCols(cols);
    for (let i = 0; i < halves.length; i++) {
      if ((halves[i]! & 0x7c00) === 0x7c00) fail(Math.floor(i / pc) * cols + (i % pc), 'which f16 cannot hold (its range is ±65504); load the weights as bf16 or f32');
    }
  }
  return packed;
}

/** The first non-finite value, else the largest magnitude (what makes a group's scale overflow). */
function worstIndex(values: Float32Array, n: number): number {
  let at = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) return i;
    if (Math.abs(v) > Math.abs(values[at]!)) at = i;
  }
  return at;
}
