// Chunked gated delta rule, stage 2 of 3 (architecture §4.3): the state scan across chunks. One
// workgroup per (block of BV state columns, value head) walks the chunks in order; columns of S
// evolve independently, so the block [DK, BV] of S lives in workgroup memory throughout:
//   sc[c] ← S                                   (chunk-start state, for the output stage)
//   V'   = U − W S                              (written over U in the scratch)
//   S    ← e^(γ_last) S + (diag(e^(γ_last − γ)) K)ᵀ V'
// The final S is written back to the state buffer (carried to the next call).
#include "gdn_chunked_common"

const WG: u32 = 128u;
const BV: u32 = {{COL_BLOCK}}u;

@group(0) @binding(1) var<storage, read> k: array<f32>;  // [T, Hk, DK]
@group(0) @binding(2) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(3) var<storage, read_write> state: array<f32>;  // [Hv, DK, DV]

var<workgroup> s_blk: array<f32, DK * BV>;
var<workgroup> v_new: array<f32, L * BV>;
var<workgroup> k_decay: array<f32, L>;  // e^(γ_last − γ_i)
var<workgroup> chunk_decay: f32;        // e^(γ_last)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j0 = wg.x * BV;
  let h = wg.y;
  for (var x = lid; x < DK * BV; x += WG) { s_blk[x] = state[(h * DK + x / BV) * DV + j0 + x % BV]; }
  let chunks = (p.tokens + L - 1u) / L;
  for (var c = 0u; c < chunks; c++) {
    let t0 = c * L;
    let rows = min(L, p.tokens - t0);
    workgroupBarrier();
    for (var x = lid; x < DK * BV; x += WG) { scratch[sc_index(c, h, x / BV, j0 + x % BV)] = s_blk[x]; }
    if (lid < rows) {
      let last = scratch[gamma_index(t0 + rows - 1u, h)];
      k_decay[lid] = exp(last - scratch[gamma_index(t0 + lid, h)]);
      if (lid == 0u) { chunk_decay = exp(last); }
    }
    // V' = U − W S for the block's columns.
    for (var x = lid; x < rows * BV; x += WG) {
      let i = x / BV;
      let jj = x % BV;
      let u = p.off_u + v_index(t0 + i, h, j0 + jj);
      var acc = scratch[u];
      for (var a = 0u; a < DK; a++) { acc -= scratch[w_index(t0 + i, h, a)] * s_blk[a * BV + jj]; }
      v_new[x] = acc;
      scratch[u] = acc;
    }
    workgroupBarrier();
    for (var x = lid; x < DK * BV; x += WG) {
      let a = x / BV;
      let jj = x % BV;
      var acc = chunk_decay * s_blk[x];
      for (var i = 0u; i < rows; i++) { acc += k_decay[i] * k[qk_index(t0 + i, h, a)] * v_new[i * BV + jj]; }
      s_blk[x] = acc;
    }
  }
  workgroupBarrier();
  for (var x = lid; x < DK * BV; x += WG) { state[(h * DK + x / BV) * DV + j0 + x % BV] = s_blk[x]; }
}
