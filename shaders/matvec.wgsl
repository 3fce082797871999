// Matrix-vector products y = W·x for single tokens (decode: every projection of §3–§5 and the
// LM head), one "slot" per vector. Linear: one slot, the token.
// EXPERTS (MoE, §5): slot s = token · top_k + j; the workgroup reads expert ids[s] itself and
// multiplies by that expert's rows (llama.cpp mul_mat_id style), so expert ids never go back to
// the CPU; slots whose expert lies in another part of the matrix do nothing.
//
// A workgroup is GROUPS row groups of TPR threads; each group computes ROWS weight rows (several
// groups make a workgroup big enough for a full GPU core when rows are short: 32 threads per
// workgroup would leave half of an NVIDIA SM empty at its resident-workgroup limit). Every thread
// of a group walks the rows in 16-byte words (k = lane, lane + TPR, ...), loads the matching x
// values once and uses them for all ROWS rows; the per-row sums are reduced over the group with
// subgroupAdd (HAS_SUBGROUPS, subgroups no wider than a group) or a shared-memory tree.
// Epilogues: store y = W·x; EPILOGUE_ADD y += W·x (the residual add fused into o/out/down
// projections); SWIGLU: a unit's rows are [gate (outs); up (outs)] and y_i = silu(g_i)·u_i.
// NORM_X (the zero-centred RMSNorm of §2 fused in front, saving its dispatch): x is the
// un-normalised row h; the threads multiply it by (1 + norm_w) as they load it and sum h² on the
// way (together they load every column once), so W·(h·(1+w)·r) = r · Σ W·(h·(1+w)) with
// r = rsqrt(mean(h²) + eps) applied to the totals. Linear: decode only (the one token). EXPERTS:
// every slot's token row (the MoE post norm, at any T; not with X_PER_SLOT).
// X_INT8 (q4): each thread quantizes its x word (one group of 32) to int8, q = round(x·127/max|x|)
// with scale max|x|/127, once for all its rows, and each row word is eight integer dot products (two
// per u32 of codes, w_word_idot) and one scale product instead of 32 decoded multiply-adds: about a fifth
// of the instructions per weight, at the cost of x's quantization (as llama.cpp's q8_1 activations).
#if HAS_SUBGROUPS
enable subgroups;
#endif

const TPR: u32 = {{TPR}};        // threads per row group: a power of two
const GROUPS: u32 = {{GROUPS}};  // row groups per workgroup
const WG: u32 = TPR * GROUPS;
const ROWS: u32 = {{ROWS}};
#if SWIGLU
const OUTS: u32 = ROWS / 2u;
#else
const OUTS: u32 = ROWS;
#endif
#if NORM_X
const SUMSQ: u32 = ROWS;  // the extra accumulator holding Σ h²
const ACCS: u32 = ROWS + 1u;
#else
const ACCS: u32 = ROWS;
#endif

struct Params {
  unit_rows: u32,     // weight rows of one unit: the part (linear) or one expert (EXPERTS)
  cols: u32,          // length of x
  words_per_row: u32, // paddedCols / W_WORD_ELEMS
  outs: u32,          // outputs per unit: unit_rows, or unit_rows / 2 with SWIGLU
  out_offset: u32,    // index of the unit's first output within a slot's y row (part.rowStart)
  out_stride: u32,    // y elements per slot
  slots: u32,
  blocks: u32,        // workgroups per slot: ceil(outs / (GROUPS · OUTS))
  first_expert: u32,  // EXPERTS: this part holds experts [first_expert, first_expert + part_experts)
  part_experts: u32,
  top_k: u32,
  norm_eps: f32,      // NORM_X
}

@group(0) @binding(0) var<uniform> p: Params;
#include "weights"
#if X_VEC4
@group(0) @binding(W_NEXT_BINDING) var<storage, read> x: array<vec4<f32>>;
#else
@group(0) @binding(W_NEXT_BINDING) var<storage, read> x: array<f32>;
#endif
@group(0) @binding(W_NEXT_BINDING + 1u) var<storage, read_write> y: array<f32>;
#if EXPERTS
@group(0) @binding(W_NEXT_BINDING + 2u) var<storage, read> ids: array<u32>;
#endif
#if EXPERTS
const NORM_BINDING: u32 = W_NEXT_BINDING + 3u;
#else
const NORM_BINDING: u32 = W_NEXT_BINDING + 2u;
#endif
#if NORM_X && X_VEC4
@group(0) @binding(NORM_BINDING) var<storage, read> norm_w: array<vec4<f32>>;
#elif NORM_X
@group(0) @binding(NORM_BINDING) var<storage, read> norm_w: array<f32>;
#endif

