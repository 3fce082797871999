// Gated delta rule, token by token (architecture §4.2 step 7), state S_h [DK, DV] f32 in place:
//   S ← e^g S;  u = Sᵀk;  δ = β(v − u);  S ← S + k δᵀ;  o = Sᵀq     (k, q of key head h / (Hv/Hk))
// Every column j of S evolves on its own, so LANES threads own one column (rows lane, lane+LANES, …
// in registers): the state is read once and written once per call, and the two column sums per
// token are a butterfly over the LANES lanes (subgroup shuffles; LANES = 1 without subgroups).
// β and g come from the projection's b, a columns (gdn_gates.wgsl): the workgroup computes them for
// a block of WG tokens at a time, one token per thread, into workgroup memory, so the token loop
// pays one shared load for them.
// Workgroup (x, y) = (block of COLS columns, value head).
#if HAS_SUBGROUPS
enable subgroups;
#endif
#include "gdn_gates"

const LANES: u32 = {{LANES}}u;
const COLS: u32 = {{COLS}}u;
const DK: u32 = {{KEY_DIM}}u;
const DV: u32 = {{VALUE_DIM}}u;
const ROWS: u32 = DK / LANES;  // state rows per thread
const WG: u32 = LANES * COLS;

struct Params {
  tokens: u32,
  key_heads: u32,
  value_heads: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;     // [T, Hk, DK]
@group(0) @binding(2) var<storage, read> k: array<f32>;     // [T, Hk, DK]
@group(0) @binding(3) var<storage, read> v: array<f32>;     // [T, Hv, DV]
@group(0) @binding(4) var<storage, read> proj: array<f32>;  // [T, C + Hv·DV + 2·Hv]: b, a
@group(0) @binding(5) var<storage, read> a_log: array<f32>; // [Hv]
@group(0) @binding(6) var<storage, read> dt_bias: array<f32>; // [Hv]
@group(0) @binding(7) var<storage, read_write> state: array<f32>;  // [Hv, DK, DV]
@group(0) @binding(8) var<storage, read_write> out: array<f32>;    // [T, Hv, DV]

var<workgroup> block_gates: array<vec2f, WG>;  // (β, e^g) of tokens t0 .. t0 + WG − 1

// Sum over the LANES consecutive lanes that share a column.
fn lane_sum(x: f32) -> f32 {
  var s = x;
#if HAS_SUBGROUPS
  for (var m = 1u; m < LANES; m <<= 1u) { s += subgroupShuffleXor(s, m); }
#endif
  return s;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wg.y;
  let lane = lid % LANES;
  let col = wg.x * COLS + lid / LANES;
  let live = col < DV;
  let j = min(col, DV - 1u);  // idle threads shadow the last column and never write
  let kh = h / (p.value_heads / p.key_heads);
  let s_base = h * DK * DV + j;

  var s: array<f32, ROWS>;
  for (var r = 0u; r < ROWS; r++) { s[r] = state[s_base + (lane + r * LANES) * DV]; }

  for (var t0 = 0u; t0 < p.tokens; t0 += WG) {
    workgroupBarrier();  // the previous block's gates have been read
    if (t0 + lid < p.tokens) {
      let bg = delta_gates(t0 + lid, h, p.key_heads, DK, p.value_heads, DV);
      block_gates[lid] = vec2f(bg.x, exp(bg.y));
    }
    workgroupBarrier();
    for (var t = t0; t < min(t0 + WG, p.tokens); t++) {
      let qk_base = (t * p.key_heads + kh) * DK + lane;
      let gate = t * p.value_heads + h;
      let beta_decay = block_gates[t - t0];
      var u = 0.0;
      for (var r = 0u; r < ROWS; r++) {
        s[r] *= beta_decay.y;
        u += s[r] * k[qk_base + r * LANES];
      }
      let delta = beta_decay.x * (v[gate * DV + j] - lane_sum(u));
      var o = 0.0;
      for (var r = 0u; r < ROWS; r++) {
        s[r] += k[qk_base + r * LANES] * delta;
        o += s[r] * q[qk_base + r * LANES];
      }
      o = lane_sum(o);
      if (live && lane == 0u) { out[gate * DV + j] = o; }
    }
  }

  if (live) {
    for (var r = 0u; r < ROWS; r++) { state[s_base + (lane + r * LANES) * DV] = s[r]; }
  }
}
