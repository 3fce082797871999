// Chunked gated delta rule, stage 3 of 3 (architecture §4.3): the output of each chunk from its
// chunk-start state S and V' (both left by the scan), one workgroup per (chunk, value head, block
// of QB column quads):
//   O = diag(e^γ) Q S + P V',   P = (Q Kᵀ) ⊙ D from the intra stage.
// A thread owns 4 columns (one vec4) and rows r0 + m·RG; Q rows and S come straight from memory.
#include "gdn_chunked_common"

const WG: u32 = 256u;
const QB: u32 = {{COL_QUADS}}u;
const RG: u32 = WG / QB;
const MR: u32 = (L + RG - 1u) / RG;

@group(0) @binding(1) var<storage, read> q: array<vec4f>;          // [T, Hk, DK]
@group(0) @binding(2) var<storage, read> scratch: array<f32>;
@group(0) @binding(3) var<storage, read> scratch4: array<vec4f>;   // the same buffer, by quads
@group(0) @binding(4) var<storage, read_write> out: array<vec4f>;  // [T, Hv, DV]

var<workgroup> p_tri: array<f32, NTRI>;
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
  let r0 = lid / QB;
  let quad = wg.z * QB + lid % QB;
  var acc = array<vec4f, MR>();  // explicit zero: see gdn_chunked_common.wgsl
  var q_row: array<u32, MR>;
  for (var m = 0u; m < MR; m++) { q_row[m] = qk_index(t0 + min(r0 + m * RG, rows - 1u), h, 0u) / 4u; }
  let s_base = sc_index(c, h, 0u, 4u * quad) / 4u;
  for (var a4 = 0u; a4 < DK / 4u; a4++) {
    // Rows 4·a4 .. 4·a4+3 of S at this quad, as the columns of a matrix: q · S4 = Σ_e q[e]·S[4a4+e].
    let s4 = mat4x4f(scratch4[s_base + (4u * a4) * (DV / 4u)], scratch4[s_base + (4u * a4 + 1u) * (DV / 4u)],
                     scratch4[s_base + (4u * a4 + 2u) * (DV / 4u)], scratch4[s_base + (4u * a4 + 3u) * (DV / 4u)]);
    for (var m = 0u; m < MR; m++) { acc[m] += s4 * q[q_row[m] + a4]; }
  }
  workgroupBarrier();  // P and growth ready
  for (var m = 0u; m < MR; m++) { acc[m] *= growth[min(r0 + m * RG, L - 1u)]; }
  for (var j0 = 0u; j0 < L; j0 += 4u) {  // batches of 4 loads in flight; padding rows of P are zero
    var vj: array<vec4f, 4>;
    for (var b = 0u; b < 4u; b++) { vj[b] = scratch4[(p.off_u + v_index(t0 + min(j0 + b, rows - 1u), h, 4u * quad)) / 4u]; }
    for (var m = 0u; m < MR; m++) {
      let i = r0 + m * RG;
      for (var b = 0u; b < 4u; b++) {
        if (j0 + b <= i && i < L) { acc[m] += p_tri[tri(i, j0 + b)] * vj[b]; }
      }
    }
  }
  for (var m = 0u; m < MR; m++) {
    let i = r0 + m * RG;
    if (i < rows) { out[v_index(t0 + i, h, 0u) / 4u + quad] = acc[m]; }
  }
}
