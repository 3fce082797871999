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

fn bf16x4(a: u32, b: u32) -> vec4<f32> {
  return bitcast<vec4<f32>>(vec4(a << 16u, a & 0xffff0000u, b << 16u, b & 0xffff0000u));
}

// Small integers become floats without a conversion instruction: the bits 0x4B000000 | n are the
// f32 2^23 + n (exact for n < 2^23), so one subtraction gives n minus any offset exactly. The codes
// are masked in place, not shifted down: code c at bit 4n (q4) or 8n (q8) reads as 2^23 + c·16^n
// (q8: 256^n), and subtracting 2^23 + offset·16^n leaves (c − offset)·16^n exactly. W_X_SCALE =
// 16^-n undoes the factor: the matvec multiplies x by it once per x value (reused for every row),
// so each of its products equals (c − offset)·x bit for bit (exact powers of two); w_word_part
// multiplies the codes by it. Only each u32's upper half is shifted (16^4 would leave the 23-bit
// mantissa). Other formats: scale 1.
const MAGIC: u32 = 0x4b000000u;
const TWO_23: f32 = 8388608.0;
#if FMT_Q4
const W_X_SCALE = vec4(1.0, 1.0 / 16.0, 1.0 / 256.0, 1.0 / 4096.0);
#elif FMT_Q8
const W_X_SCALE = vec4(1.0, 1.0 / 256.0, 1.0, 1.0 / 256.0);
#else
const W_X_SCALE = vec4(1.0);
#endif

// The four 4-bit codes in the low 16 bits of u (element n in bits 4n..4n+3), minus 8 (w = (c − 8)·s), over W_X_SCALE.
fn q4x4_scaled(u: u32) -> vec4<f32> {
  let codes = vec4(u) & vec4(0xfu, 0xf0u, 0xf00u, 0xf000u);
  return bitcast<vec4<f32>>(codes | vec4(MAGIC)) - (TWO_23 + vec4(8.0, 128.0, 2048.0, 32768.0));
}

// Four int8 (element 4i in the low byte), over W_X_SCALE: byte ^ 0x80 is the value + 128.
fn i8x4_scaled(u: u32) -> vec4<f32> {
  let biased = u ^ 0x80808080u;
  let codes = vec4(biased, biased, biased >> 16u, biased >> 16u) & vec4(0xffu, 0xff00u, 0xffu, 0xff00u);
  return bitcast<vec4<f32>>(codes | vec4(MAGIC)) - (TWO_23 + vec4(128.0, 32768.0, 128.0, 32768.0));
}

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
  return i8x4_scaled(word[j]) * W_X_SCALE;
#elif FMT_Q4
  // Eight 4-bit codes per u32, element 8i + n in bits 4n..4n+3.
  return q4x4_scaled(word[j >> 1u] >> ((j & 1u) * 16u)) * W_X_SCALE;
#endif
}

// Σ over the word's elements of w·x before the group scale, straight-line (no dynamic indexing,
// so nothing spills to local memory); xs holds the matching x values times W_X_SCALE.
fn w_word_dot(word: vec4<u32>, xs: array<vec4<f32>, W_WORD_VEC4S>) -> f32 {
#if FMT_F32
  return dot(bitcast<vec4<f32>>(word), xs[0]);
#elif FMT_F16
  return dot(vec4(unpack2x16float(word.x), unpack2x16float(word.y)), xs[0]) + dot(vec4(unpack2x16float(word.z), unpack2x16float(word.w)), xs[1]);
#elif FMT_BF16
  return dot(bf16x4(word.x, word.y), xs[0]) + dot(bf16x4(word.z, word.w), xs[1]);
#elif FMT_Q8
  return dot(i8x4_scaled(word.x), xs[0]) + dot(i8x4_scaled(word.y), xs[1]) + dot(i8x4_scaled(word.z), xs[2]) + dot(i8x4_scaled(word.w), xs[3]);
#elif FMT_Q4
  return dot(q4x4_scaled(word.x), xs[0]) + dot(q4x4_scaled(word.x >> 16u), xs[1]) + dot(q4x4_scaled(word.y), xs[2]) + dot(q4x4_scaled(word.y >> 16u), xs[3]) +
    dot(q4x4_scaled(word.z), xs[4]) + dot(q4x4_scaled(word.z >> 16u), xs[5]) + dot(q4x4_scaled(word.w), xs[6]) + dot(q4x4_scaled(word.w >> 16u), xs[7]);
#endif
}

#if FMT_Q4
// Σ (c − 8)·q over the word's 32 codes c, against x as int8 codes q packed in the order the
// nibbles come out: lo[i] holds elements 8i, 8i+2, 8i+4, 8i+6 (the low nibble of each byte of u32
// i), hi[i] elements 8i+1, 8i+3, … (the high nibbles); offset = 8·Σq. Exact in i32: two integer
// dot products per u32 of codes (dot4I8Packed; codes 0..15 are valid int8).
fn w_word_idot(word: vec4<u32>, lo: vec4<u32>, hi: vec4<u32>, offset: i32) -> i32 {
  let m = 0x0f0f0f0fu;
  return dot4I8Packed(word.x & m, lo.x) + dot4I8Packed((word.x >> 4u) & m, hi.x) +
    dot4I8Packed(word.y & m, lo.y) + dot4I8Packed((word.y >> 4u) & m, hi.y) +
    dot4I8Packed(word.z & m, lo.z) + dot4I8Packed((word.z >> 4u) & m, hi.z) +
    dot4I8Packed(word.w & m, lo.w) + dot4I8Packed((word.w >> 4u) & m, hi.w) - offset;
}
#endif

// The factor that turns w_word_part values of word `word_index` of the part into weights.
fn w_word_scale(word_index: u32) -> f32 {
#if FMT_Q8 || FMT_Q4
  let group = word_index / (W_GROUP / W_WORD_ELEMS);
  return unpack2x16float(w_scales[group >> 1u])[group & 1u];
#else
  return 1.0;
#endif
}
