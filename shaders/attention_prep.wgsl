// Attention prep (architecture §3 steps 1–2): from the fused projection row of each token
//   proj[t] = [ per head h: query_h (D) | gate_h (D) ] [ k (KV_HEADS·D) ] [ v (KV_HEADS·D) ]
// writes q = RoPE(q_norm(query_h)) to q[t, h], and k = RoPE(k_norm(k_j)), v_j into the KV cache
// rows pos0 + t. q_norm/k_norm are zero-centred RMSNorms per head (§2): x·rsqrt(mean(x²)+eps)·(1+w).
// RoPE is rotate-half on the first ROTARY dims (§3, §9.3): pairs (i, i + ROTARY/2),
//   inv_freq_i = θ^(−2i/ROTARY) (f32), angle = f32(pos)·inv_freq_i (f32).
// One workgroup per (head slot, token): slots [0, H) are query heads, [H, H+Hkv) key heads,
// [H+Hkv, H+2·Hkv) value heads. KV_F16 stores the cache as two halves per u32 (pack2x16float).
#if HAS_SUBGROUPS
enable subgroups;
#endif

const WG: u32 = 64u;
const D: u32 = {{HEAD_DIM}}u;
const HALF: u32 = {{ROTARY_DIM}}u / 2u;
#include "reduce"

struct Params {
  tokens: u32,
  pos0: u32,
  heads: u32,
  kv_heads: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> proj: array<f32>;
@group(0) @binding(2) var<storage, read> q_norm: array<f32>;
@group(0) @binding(3) var<storage, read> k_norm: array<f32>;
// inv_freq_i = θ^(−2i/ROTARY) rounded to f32 on the CPU, as HF computes it once in f32.
@group(0) @binding(4) var<storage, read> inv_freq: array<f32>;
@group(0) @binding(5) var<storage, read_write> q: array<f32>;
#if KV_F16
@group(0) @binding(6) var<storage, read_write> k_cache: array<u32>;
@group(0) @binding(7) var<storage, read_write> v_cache: array<u32>;
#else
@group(0) @binding(6) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(7) var<storage, read_write> v_cache: array<f32>;
#endif

// The head being prepared, normalised and rotated in place.
var<workgroup> row: array<f32, D>;

// (sin x, cos x) for x ≥ 0 to ~1 ulp after reduction by π/2 (Cody–Waite; n·PIO2_HI is exact for
// n < 2^16): WGSL only promises 2^-11 absolute for sin/cos, and SwiftShader delivers about that.
const PIO2_HI: f32 = 1.5703125;
const PIO2_LO: f32 = 4.8382679489661923e-4;

fn sin_cos(x: f32) -> vec2f {
  let n = round(x * 0.6366197723675814);
  let r = (x - n * PIO2_HI) - n * PIO2_LO;
  let r2 = r * r;
  // Minimax polynomials on [−π/4, π/4] (Cephes sinf/cosf).
  let s = r + r * r2 * (-1.6666654611e-1 + r2 * (8.3321608736e-3 + r2 * -1.9515295891e-4));
  let c = 1.0 - 0.5 * r2 + r2 * r2 * (4.166664568298827e-2 + r2 * (-1.388731625493765e-3 + r2 * 2.443315711809948e-5));
  switch (u32(n) & 3u) {
    case 0u: { return vec2f(s, c); }
    case 1u: { return vec2f(c, -s); }
    case 2u: { return vec2f(-s, -c); }
    default: { return vec2f(-c, s); }
  }
}

fn store_cache(is_key: bool, cache_row: u32, lid: u32) {
#if KV_F16
  let base = cache_row * (D / 2u);
  for (var m = lid; m < D / 2u; m += WG) {
    let packed = pack2x16float(vec2f(row[2u * m], row[2u * m + 1u]));
    if (is_key) { k_cache[base + m] = packed; } else { v_cache[base + m] = packed; }
  }
#else
  let base = cache_row * D;
  for (var i = lid; i < D; i += WG) {
    if (is_key) { k_cache[base + i] = row[i]; } else { v_cache[base + i] = row[i]; }
  }
#endif
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
  let slot = wg.x;
  let t = wg.y;
  if (t >= p.tokens) { return; }  // uniform per workgroup
  let stride = 2u * (p.heads + p.kv_heads) * D;
  let is_query = slot < p.heads;
  let is_key = !is_query && slot < p.heads + p.kv_heads;
  var src = t * stride + 2u * p.heads * D;
  if (is_query) { src = t * stride + slot * 2u * D; }
  else { src += (slot - p.heads) * D; }  // k heads then v heads are contiguous

  var ss = 0.0;
  for (var i = lid; i < D; i += WG) {
    let x = proj[src + i];
    row[i] = x;
    ss += x * x;
  }
  let cache_row = (p.pos0 + t) * p.kv_heads;
  if (!is_query && !is_key) {
    workgroupBarrier();
    store_cache(false, cache_row + slot - p.heads - p.kv_heads, lid);
    return;
  }
  let inv_rms = inverseSqrt(workgroup_sum(ss, lid, sg_size) / f32(D) + p.eps);
  let pos = f32(p.pos0 + t);
  // Thread j owns the pair (j, j + HALF) for j < HALF and element j + HALF beyond the rotary dims.
  for (var j = lid; j < D - HALF; j += WG) {
    if (j < HALF) {
      let w_a = select(k_norm[j], q_norm[j], is_query);
      let w_b = select(k_norm[j + HALF], q_norm[j + HALF], is_query);
      let a = row[j] * inv_rms * (1.0 + w_a);
      let b = row[j + HALF] * inv_rms * (1.0 + w_b);
      let sc = sin_cos(pos * inv_freq[j]);
      row[j] = a * sc.y - b * sc.x;
      row[j + HALF] = b * sc.y + a * sc.x;
    } else {
      let e = j + HALF;
      row[e] = row[e] * inv_rms * (1.0 + select(k_norm[e], q_norm[e], is_query));
    }
  }
  workgroupBarrier();
  if (is_query) {
    let dst = (t * p.heads + slot) * D;
    for (var i = lid; i < D; i += WG) { q[dst + i] = row[i]; }
  } else {
    store_cache(true, cache_row + slot - p.heads, lid);
  }
}
