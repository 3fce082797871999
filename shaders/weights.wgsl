// Per-format weight decoding (#include "weights"), the one place that knows the packed layout
// of src/io/formats.ts. Exactly one of FMT_F32 / FMT_F16 / FMT_BF16 / FMT_Q8 / FMT_Q4 is set.
// It declares the bindings of the matrix part being read (binding 0 is the includer's params):
//   1 w_data:   array<vec4<u32>>   rows padded to a multiple of 32 elements, read 16 bytes at a time
//   2 w_scales: array<u32>         (q8 / q4 only) one f16 scale per 32 elements, two per u32
// and W_NEXT_BINDING, the first binding number left to the includer (matrix.ts partResources).
// A 16-byte word holds W_WORD_ELEMS consecutive elements of one row; since rows start at
// multiples of 32 elements, word i of a part starts at element i · W_WORD_ELEMS of the part and
// never straddles a quantization group.

#if FMT_F32
const W_WORD_ELEMS: u32 = 4u;
#elif FMT_F16 || FMT_BF16
const W_WORD_ELEMS: u32 = 8u;
#elif FMT_Q8
const W_WORD_ELEMS: u32 = 16u;
#elif FMT_Q4
const W_WORD_ELEMS: u32 = 32u;
#endif
@group(0) @binding(1) var<storage, read> w_data: array<vec4<u32>>;
#if FMT_Q8 || FMT_Q4
@group(0) @binding(2) var<storage, read> w_scales: array<u32>;
const W_NEXT_BINDING: u32 = 3u;
#else
const W_NEXT_BINDING: u32 = 2u;
#endif

const W_WORD_VEC4S: u32 = W_WORD_ELEMS / 4u;
const W_GROUP: u32 = 32u;

// Elements 4j..4j+3 of a word, before the group scale (j < W_WORD_VEC4S).
fn w_word_part(word: vec4<u32>, j: u32) -> vec4<f32> {
#if FMT_F32
  return bitcast<vec4<f32>>(word);
#elif FMT_F16
  return vec4(unpack2x16float(word[2u * j]), unpack2x16float(word[2u * j + 1u]));
#elif FMT_BF16
  // bf16 is the top half of an f32: element 2i is the low half of u32 i.
  return bf16x4(word[2u * j], word[2u * j + 1u]);
#elif FMT_Q8
  return i8x4(word[j]);
#elif FMT_Q4
  // Eight 4-bit codes per u32, element 8i + n in bits 4n..4n+3.
  return q4x4(word[j >> 1u] >> ((j & 1u) * 16u));
#endif
}

fn bf16x4(a: u32, b: u32) -> vec4<f32> {
  return bitcast<vec4<f32>>(vec4(a << 16u, a & 0xffff0000u, b << 16u, b & 0xffff0000u));
}

// Small integers become floats without a conversion instruction: the bits 0x4B000000 | n are the
// f32 2^23 + n (exact for n < 2^23), so one subtraction gives n minus any offset exactly.
const MAGIC: u32 = 0x4b000000u;
const TWO_23: f32 = 8388608.0;

// Four int8 (element 4i in the low byte): byte ^ 0x80 is the value + 128.
fn i8x4(u: u32) -> vec4<f32> {
  let biased = (vec4(u, u >> 8u, u >> 16u, u >> 24u) & vec4(0xffu)) ^ vec4(0x80u);
  return bitcast<vec4<f32>>(biased | vec4(MAGIC)) - (TWO_23 + 128.0);
}

// The four 4-bit codes in the low 16 bits of u, minus 8 (w = (c − 8) · s).
fn q4x4(u: u32) -> vec4<f32> {
  let codes = vec4(u, u >> 4u, u >> 8u, u >> 12u) & vec4(15u);
  return bitcast<vec4<f32>>(codes | vec4(MAGIC)) - (TWO_23 + 8.0);
}

// Σ over the word's elements of w·x before the group scale, straight-line (no dynamic indexing,
// so nothing spills to local memory); xs holds the matching x values.
fn w_word_dot(word: vec4<u32>, xs: array<vec4<f32>, W_WORD_VEC4S>) -> f32 {
#if FMT_F32
  return dot(bitcast<vec4<f32>>(word), xs[0]);
#elif FMT_F16
  return dot(vec4(unpack2x16float(word.x), unpack2x16float(word.y)), xs[0]) + dot(vec4(unpack2x16float(word.z), unpack2x16float(word.w)), xs[1]);
#elif FMT_BF16
  return dot(bf16x4(word.x, word.y), xs[0]) + dot(bf16x4(word.z, word.w), xs[1]);
#elif FMT_Q8
  return dot(i8x4(word.x), xs[0]) + dot(i8x4(word.y), xs[1]) + dot(i8x4(word.z), xs[2]) + dot(i8x4(word.w), xs[3]);
#elif FMT_Q4
  return dot(q4x4(word.x), xs[0]) + dot(q4x4(word.x >> 16u), xs[1]) + dot(q4x4(word.y), xs[2]) + dot(q4x4(word.y >> 16u), xs[3]) +
    dot(q4x4(word.z), xs[4]) + dot(q4x4(word.z >> 16u), xs[5]) + dot(q4x4(word.w), xs[6]) + dot(q4x4(word.w >> 16u), xs[7]);
#endif
}

// The factor that turns w_word_part values of word `word_index` of the part into weights.
fn w_word_scale(word_index: u32) -> f32 {
#if FMT_Q8 || FMT_Q4
  let group = word_index / (W_GROUP / W_WORD_ELEMS);
  return unpack2x16float(w_scales[group >> 1u])[group & 1u];
#else
  return 1.0;
#endif
}
