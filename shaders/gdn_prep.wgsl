// Gated DeltaNet prep (architecture §4.2 steps 2, 3 and 5, §9.7: everything f32). The fused projection
// row of token t is proj[t] = [ qkv (C = 2·Hk·dk + Hv·dv: q heads | k heads | v heads) | z (Hv·dv) | b (Hv) | a (Hv) ];
// β and g are not computed here but where they are read (gdn_gates.wgsl). Two stages from this source:
//   CONV   one workgroup per (head slot, token): causal depthwise conv over the K columns
//          (state ++ proj), SiLU, then q ← l2norm(q)·dk^−½, k ← l2norm(k), v as is.
//          Slots [0, Hk) are q heads, [Hk, 2·Hk) k heads, [2·Hk, 2·Hk+Hv) v heads.
//          With one token, each channel is read by one thread only, which then shifts its own
//          conv state (decode itself runs gdn_recurrent.wgsl DECODE_STEP, which does the same).
//   SHIFT  (more than one token, after CONV: it overwrites what CONV reads) one thread per channel:
//          conv state ← last K−1 columns of (state ++ proj).
// The conv itself: gdn_conv.wgsl.
#if HAS_SUBGROUPS
enable subgroups;
#endif

const WG: u32 = 64u;

struct Params {
  tokens: u32,
  key_heads: u32,
  value_heads: u32,
  key_dim: u32,
  value_dim: u32,
  eps: f32,  // l2norm epsilon
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> proj: array<f32>;
#include "gdn_conv"

fn channels() -> u32 { return 2u * p.key_heads * p.key_dim + p.value_heads * p.value_dim; }
fn proj_stride() -> u32 { return channels() + p.value_heads * p.value_dim + 2u * p.value_heads; }

#if SHIFT
@group(0) @binding(2) var<storage, read_write> conv_state: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let c = gid.x + gid.y * nwg.x * WG;
  if (c < channels()) { shift_conv_state(c, channels(), proj_stride()); }
}
#else
#include "reduce"

@group(0) @binding(2) var<storage, read> conv_weight: array<f32>;  // [C, KERNEL]
@group(0) @binding(3) var<storage, read_write> conv_state: array<f32>;
@group(0) @binding(4) var<storage, read_write> q: array<f32>;  // [T, Hk, dk]
@group(0) @binding(5) var<storage, read_write> k: array<f32>;  // [T, Hk, dk]
@group(0) @binding(6) var<storage, read_write> v: array<f32>;  // [T, Hv, dv]

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
  let slot = wg.x;
  let t = wg.y;
  if (t >= p.tokens) { return; }  // uniform per workgroup
  let c_all = channels();
  let stride = proj_stride();
  let key_all = p.key_heads * p.key_dim;
  if (slot >= 2u * p.key_heads) {
    let h = slot - 2u * p.key_heads;
    for (var i = lid; i < p.value_dim; i += WG) {
      v[(t * p.value_heads + h) * p.value_dim + i] = conv_silu(2u * key_all + h * p.value_dim + i, t, c_all, stride);
    }
    return;
  }
  // q or k head: the unnormalised values go to the output first, then each thread rescales its own.
  let is_q = slot < p.key_heads;
  let h = select(slot - p.key_heads, slot, is_q);
  let c0 = select(key_all, 0u, is_q) + h * p.key_dim;
  let dst = (t * p.key_heads + h) * p.key_dim;
  var ss = 0.0;
  for (var i = lid; i < p.key_dim; i += WG) {
    let y = conv_silu(c0 + i, t, c_all, stride);
    ss += y * y;
    if (is_q) { q[dst + i] = y; } else { k[dst + i] = y; }
  }
  let scale = qk_scale(workgroup_sum(ss, lid, sg_size), is_q, p.key_dim, p.eps);
  for (var i = lid; i < p.key_dim; i += WG) {
    if (is_q) { q[dst + i] *= scale; } else { k[dst + i] *= scale; }
  }
}
#endif
