// Chunked gated delta rule, stage 1 of 3 (architecture §4.3): the part of each chunk that does
// not depend on the carried state, one workgroup per (chunk, value head):
//   γ = cumsum(g);  D_ij = e^(γ_i − γ_j) (j ≤ i)
//   A = strict_lower(diag(β) K Kᵀ ⊙ D);  P = (Q Kᵀ) ⊙ D with the diagonal → scratch
//   T = (I + A)⁻¹;  U = T diag(β) V,  W = T diag(β e^γ) K → scratch
// (Kept in one dispatch: on the devices measured a dispatch costs several µs of its own.)
// K Kᵀ and Q Kᵀ: each thread accumulates one 4×4 block of the lower triangle from vec4 loads of
// the chunk's K and Q rows (L1-served; no staging barriers). T: column sweep on a packed triangle.
#include "gdn_chunked_common"
#include "gdn_gates"

const WG: u32 = 256u;
const NB: u32 = L / 4u;                   // 4-row blocks per chunk
const NBLK: u32 = NB * (NB + 1u) / 2u;    // lower blocks with the diagonal (< WG for L ≤ 64)
const B: u32 = {{INVERSE_BLOCK}}u;         // rows per block of the inverse
const NBK: u32 = L / B;
// U and W: half the threads each; a thread owns 4 columns (one vec4) and rows r0 + m·RG.
const RG_V: u32 = (WG / 2u) / (DV / 4u);
const RG_K: u32 = (WG / 2u) / (DK / 4u);
const MR: u32 = max((L + RG_V - 1u) / RG_V, (L + RG_K - 1u) / RG_K);

@group(0) @binding(1) var<storage, read> q: array<vec4f>;   // [T, Hk, DK]
@group(0) @binding(2) var<storage, read> k: array<vec4f>;   // [T, Hk, DK]
@group(0) @binding(3) var<storage, read> v: array<vec4f>;   // [T, Hv, DV]
@group(0) @binding(4) var<storage, read> proj: array<f32>;    // [T, C + Hv·DV + 2·Hv]: β, g from b, a
@group(0) @binding(5) var<storage, read> a_log: array<f32>;   // [Hv]
@group(0) @binding(6) var<storage, read> dt_bias: array<f32>; // [Hv]
@group(0) @binding(7) var<storage, read_write> scratch: array<f32>;

var<workgroup> tri_mem: array<f32, NTRI>;  // I − A (packed lower triangle), turned into T in place
var<workgroup> block_row: array<f32, max(1u, NBK - 1u) * B * B>;  // Σ_K X_IK T_KJ of one block row
var<workgroup> gam: array<f32, L>;
var<workgroup> bet: array<f32, L>;