var<workgroup> partials: array<array<f32, ACCS>, WG>;
#if NORM_X
var<private> sumsq: f32;
#endif

// Row (within the unit) of the workgroup's r-th accumulator; SWIGLU pairs gate i with up outs + i.
fn unit_row(out0: u32, r: u32) -> u32 {
#if SWIGLU
  return select(p.outs + out0 + r - OUTS, out0 + r, r < OUTS);
#else
  return out0 + r;
#endif
}

// x[base + c .. base + c + 3] (from_norm: norm_w[c .. c + 3]); columns past cols meet the zero
// padding of W and read as 0 (robust access keeps the load itself in bounds). X_VEC4
// (cols % 4 == 0): one 16-byte load.
fn load_vec4(from_norm: bool, base: u32, c: u32) -> vec4<f32> {
#if X_VEC4
  var v: vec4<f32>;
#if NORM_X
  if (from_norm) { v = norm_w[c >> 2u]; } else { v = x[(base + c) >> 2u]; }
#else
  v = x[(base + c) >> 2u];
#endif
  return select(vec4(0.0), v, c < p.cols);
#else
  var v = vec4(0.0);
  for (var i = 0u; i < 4u; i++) {
    var e: f32;
#if NORM_X
    if (from_norm) { e = norm_w[c + i]; } else { e = x[base + c + i]; }
#else
    e = x[base + c + i];
#endif
    v[i] = select(0.0, e, c + i < p.cols);
  }
  return v;
#endif
}

#if X_INT8
const X_FACTOR = vec4(1.0);  // the integer path reads plain codes
#else
const X_FACTOR = W_X_SCALE;
#endif

// The matvec input at columns c .. c + 3 (x, or with NORM_X h·(1 + w) before the factor r),
// times X_FACTOR (W_X_SCALE for w_word_dot; 1 for the int8 codes of X_INT8).
fn x_vec4(base: u32, c: u32) -> vec4<f32> {
  let v = load_vec4(false, base, c);
#if NORM_X
  sumsq += dot(v, v);
  return v * (1.0 + load_vec4(true, 0u, c)) * X_FACTOR;
#else
  return v * X_FACTOR;
#endif
}

// The x values of word k (constant indices only: see w_word_dot).
fn x_word(base: u32, k: u32) -> array<vec4<f32>, W_WORD_VEC4S> {
  let c = k * W_WORD_ELEMS;
  var xs: array<vec4<f32>, W_WORD_VEC4S>;
  xs[0] = x_vec4(base, c);
#if !FMT_F32
  xs[1] = x_vec4(base, c + 4u);
#endif
#if FMT_Q8 || FMT_Q4
  xs[2] = x_vec4(base, c + 8u);
  xs[3] = x_vec4(base, c + 12u);
#endif
#if FMT_Q4
  xs[4] = x_vec4(base, c + 16u);
  xs[5] = x_vec4(base, c + 20u);
  xs[6] = x_vec4(base, c + 24u);
  xs[7] = x_vec4(base, c + 28u);
#endif
  return xs;
}

#if X_INT8
// One x word as int8 codes in w_word_idot's order, with offset 8·Σq and the dequantizing scale.
struct XCodes {
  lo: vec4<u32>,
  hi: vec4<u32>,
  offset: i32,
  scale: f32,
}

// Codes of elements 8i .. 8i+7 (a, b: the two quads): (lo, hi) bytes, and their sum in z.
fn x_codes8(a: vec4<f32>, b: vec4<f32>, inv: f32) -> vec3<i32> {
  let qa = clamp(vec4<i32>(round(a * inv)), vec4(-127), vec4(127));
  let qb = clamp(vec4<i32>(round(b * inv)), vec4(-127), vec4(127));
  let sum = qa + qb;
  return vec3(bitcast<i32>(pack4xI8(vec4(qa.x, qa.z, qb.x, qb.z))), bitcast<i32>(pack4xI8(vec4(qa.y, qa.w, qb.y, qb.w))), sum.x + sum.y + sum.z + sum.w);
}

fn x_word_int8(base: u32, k: u32) -> XCodes {
  let v = x_word(base, k);
  let m4 = max(max(abs(v[0]), abs(v[1])), max(abs(v[2]), abs(v[3])));
  let n4 = max(max(abs(v[4]), abs(v[5])), max(abs(v[6]), abs(v[7])));
  let m = max(max(max(m4.x, m4.y), max(m4.z, m4.w)), max(max(n4.x, n4.y), max(n4.z, n4.w)));
  var out: XCodes;
  if (m > 0.0) {
    let inv = 127.0 / m;
    let c0 = x_codes8(v[0], v[1], inv);
    let c1 = x_codes8(v[2], v[3], inv);
    let c2 = x_codes8(v[4], v[5], inv);
    let c3 = x_codes8(v[6], v[7], inv);
    out.lo = bitcast<vec4<u32>>(vec4(c0.x, c1.x, c2.x, c3.x));
    out.hi = bitcast<vec4<u32>>(vec4(c0.y, c1.y, c2.y, c3.y));
    out.offset = 8 * (c0.z + c1.z + c2.z + c3.z);
    out.scale = m / 127.0;
  }
  return out;
}
#endif

