// The per-head part of attention prep (architecture §3 steps 1–2), shared by attention_prep.wgsl
// (prefill) and attention.wgsl DECODE_PREP (decode): one head row in workgroup memory,
//   q/k: x·rsqrt(mean(x²) + eps)·(1 + w) (zero-centred RMSNorm, §2), then rotate-half RoPE on the
//        first ROTARY dims: pairs (i, i + ROTARY/2), inv_freq_i = θ^(−2i/ROTARY) (f32),
//        angle = f32(pos)·inv_freq_i (f32);  v: as is;
// and its store into a cache row. It declares bindings 1–6, what it reads and the caches it writes
// (KV_F16: two halves per u32 via pack2x16float); the includer declares WG, D, HALF (= ROTARY/2)
// and `p.eps`, binds its output at 7 and includes "reduce". Every thread of the workgroup must
// call these functions.

@group(0) @binding(1) var<storage, read> proj: array<f32>;
@group(0) @binding(2) var<storage, read> q_norm: array<f32>;
@group(0) @binding(3) var<storage, read> k_norm: array<f32>;
// inv_freq_i = θ^(−2i/ROTARY) rounded to f32 on the CPU, as HF computes it once in f32.
@group(0) @binding(4) var<storage, read> inv_freq: array<f32>;
#if KV_F16
@group(0) @binding(5) var<storage, read_write> k_cache: array<vec2u>;  // 4 halves
@group(0) @binding(6) var<storage, read_write> v_cache: array<u32>;    // 2 halves
#else
@group(0) @binding(5) var<storage, read_write> k_cache: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> v_cache: array<vec2f>;
#endif

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

// row ← proj[src .. src + D), as is (a v head).
fn load_row(src: u32, lid: u32) {
  for (var i = lid; i < D; i += WG) { row[i] = proj[src + i]; }
  workgroupBarrier();
}

// row ← RoPE(norm(proj[src .. src + D))) with the q or the k norm weight, at position pos.
fn load_norm_rope(src: u32, is_query: bool, pos: f32, lid: u32, sg_size: u32) {
  var ss = 0.0;
  for (var i = lid; i < D; i += WG) {
    let x = proj[src + i];
    row[i] = x;
    ss += x * x;
  }
  let inv_rms = inverseSqrt(workgroup_sum(ss, lid, sg_size) / f32(D) + p.eps);
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
}

// Elements 4·i4 .. 4·i4+3 of row as the key cache stores them, and elements 2·m, 2·m+1 as the
// value cache stores them (KV_F16: the packed halves).
#if KV_F16
fn cache_k4(i4: u32) -> vec2u {
  return vec2u(pack2x16float(vec2f(row[4u * i4], row[4u * i4 + 1u])), pack2x16float(vec2f(row[4u * i4 + 2u], row[4u * i4 + 3u])));
}
fn cache_v2(m: u32) -> u32 { return pack2x16float(vec2f(row[2u * m], row[2u * m + 1u])); }
#else
fn cache_k4(i4: u32) -> vec4f { return vec4f(row[4u * i4], row[4u * i4 + 1u], row[4u * i4 + 2u], row[4u * i4 + 3u]); }
fn cache_v2(m: u32) -> vec2f { return vec2f(row[2u * m], row[2u * m + 1u]); }
#endif

// Cache row cache_row (= position·Hkv + kv head) ← row.
fn store_cache(is_key: bool, cache_row: u32, lid: u32) {
  if (is_key) {
    for (var i4 = lid; i4 < D / 4u; i4 += WG) { k_cache[cache_row * (D / 4u) + i4] = cache_k4(i4); }
  } else {
    for (var m = lid; m < D / 2u; m += WG) { v_cache[cache_row * (D / 2u) + m] = cache_v2(m); }
  }
}
