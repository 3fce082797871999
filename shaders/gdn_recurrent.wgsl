// Gated delta rule, token by token (architecture §4.2 step 7), state S_h [DK, DV] f32 in place:
//   S ← e^g S;  u = Sᵀk;  δ = β(v − u);  S ← S + k δᵀ;  o = Sᵀq     (k, q of key head h / (Hv/Hk))
// Every column j of S evolves on its own, so LANES threads own one column (rows lane, lane+LANES, …
// in registers): the state is read once and written once per call, and the two column sums per
// token are a butterfly over the LANES lanes (subgroup shuffles; LANES = 1 without subgroups).
// β and g come from the projection's b, a columns (gdn_gates.wgsl): the workgroup computes them for
// a block of WG tokens at a time, one token per thread, into workgroup memory, so the token loop
// pays one shared load for them.
// Two variants from this source:
//   sequential (prefill baseline, and any T): q, k, v from the prep kernel; workgroup (x, y) =
//     (block of COLS columns, value head); o written raw for the gated norm.
//   DECODE_STEP (one token: the decode graph runs in_proj → this → out_proj): the rest of the mixer
//     in this one dispatch. Workgroup y = key head, COLS ≥ DV (every column of a head):
//       conv + SiLU (gdn_conv.wgsl) of the key head's q, k channels, l2norm (q also ·dk^−½) into
//       workgroup memory (§4.2 steps 2–5); then for each value head of its group: v's conv, the
//       step above, and the gated RMSNorm of §2, out = o·rsqrt(mean_j o² + eps)·w·silu(z).
//     The workgroup is the only reader of every conv channel it touches, so each thread shifts the
//     conv state of its own channels.
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
#if DECODE_STEP
  l2_eps: f32,    // q/k l2norm epsilon
  norm_eps: f32,  // gated RMSNorm epsilon
#endif
}

@group(0) @binding(0) var<uniform> p: Params;
#if DECODE_STEP
#include "gdn_conv"
#include "reduce"
@group(0) @binding(1) var<storage, read> proj: array<f32>;  // [1, C + Hv·DV + 2·Hv]: qkv | z | b | a
@group(0) @binding(2) var<storage, read> conv_weight: array<f32>;  // [C, K]
@group(0) @binding(3) var<storage, read_write> conv_state: array<f32>;  // [K−1, C]
@group(0) @binding(4) var<storage, read> a_log: array<f32>;   // [Hv]
@group(0) @binding(5) var<storage, read> dt_bias: array<f32>; // [Hv]
@group(0) @binding(6) var<storage, read> norm_w: array<f32>;  // [DV] gated-norm weight (plain w)
@group(0) @binding(7) var<storage, read_write> state: array<f32>;  // [Hv, DK, DV]
@group(0) @binding(8) var<storage, read_write> out: array<f32>;    // [1, Hv·DV], normalised and gated

var<workgroup> qk_norm: array<f32, 2u * DK>;  // the key head's q (l2-normalised, ·dk^−½), then k
var<workgroup> v_conv: array<f32, DV>;        // the current value head's v

fn conv_channels() -> u32 { return 2u * p.key_heads * DK + p.value_heads * DV; }
fn proj_stride() -> u32 { return conv_channels() + p.value_heads * DV + 2u * p.value_heads; }

fn query(t: u32, kh: u32, i: u32) -> f32 { return qk_norm[i]; }
fn key(t: u32, kh: u32, i: u32) -> f32 { return qk_norm[DK + i]; }
fn value(t: u32, h: u32, j: u32) -> f32 { return v_conv[j]; }

// q and k of key head kh → qk_norm (every thread must call: it reduces over the workgroup).
fn prepare_qk(kh: u32, lid: u32, sg_size: u32) {
  let key_all = p.key_heads * DK;
  var ss = vec2f(0.0);  // Σq², Σk² of this thread's elements
  for (var e = lid; e < 2u * DK; e += WG) {
    let is_q = e < DK;
    let c = select(key_all + kh * DK + e - DK, kh * DK + e, is_q);
    let y = conv_silu(c, 0u, conv_channels(), proj_stride());
    qk_norm[e] = y;
    ss += select(vec2f(0.0, y * y), vec2f(y * y, 0.0), is_q);
  }
  let q_scale = qk_scale(workgroup_sum(ss.x, lid, sg_size), true, DK, p.l2_eps);
  let k_scale = qk_scale(workgroup_sum(ss.y, lid, sg_size), false, DK, p.l2_eps);
  for (var e = lid; e < 2u * DK; e += WG) { qk_norm[e] *= select(k_scale, q_scale, e < DK); }
}