// Sums each accumulator over lid's row group; returns where the group's partial sums lie:
// partials[first .. first + count), as vec2(first, count).
fn reduce_rows(acc: array<f32, ACCS>, lid: u32, sg_size: u32) -> vec2u {
#if HAS_SUBGROUPS
  if (sg_size <= TPR) {  // each subgroup lies inside one group (both are aligned powers of two)
    var s: array<f32, ACCS>;
    for (var r = 0u; r < ACCS; r++) {
      s[r] = subgroupAdd(acc[r]);
    }
    if (lid % sg_size == 0u) { partials[lid / sg_size] = s; }
    workgroupBarrier();
    let count = TPR / sg_size;
    return vec2((lid / TPR) * count, count);
  }
#endif
  return tree_reduce(acc, lid);
}

// The shared-memory tree over each group's TPR threads; the total lands at the group's first thread.
fn tree_reduce(acc: array<f32, ACCS>, lid: u32) -> vec2u {
  partials[lid] = acc;
  workgroupBarrier();
  let lane = lid % TPR;
  for (var half = TPR / 2u; half > 0u; half >>= 1u) {
    if (lane < half) {
      for (var r = 0u; r < ACCS; r++) {
        partials[lid][r] += partials[lid + half][r];
      }
    }
    workgroupBarrier();
  }
  return vec2(lid - lane, 1u);
}

fn row_total(r: u32, span: vec2u) -> f32 {
  var t = 0.0;
  for (var g = span.x; g < span.x + span.y; g++) {
    t += partials[g][r];
  }
  return t;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
#if HAS_SUBGROUPS
  @builtin(subgroup_size) sg_size: u32,
#endif
) {
#if !HAS_SUBGROUPS
  let sg_size = 0u;
#endif
  let flat = wg.x + wg.y * nwg.x;
  let slot = flat / p.blocks;
  if (slot >= p.slots) { return; }  // uniform per workgroup
  let lane = lid % TPR;
  let out0 = (flat % p.blocks) * (GROUPS * OUTS) + (lid / TPR) * OUTS;
#if EXPERTS
  let expert = ids[slot];
  if (expert < p.first_expert || expert >= p.first_expert + p.part_experts) { return; }
  let row_base = (expert - p.first_expert) * p.unit_rows;
#if X_PER_SLOT
  let x_base = slot * p.cols;
#else
  let x_base = (slot / p.top_k) * p.cols;
#endif
#else
  let row_base = 0u;
  let x_base = 0u;
#endif

  // Rows past the unit's end (last workgroup) recompute its last row; their results are dropped.
  var word_base: array<u32, ROWS>;
  for (var r = 0u; r < ROWS; r++) {
    word_base[r] = (row_base + min(unit_row(out0, r), p.unit_rows - 1u)) * p.words_per_row;
  }
  var acc: array<f32, ACCS>;
  for (var k = lane; k < p.words_per_row; k += TPR) {
#if X_INT8
    let xq = x_word_int8(x_base, k);
    for (var r = 0u; r < ROWS; r++) {
      let wi = word_base[r] + k;
      acc[r] += f32(w_word_idot(w_data[wi], xq.lo, xq.hi, xq.offset)) * (w_word_scale(wi) * xq.scale);
    }
#else
    let xs = x_word(x_base, k);
    for (var r = 0u; r < ROWS; r++) {
      let wi = word_base[r] + k;
      acc[r] += w_word_dot(w_data[wi], xs) * w_word_scale(wi);
    }
#endif
  }
#if NORM_X
  acc[SUMSQ] = sumsq;
#endif

  let span = reduce_rows(acc, lid, sg_size);
  if (lane < OUTS && out0 + lane < p.outs) {
#if NORM_X
    let r = inverseSqrt(row_total(SUMSQ, span) / f32(p.cols) + p.norm_eps);
#else
    let r = 1.0;
#endif
    let v = row_total(lane, span) * r;
    let yi = slot * p.out_stride + p.out_offset + out0 + lane;
#if SWIGLU
    y[yi] = v / (1.0 + exp(-v)) * (row_total(lane + OUTS, span) * r);
#elif EPILOGUE_ADD
    y[yi] += v;
#else
    y[yi] = v;
#endif
  }
}
