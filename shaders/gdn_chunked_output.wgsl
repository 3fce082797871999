// Chunked gated delta rule, stage 3 of 3 (architecture §4.3): the output of each chunk from its
// chunk-start state S and V' (both left by the scan), one workgroup per (chunk, value head):
//   O = diag(e^γ) Q S + P V',   P = (Q Kᵀ) ⊙ D from the intra stage.
// A thread owns column col0 + lid % CW and rows lid / CW + m·RG; Q comes through KT-column tiles.
#include "gdn_chunked_common"

const WG: u32 = 256u;
const KT: u32 = {{KEY_TILE}}u;
const CW: u32 = min(DV, 64u);
const RG: u32 = WG / CW;
const MR: u32 = (L + RG - 1u) / RG;

@group(0) @binding(1) var<storage, read> q: array<f32>;  // [T, Hk, DK]
@group(0) @binding(2) var<storage, read> scratch: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;  // [T, Hv, DV]

var<workgroup> p_tri: array<f32, NTRI>;
var<workgroup> q_tile: array<f32, L * KT>;
var<workgroup> growth: array<f32, L>;  // e^(γ_i)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wg.x;
  let h = wg.y;
  let t0 = c * L;
  let rows = min(L, p.tokens - t0);
  let p_base = p.off_p + (c * p.value_heads + h) * NTRI;
  for (var e = lid; e < NTRI; e += WG) { p_tri[e] = scratch[p_base + e]; }
  if (lid < L) { growth[lid] = select(0.0, exp(scratch[gamma_index(t0 + min(lid, rows - 1u), h)]), lid < rows); }
  let r0 = lid / CW;
  for (var col0 = 0u; col0 < DV; col0 += CW) {
    let col = col0 + lid % CW;
    let live = r0 < RG && col < DV;
    let cc = min(col, DV - 1u);
    var acc = array<f32, MR>();  // explicit: see gdn_chunked_intra.wgsl
    for (var a0 = 0u; a0 < DK; a0 += KT) {
      workgroupBarrier();
      for (var x = lid; x < L * KT; x += WG) {
        let i = x / KT;
        q_tile[x] = select(0.0, q[qk_index(t0 + min(i, rows - 1u), h, a0 + x % KT)], i < rows);
      }
      workgroupBarrier();
      for (var a = 0u; a < KT; a++) {
        let s = scratch[sc_index(c, h, a0 + a, cc)];
        for (var m = 0u; m < MR; m++) {
          let i = r0 + m * RG;
          if (i < L) { acc[m] += q_tile[i * KT + a] * s; }
        }
      }
    }
    for (var m = 0u; m < MR; m++) {
      let i = r0 + m * RG;
      if (i < L) { acc[m] *= growth[i]; }
    }
    for (var j = 0u; j < rows; j++) {
      let vj = scratch[p.off_u + v_index(t0 + j, h, cc)];
      for (var m = 0u; m < MR; m++) {
        let i = r0 + m * RG;
        if (i < L && j <= i) { acc[m] += p_tri[tri(i, j)] * vj; }
      }
    }
    for (var m = 0u; m < MR; m++) {
      let i = r0 + m * RG;
      if (live && i < rows) { out[v_index(t0 + i, h, col)] = acc[m]; }
    }
  }
}