// v of value head h → v_conv (read after the token loop's barrier).
fn prepare_v(h: u32, lid: u32) {
  for (var j = lid; j < DV; j += WG) {
    v_conv[j] = conv_silu(2u * p.key_heads * DK + h * DV + j, 0u, conv_channels(), proj_stride());
  }
}

// Gated RMSNorm of head h's outputs (owner: the one thread holding column j's o), every thread calls.
fn store_output(t: u32, h: u32, j: u32, o: f32, owner: bool, lid: u32, sg_size: u32) {
  let ss = workgroup_sum(select(0.0, o * o, owner), lid, sg_size);
  if (owner) {
    let z = proj[t * proj_stride() + conv_channels() + h * DV + j];
    out[(t * p.value_heads + h) * DV + j] = o * inverseSqrt(ss / f32(DV) + p.norm_eps) * norm_w[j] * silu(z);
  }
}
#else
@group(0) @binding(1) var<storage, read> q: array<f32>;     // [T, Hk, DK]
@group(0) @binding(2) var<storage, read> k: array<f32>;     // [T, Hk, DK]
@group(0) @binding(3) var<storage, read> v: array<f32>;     // [T, Hv, DV]
@group(0) @binding(4) var<storage, read> proj: array<f32>;  // [T, C + Hv·DV + 2·Hv]: b, a
@group(0) @binding(5) var<storage, read> a_log: array<f32>; // [Hv]
@group(0) @binding(6) var<storage, read> dt_bias: array<f32>; // [Hv]
@group(0) @binding(7) var<storage, read_write> state: array<f32>;  // [Hv, DK, DV]
@group(0) @binding(8) var<storage, read_write> out: array<f32>;    // [T, Hv, DV]

fn query(t: u32, kh: u32, i: u32) -> f32 { return q[(t * p.key_heads + kh) * DK + i]; }
fn key(t: u32, kh: u32, i: u32) -> f32 { return k[(t * p.key_heads + kh) * DK + i]; }
fn value(t: u32, h: u32, j: u32) -> f32 { return v[(t * p.value_heads + h) * DV + j]; }

fn store_output(t: u32, h: u32, j: u32, o: f32, owner: bool, lid: u32, sg_size: u32) {
  if (owner) { out[(t * p.value_heads + h) * DV + j] = o; }
}
#endif

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
fn main(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(local_invocation_index) lid: u32,
#if HAS_SUBGROUPS
  @builtin(subgroup_size) sg_size: u32,
#endif
) {
#if !HAS_SUBGROUPS
  let sg_size = 0u;
#endif
  let lane = lid % LANES;
  let col = wg.x * COLS + lid / LANES;
  let live = col < DV;
  let j = min(col, DV - 1u);  // idle threads shadow the last column and never write
  let group = p.value_heads / p.key_heads;
#if DECODE_STEP
  prepare_qk(wg.y, lid, sg_size);
  let first_head = wg.y * group;
  let heads = group;
#else
  let first_head = wg.y;
  let heads = 1u;
#endif

  for (var h = first_head; h < first_head + heads; h++) {
#if DECODE_STEP
    prepare_v(h, lid);
#endif
    let kh = h / group;
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
        let beta_decay = block_gates[t - t0];
        var u = 0.0;
        for (var r = 0u; r < ROWS; r++) {
          s[r] *= beta_decay.y;
          u += s[r] * key(t, kh, lane + r * LANES);
        }
        let delta = beta_decay.x * (value(t, h, j) - lane_sum(u));
        var o = 0.0;
        for (var r = 0u; r < ROWS; r++) {
          s[r] += key(t, kh, lane + r * LANES) * delta;
          o += s[r] * query(t, kh, lane + r * LANES);
        }
        store_output(t, h, j, lane_sum(o), live && lane == 0u, lid, sg_size);
      }
    }

    if (live) {
      for (var r = 0u; r < ROWS; r++) { state[s_base + (lane + r * LANES) * DV] = s[r]; }
    }
  }
}
