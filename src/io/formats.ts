/**
 * Weight formats of matrices on the GPU and their exact packed byte layout. The loader, the
 * kernels and the memory predictor all derive sizes from here.
 *
 * A matrix W [rows, cols] (Linear: rows = out, cols = in) is stored row-major with each row
 * padded with zeros to `paddedCols = ceil(cols / 32) · 32` elements, so that every row starts
 * 16-byte aligned and holds whole quantization groups. Rows may be split across several
 * buffers (parts) when a matrix exceeds the binding limit (embedding / LM head); the split is
 * always at a row boundary (for stacked experts, at an expert boundary).
 *
 *   f32   data: 4 bytes per element
 *   f16   data: 2 bytes per element, two per u32 (element 2i in the low half)
 *   bf16  data: 2 bytes per element, two per u32 (element 2i in the low half)
 *   q8    data: int8 (two's complement), four per u32 (element 4i in the low byte);
 *         scales: one f16 per group of 32 elements of a row, two per u32; w = q · s,
 *         s = max|w| / 127
 *   q4    data: 4-bit codes c ∈ [0, 15], eight per u32 (element 8i in bits 0..3);
 *         scales: one f16 per group of 32, two per u32; w = (c − 8) · s, s = m / −8 where m is
 *         the group's element of largest magnitude (llama.cpp Q4_0 rounding)
 * The scale array of a part is padded to a multiple of 4 bytes.
 */

export type WeightFormat = 'f32' | 'f16' | 'bf16' | 'q8' | 'q4';
export const WEIGHT_FORMATS: readonly WeightFormat[] = ['f32', 'f16', 'bf16', 'q8', 'q4'];

export const QUANT_GROUP = 32;

export const isQuantized = (f: WeightFormat): boolean => f === 'q8' || f === 'q4';

export const paddedCols = (cols: number): number => Math.ceil(cols / QUANT_GROUP) * QUANT_GROUP;

const BITS: Record<WeightFormat, number> = { f32: 32, f16: 16, bf16: 16, q8: 8, q4: 4 };

/** Bytes of the data array for `rows` rows of a matrix with `cols` columns. */
export function dataBytes(format: WeightFormat, rows: number, cols: number): number {
  return (rows * paddedCols(cols) * BITS[format]) / 8;
}

/** Bytes of the scale array (0 for unquantized formats), padded to 4 bytes. */
export function scaleBytes(format: WeightFormat, rows: number, cols: number): number {
  if (!isQuantized(format)) return 0;
  const groups = rows * (paddedCols(cols) / QUANT_GROUP);
  return Math.ceil((groups * 2) / 4) * 4;
}

/** Average bits per weight including scales, for display. */
export function bitsPerWeight(format: WeightFormat): number {
  return BITS[format] + (isQuantized(format) ? 16 / QUANT_GROUP : 0);
}