// Row i of packed lower-triangle entry e.
fn tri_row(e: u32) -> u32 {
  var i = u32((sqrt(8.0 * f32(e) + 1.0) - 1.0) * 0.5);
  if (tri(i + 1u, 0u) <= e) { i++; }
  if (tri(i, 0u) > e) { i--; }
  return i;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wg.x;
  let h = wg.y;
  let t0 = c * L;
  let rows = min(L, p.tokens - t0);
  if (lid < L) {
    var gates = vec2f(0.0);  // padding rows: β = g = 0
    if (lid < rows) { gates = delta_gates(t0 + lid, h, p.key_heads, DK, p.value_heads, DV); }
    bet[lid] = gates.x;
    gam[lid] = gates.y;
  }
  workgroupBarrier();
  // γ = cumsum(g), serially by the last thread: it has no K Kᵀ block (NBLK < WG), so the sum runs
  // beside the products below instead of delaying one of them.
  if (lid == WG - 1u) {
    for (var i = 1u; i < L; i++) { gam[i] += gam[i - 1u]; }
  }

  // K Kᵀ and Q Kᵀ, block (bi, bj) with bj ≤ bi: kk[r][s] = K_{4bi+r} · K_{4bj+s}. Rows past the
  // call's tokens read the last valid row; their entries are masked below (β = 0, never written).
  let blk = min(lid, NBLK - 1u);
  let bi = tri_row(blk);
  let bj = blk - tri(bi, 0u);
  var kk = array<vec4f, 4>();
  var qk = array<vec4f, 4>();
  if (lid < NBLK) {
    var row_i: array<u32, 4>;
    var row_j: array<u32, 4>;
    for (var r = 0u; r < 4u; r++) {
      row_i[r] = qk_index(t0 + min(4u * bi + r, rows - 1u), h, 0u) / 4u;
      row_j[r] = qk_index(t0 + min(4u * bj + r, rows - 1u), h, 0u) / 4u;
    }
    for (var a4 = 0u; a4 < DK / 4u; a4++) {
      let kj = mat4x4f(k[row_j[0] + a4], k[row_j[1] + a4], k[row_j[2] + a4], k[row_j[3] + a4]);
      for (var r = 0u; r < 4u; r++) {
        kk[r] += k[row_i[r] + a4] * kj;  // row vector × matrix: dot with each K_j row
        qk[r] += q[row_i[r] + a4] * kj;
      }
    }
  }
  workgroupBarrier();  // γ ready
  let p_base = p.off_p + (c * p.value_heads + h) * NTRI;
  if (lid < NBLK) {
    for (var r = 0u; r < 4u; r++) {
      for (var s = 0u; s < 4u; s++) {
        let i = 4u * bi + r;
        let j = 4u * bj + s;
        if (j <= i && i < rows) {
          let decay = exp(gam[i] - gam[j]);
          scratch[p_base + tri(i, j)] = qk[r][s] * decay;
          tri_mem[tri(i, j)] = select(-bet[i] * kk[r][s] * decay, 1.0, i == j);
        }
      }
    }
  }
  if (lid < rows) { scratch[gamma_index(t0 + lid, h)] = gam[lid]; }
  workgroupBarrier();

  // T = (I + A)⁻¹ in blocks of B rows, starting from X = I − A (unit diagonal stored):
  // 1. every diagonal block at once by column sweep: for j = 1.., X[i][c] += X[i][j]·X[j][c]
  //    (i > j > c within the block; step j reads column j and row j and writes neither);
  // 2. block row I = 1, 2, …: T_IJ = T_II · Σ_{K=J}^{I−1} X_IK T_KJ (X_IK = −A_IK), all J < I.
  for (var j = 1u; j + 1u < B; j++) {
    for (var x = lid; x < NBK * (B - 1u - j) * j; x += WG) {
      let d = x / ((B - 1u - j) * j);
      let y = x % ((B - 1u - j) * j);
      let i = d * B + j + 1u + y / j;
      let cc = d * B + y % j;
      tri_mem[tri(i, cc)] += tri_mem[tri(i, d * B + j)] * tri_mem[tri(d * B + j, cc)];
    }
    workgroupBarrier();
  }
  for (var bi = 1u; bi < NBK; bi++) {
    for (var x = lid; x < bi * B * B; x += WG) {
      let bj = x / (B * B);
      let r = (x / B) % B;
      let s = x % B;
      var acc = 0.0;
      for (var bk = bj; bk < bi; bk++) {
        for (var m = 0u; m < B; m++) {
          // T_KJ is the lower triangle (unit diagonal) when K = J.
          if (bk > bj || m >= s) { acc += tri_mem[tri(bi * B + r, bk * B + m)] * tri_mem[tri(bk * B + m, bj * B + s)]; }
        }
      }
      block_row[x] = acc;
    }
    workgroupBarrier();
    for (var x = lid; x < bi * B * B; x += WG) {
      let bj = x / (B * B);
      let r = (x / B) % B;
      let s = x % B;
      var acc = 0.0;
      for (var m = 0u; m <= r; m++) { acc += tri_mem[tri(bi * B + r, bi * B + m)] * block_row[bj * B * B + m * B + s]; }
      tri_mem[tri(bi * B + r, bj * B + s)] = acc;
    }
    workgroupBarrier();
  }

  // U = T diag(β) V on threads [0, WG/2) and W = T diag(β e^γ) K on [WG/2, WG): a thread owns one
  // column quad and rows r0 + m·RG of its matrix. Rows j come in batches of 4 loads in flight;
  // padding rows have β = 0.
  let is_w = lid >= WG / 2u;
  let quads = select(DV, DK, is_w) / 4u;
  let rg = (WG / 2u) / quads;
  let r0 = (lid % (WG / 2u)) / quads;
  let col4 = (lid % (WG / 2u)) % quads;
  var acc = array<vec4f, MR>();  // explicit zero: see gdn_chunked_common.wgsl
  for (var j0 = 0u; j0 < L; j0 += 4u) {
    var x: array<vec4f, 4>;
    for (var u = 0u; u < 4u; u++) {
      let j = j0 + u;
      let tj = t0 + min(j, rows - 1u);
      if (is_w) { x[u] = bet[j] * exp(gam[j]) * k[qk_index(tj, h, 0u) / 4u + col4]; }
      else { x[u] = bet[j] * v[v_index(tj, h, 0u) / 4u + col4]; }
    }
    for (var m = 0u; m < MR; m++) {
      let i = r0 + m * rg;
      for (var u = 0u; u < 4u; u++) {
        if (i < L && j0 + u <= i) { acc[m] += tri_mem[tri(i, j0 + u)] * x[u]; }
      }
    }
  }
  for (var m = 0u; m < MR; m++) {
    let i = r0 + m * rg;
    if (r0 < rg && i < rows) {
      var dst = p.off_u + v_index(t0 + i, h, 4u * col4);
      if (is_w) { dst = w_index(t0 + i, h, 4u * col4); }
      for (var e = 0u; e < 4u; e++) { scratch[dst + e] = acc[m][e]; }
    }
  }
}
