// Attention prep (architecture §3 steps 1–2) for prefill: from the fused projection row of each token
//   proj[t] = [ per head h: query_h (D) | gate_h (D) ] [ k (KV_HEADS·D) ] [ v (KV_HEADS·D) ]
// writes q = RoPE(q_norm(query_h)) to q[t, h], and k = RoPE(k_norm(k_j)), v_j into the KV cache
// rows pos0 + t; the norm, RoPE (§3, §9.3) and cache stores are attention_rope.wgsl.
// One workgroup per (head slot, token): slots [0, H) are query heads, [H, H+Hkv) key heads,
// [H+Hkv, H+2·Hkv) value heads. (Decode does this inside attention.wgsl DECODE_PREP.)
#if HAS_SUBGROUPS
enable subgroups;
#endif

const WG: u32 = 64u;
const D: u32 = {{HEAD_DIM}}u;
const HALF: u32 = {{ROTARY_DIM}}u / 2u;
#include "reduce"
#include "attention_rope"

struct Params {
  tokens: u32,
  pos0: u32,
  heads: u32,
  kv_heads: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Bindings 1–6 (proj, norms, inv_freq, caches): attention_rope.wgsl.
@group(0) @binding(7) var<storage, read_write> q: array<f32>;

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
  let stride = 2u * (p.heads + p.kv_heads) * D;
  let is_query = slot < p.heads;
  let is_key = !is_query && slot < p.heads + p.kv_heads;
  var src = t * stride + 2u * p.heads * D;
  if (is_query) { src = t * stride + slot * 2u * D; }
  else { src += (slot - p.heads) * D; }  // k heads then v heads are contiguous

  let cache_row = (p.pos0 + t) * p.kv_heads;
  if (!is_query && !is_key) {
    load_row(src, lid);
    store_cache(false, cache_row + slot - p.heads - p.kv_heads, lid);
    return;
  }
  load_norm_rope(src, is_query, f32(p.pos0 + t), lid, sg_size);
  if (is_query) {
    let dst = (t * p.heads + slot) * D;
    for (var i = lid; i < D; i += WG) { q[dst + i] = row[i]; }
  } else {
    store_cache(true, cache_row + slot - p.heads, lid);
  }
}
