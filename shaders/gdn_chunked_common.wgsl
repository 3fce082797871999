// Shared by the chunked gated-delta-rule stages (gdn_chunked_{intra,scan,output}.wgsl, §4.3).
// Chunk c holds tokens c·L .. c·L+L−1 of the call; rows past the call's tokens count as padding
// (β = 0, g = 0, k = v = 0: they change nothing). One scratch buffer holds, at element offsets:
//   u      [T, Hv, DV]              U = M⁻¹ diag(β) V, overwritten with V' = U − W S by the scan
//   w      [T, Hv, DK]              W = M⁻¹ diag(β e^γ) K
//   gamma  [T, Hv]                  γ_i = Σ_{m≤i} g_m within the chunk
//   p      [chunks, Hv, L(L+1)/2]   P = (Q Kᵀ) ⊙ D, lower triangle with the diagonal, packed by rows
//   sc     [chunks, Hv, DK, DV]     the state at the start of each chunk
// Every region starts at a multiple of 4 elements (vec4 access). Register arrays are zeroed
// explicitly (`var a = array<T, N>();`): a loop-local `var a: array<T, N>;` is not re-zeroed on
// every iteration by every implementation (seen on SwiftShader).
const L: u32 = {{CHUNK}}u;
const DK: u32 = {{KEY_DIM}}u;
const DV: u32 = {{VALUE_DIM}}u;
const NTRI: u32 = L * (L + 1u) / 2u;

struct Params {
  tokens: u32,
  key_heads: u32,
  value_heads: u32,
  off_u: u32,
  off_w: u32,
  off_gamma: u32,
  off_p: u32,
  off_sc: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// Packed index of (i, j), j ≤ i, in a lower triangle stored row by row.
fn tri(i: u32, j: u32) -> u32 { return i * (i + 1u) / 2u + j; }

fn key_head(h: u32) -> u32 { return h / (p.value_heads / p.key_heads); }
fn qk_index(t: u32, h: u32, a: u32) -> u32 { return (t * p.key_heads + key_head(h)) * DK + a; }
fn v_index(t: u32, h: u32, j: u32) -> u32 { return (t * p.value_heads + h) * DV + j; }
fn w_index(t: u32, h: u32, a: u32) -> u32 { return p.off_w + (t * p.value_heads + h) * DK + a; }
fn gamma_index(t: u32, h: u32) -> u32 { return p.off_gamma + t * p.value_heads + h; }
fn sc_index(c: u32, h: u32, a: u32, j: u32) -> u32 { return p.off_sc + ((c * p.value_heads + h) * DK + a) * DV + j; }
