// Chunked gated delta rule, stage 2 of 3 (architecture §4.3): the state scan across chunks. One
// workgroup per (block of BV state columns, value head) walks the chunks in order; columns of S
// evolve independently, so the block [DK, BV] of S lives in workgroup memory throughout:
//   sc[c] ← S                                   (chunk-start state, for the output stage)
//   V'   = U − W S                              (written over U in the scratch)
//   S    ← e^(γ_last) S + (diag(e^(γ_last − γ)) K)ᵀ V'
// Threads hold vec4 column quads; W and K rows are read straight from memory (each element is
// used by the BV/4 threads of its row, so L1 serves the repeats). Narrow blocks (BV ≤ 8) give
// DV/BV · Hv workgroups. The final S is written back to the state buffer (carried to the next call).
#include "gdn_chunked_common"

const WG: u32 = {{SCAN_THREADS}}u;  // ≥ 64 ≥ L
const BQ: u32 = {{COL_BLOCK}}u / 4u;  // column quads per block
const RG: u32 = WG / BQ;              // thread rows: V' rows r + m·RG, state rows r + m·RG
const MV: u32 = (L + RG - 1u) / RG;
const MA: u32 = (DK + RG - 1u) / RG;
const BATCH: u32 = {{SCAN_BATCH}}u;  // independent loads in flight per thread

@group(0) @binding(1) var<storage, read> k: array<vec4f>;  // [T, Hk, DK]
@group(0) @binding(2) var<storage, read_write> scratch: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> state: array<vec4f>;  // [Hv, DK, DV]

var<workgroup> s_blk: array<vec4f, DK * BQ>;
var<workgroup> v_new: array<vec4f, L * BQ>;
var<workgroup> k_decay: array<f32, L>;  // e^(γ_last − γ_i)

fn gamma(t: u32, h: u32) -> f32 {
  let i = gamma_index(t, h);
  return scratch[i / 4u][i % 4u];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j0 = wg.x * BQ * 4u;
  let h = wg.y;
  let quad = lid % BQ;
  let r = lid / BQ;
  for (var x = lid; x < DK * BQ; x += WG) { s_blk[x] = state[((h * DK + x / BQ) * DV + j0) / 4u + x % BQ]; }
  let chunks = (p.tokens + L - 1u) / L;
  for (var c = 0u; c < chunks; c++) {
    let t0 = c * L;
    let rows = min(L, p.tokens - t0);
    let last = gamma(t0 + rows - 1u, h);
    workgroupBarrier();
    for (var x = lid; x < DK * BQ; x += WG) { scratch[sc_index(c, h, x / BQ, j0) / 4u + x % BQ] = s_blk[x]; }
    if (lid < L) { k_decay[lid] = select(0.0, exp(last - gamma(t0 + min(lid, rows - 1u), h)), lid < rows); }

    // V' = U − W S for rows r + m·RG; W comes BATCH quads (loads in flight) at a time.
    for (var m = 0u; m < MV; m++) {
      let i = r + m * RG;
      if (i < rows) {
        let u = (p.off_u + v_index(t0 + i, h, j0)) / 4u + quad;
        let w_row = w_index(t0 + i, h, 0u) / 4u;
        var acc = scratch[u];
        for (var a0 = 0u; a0 < DK / 4u; a0 += BATCH) {
          var w: array<vec4f, BATCH>;
          for (var b = 0u; b < BATCH; b++) { w[b] = select(vec4f(0.0), scratch[w_row + min(a0 + b, DK / 4u - 1u)], a0 + b < DK / 4u); }
          for (var b = 0u; b < BATCH; b++) {
            let a = min(a0 + b, DK / 4u - 1u) * 4u;
            for (var e = 0u; e < 4u; e++) { acc -= w[b][e] * s_blk[(a + e) * BQ + quad]; }
          }
        }
        v_new[i * BQ + quad] = acc;
        scratch[u] = acc;
      } else if (i < L) {
        v_new[i * BQ + quad] = vec4f(0.0);
      }
    }
    workgroupBarrier();

    // S ← e^(γ_last) S + Σ_i e^(γ_last − γ_i) k_i v'_iᵀ for state rows r + m·RG; K comes in batches
    // of BATCH rows per state row (constant trip count; padding rows have k_decay = 0, v' = 0).
    var s_new = array<vec4f, MA>();  // explicit zero: see gdn_chunked_common.wgsl
    for (var m = 0u; m < MA; m++) { s_new[m] = exp(last) * s_blk[min(r + m * RG, DK - 1u) * BQ + quad]; }
    for (var i0 = 0u; i0 < L; i0 += BATCH) {
      var kv: array<f32, BATCH * MA>;
      for (var m = 0u; m < MA; m++) {
        let a = min(r + m * RG, DK - 1u);
        for (var b = 0u; b < BATCH; b++) {
          let i = min(i0 + b, L - 1u);
          kv[BATCH * m + b] = select(0.0, k[qk_index(t0 + min(i, rows - 1u), h, a) / 4u][a % 4u], i0 + b < L);
        }
      }
      for (var m = 0u; m < MA; m++) {
        for (var b = 0u; b < BATCH; b++) {
          let i = min(i0 + b, L - 1u);
          s_new[m] += (k_decay[i] * kv[BATCH * m + b]) * v_new[i * BQ + quad];
        }
      }
    }
    workgroupBarrier();
    for (var m = 0u; m < MA; m++) {
      let a = r + m * RG;
      if (a < DK) { s_blk[a * BQ + quad] = s_new[m]; }
    }
  }
  workgroupBarrier();
  for (var x = lid; x < DK * BQ; x += WG) { state[((h * DK + x / BQ) * DV + j0) / 4u + x % BQ] = s_blk[x]; }
}
