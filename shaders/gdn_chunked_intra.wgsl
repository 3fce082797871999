// Chunked gated delta rule, stage 1 of 3 (architecture §4.3): the part of each chunk that does
// not depend on the carried state, one workgroup per (chunk, value head):
//   γ = cumsum(g);  D_ij = e^(γ_i − γ_j) (j ≤ i)
//   A = strict_lower(diag(β) K Kᵀ ⊙ D);  P = (Q Kᵀ) ⊙ D with the diagonal → scratch
//   T = (I + A)⁻¹ (forward substitution);  U = T diag(β) V,  W = T diag(β e^γ) K → scratch
// K Kᵀ and Q Kᵀ accumulate in registers over KT-column tiles of K and Q held in workgroup memory;
// that memory then holds A and T as a packed lower triangle (unit diagonal stored).
#include "gdn_chunked_common"

const WG: u32 = 256u;
const KT: u32 = {{KEY_TILE}}u;
const EPT: u32 = (NTRI + WG - 1u) / WG;  // triangle entries per thread
// U and W: a thread owns column col0 + lid % CW and rows lid / CW + m·RG of the chunk.
const CW_V: u32 = min(DV, 64u);
const CW_K: u32 = min(DK, 64u);
const MR: u32 = max((L + WG / CW_V - 1u) / (WG / CW_V), (L + WG / CW_K - 1u) / (WG / CW_K));

@group(0) @binding(1) var<storage, read> q: array<f32>;     // [T, Hk, DK]
@group(0) @binding(2) var<storage, read> k: array<f32>;     // [T, Hk, DK]
@group(0) @binding(3) var<storage, read> v: array<f32>;     // [T, Hv, DV]
@group(0) @binding(4) var<storage, read> beta: array<f32>;  // [T, Hv]
@group(0) @binding(5) var<storage, read> g: array<f32>;     // [T, Hv]
@group(0) @binding(6) var<storage, read_write> scratch: array<f32>;

var<workgroup> tiles: array<f32, max(2u * L * KT, NTRI)>;  // K | Q tiles, then A, then T
var<workgroup> gam: array<f32, L>;
var<workgroup> bet: array<f32, L>;

// Row i of packed triangle entry e.
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
    gam[lid] = select(0.0, g[(t0 + lid) * p.value_heads + h], lid < rows);
    bet[lid] = select(0.0, beta[(t0 + lid) * p.value_heads + h], lid < rows);
  }
  workgroupBarrier();
  if (lid == 0u) {
    for (var i = 1u; i < L; i++) { gam[i] += gam[i - 1u]; }
  }

  var kk = array<f32, EPT>();
  var qk = array<f32, EPT>();
  for (var a0 = 0u; a0 < DK; a0 += KT) {
    workgroupBarrier();
    for (var x = lid; x < L * KT; x += WG) {
      let i = x / KT;
      let live = i < rows;
      let src = qk_index(t0 + min(i, rows - 1u), h, a0 + x % KT);
      tiles[x] = select(0.0, k[src], live);
      tiles[L * KT + x] = select(0.0, q[src], live);
    }
    workgroupBarrier();
    for (var m = 0u; m < EPT; m++) {
      let e = lid + m * WG;
      if (e < NTRI) {
        let i = tri_row(e);
        let j = e - tri(i, 0u);
        for (var a = 0u; a < KT; a++) {
          let kj = tiles[j * KT + a];
          kk[m] += tiles[i * KT + a] * kj;
          qk[m] += tiles[L * KT + i * KT + a] * kj;
        }
      }
    }
  }
  workgroupBarrier();
  let p_base = p.off_p + (c * p.value_heads + h) * NTRI;
  for (var m = 0u; m < EPT; m++) {
    let e = lid + m * WG;
    if (e < NTRI) {
      let i = tri_row(e);
      let j = e - tri(i, 0u);
      let decay = exp(gam[i] - gam[j]);
      scratch[p_base + e] = qk[m] * decay;
      tiles[e] = select(bet[i] * kk[m] * decay, 1.0, i == j);
    }
  }
  if (lid < rows) { scratch[gamma_index(t0 + lid, h)] = gam[lid]; }
  workgroupBarrier();

  // T = (I + A)⁻¹ row by row: T[i][j] = −Σ_{m=j}^{i−1} A[i][m]·T[m][j], with T[j][j] = 1 stored.
  // Padding rows keep A = 0, so their T rows stay the identity.
  for (var i = 1u; i < rows; i++) {
    var acc = 0.0;
    if (lid < i) {
      for (var m = lid; m < i; m++) { acc += tiles[tri(i, m)] * tiles[tri(m, lid)]; }
    }
    workgroupBarrier();
    if (lid < i) { tiles[tri(i, lid)] = -acc; }
    workgroupBarrier();
  }

  // U = T diag(β) V (which = 0) and W = T diag(β e^γ) K (which = 1).
  for (var which = 0u; which < 2u; which++) {
    let dim = select(DV, DK, which == 1u);
    let cw = select(CW_V, CW_K, which == 1u);
    let rg = WG / cw;
    let r0 = lid / cw;
    for (var col0 = 0u; col0 < dim; col0 += cw) {
      let col = col0 + lid % cw;
      let live = r0 < rg && col < dim;
      // Explicit zero: a loop-local `var x: T;` is not re-zeroed per iteration on every implementation.
      var acc = array<f32, MR>();
      for (var j = 0u; j < rows; j++) {
        var x = 0.0;
        if (live) {
          if (which == 0u) { x = bet[j] * v[v_index(t0 + j, h, col)]; }
          else { x = bet[j] * exp(gam[j]) * k[qk_index(t0 + j, h, col)]; }
        }
        for (var m = 0u; m < MR; m++) {
          let i = r0 + m * rg;
          if (i < L && j <= i) { acc[m] += tiles[tri(i, j)] * x; }
        }
      }
      for (var m = 0u; m < MR; m++) {
        let i = r0 + m * rg;
        if (live && i < rows) {
          if (which == 0u) { scratch[p.off_u + v_index(t0 + i, h, col)] = acc[m]; }
          else { scratch[w_index(t0 + i, h, col)] = acc[m]; }
        }
      }
    }
  }
}
