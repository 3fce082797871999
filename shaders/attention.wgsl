// Causal GQA attention over the KV cache with an online softmax (architecture §3 steps 3–5):
//   out[t, h] = softmax_p(q[t,h]·k[p, κ(h)] / √D) · v[p, κ(h)]  over p ≤ pos0 + t,  κ(h) = floor(h / (H/Hkv)),
// then × sigmoid(gate[t, h]) with the gate read from the fused projection row (§3 step 5).
// A workgroup owns ROWS = HPW·BT query rows: HPW heads of one GQA group (so each K/V row it
// reads serves all of them) × BT consecutive tokens, and walks a range of cached positions in
// tiles of TILE: scores (one thread per row × position), running max/sum per row, then
// acc = acc·α + Σ w·v (one thread per column pair, all rows in registers).
//   SPLIT_KV (decode, BT = 1): workgroup x is split s of the context (flash-decoding); it writes
//     the partial (acc, max, sum) of its rows for attention_combine.wgsl.
//   otherwise (prefill, and decode over a context of one split with BT = 1): workgroup x is a
//     block of BT tokens; it covers positions 0..its last token's position and writes the
//     normalised, gated output.
//   DECODE_PREP (decode, with either of the above at BT = 1): the attention prep of the token is
//     done here (attention_rope.wgsl), not by attention_prep.wgsl: each workgroup norms and rotates
//     its HPW query heads from the projection into q_tile, and the key/value row of position pos0
//     of its KV head into workgroup memory (rounded as the cache stores them), which it reads for
//     pos0 instead of the cache. One workgroup per KV head (x = 0, its first head block) also
//     writes that row into the cache, and no workgroup reads it from there.
#if DECODE_PREP && HAS_SUBGROUPS
enable subgroups;
#endif

const WG: u32 = {{WG}}u;
const D: u32 = {{HEAD_DIM}}u;
const HPW: u32 = {{HEADS_PER_WG}}u;
const BT: u32 = {{TOKENS_PER_WG}}u;
const ROWS: u32 = HPW * BT;
const TILE: u32 = {{TILE}}u;
const PAIRS: u32 = (D / 2u + WG - 1u) / WG;  // column pairs per thread
const MASKED: f32 = -3.0e38;

struct Params {
  tokens: u32,
  pos0: u32,
  heads: u32,
  kv_heads: u32,
  split_len: u32,  // SPLIT_KV: positions per split
  scale: f32,      // 1/√D
#if DECODE_PREP
  eps: f32,        // q/k norm epsilon
#endif
}

@group(0) @binding(0) var<uniform> p: Params;
#if DECODE_PREP
const HALF: u32 = {{ROTARY_DIM}}u / 2u;
#include "reduce"
// Bindings 1–6 (proj, q/k norm weights, inv_freq, the caches): attention_rope.wgsl.
#include "attention_rope"
#else
@group(0) @binding(1) var<storage, read> q: array<f32>;
#if KV_F16
@group(0) @binding(2) var<storage, read> k_cache: array<vec2u>;  // 4 halves
@group(0) @binding(3) var<storage, read> v_cache: array<u32>;    // 2 halves
#else
@group(0) @binding(2) var<storage, read> k_cache: array<vec4f>;
@group(0) @binding(3) var<storage, read> v_cache: array<vec2f>;
#endif
#if !SPLIT_KV
@group(0) @binding(4) var<storage, read> proj: array<f32>;
#endif
#endif
#if DECODE_PREP
const OUT_BINDING: u32 = 7u;
#elif SPLIT_KV
const OUT_BINDING: u32 = 4u;
#else
const OUT_BINDING: u32 = 5u;
#endif
#if SPLIT_KV
// Per (split, head): acc (D) then max, sum.
@group(0) @binding(OUT_BINDING) var<storage, read_write> partial: array<f32>;
#else
@group(0) @binding(OUT_BINDING) var<storage, read_write> out: array<f32>;
#endif

var<workgroup> q_tile: array<vec4f, ROWS * D / 4u>;  // pre-scaled by 1/√D
var<workgroup> score: array<f32, ROWS * TILE>;        // scores, then softmax weights
var<workgroup> row_max: array<f32, ROWS>;
var<workgroup> row_sum: array<f32, ROWS>;
var<workgroup> row_alpha: array<f32, ROWS>;

#if DECODE_PREP
// The key/value row of position pos0 of this workgroup's KV head, as the cache stores it.
var<workgroup> k_new: array<vec4f, D / 4u>;
var<workgroup> v_new: array<vec2f, D / 2u>;
#endif

// Cache words → f32: 4 key elements, 2 value elements.
#if KV_F16
fn decode_k4(w: vec2u) -> vec4f { return vec4f(unpack2x16float(w.x), unpack2x16float(w.y)); }
fn decode_v2(w: u32) -> vec2f { return unpack2x16float(w); }
#else
fn decode_k4(w: vec4f) -> vec4f { return w; }
fn decode_v2(w: vec2f) -> vec2f { return w; }
#endif

// Elements 4·i4 .. 4·i4+3 of the key at position pos of KV head kv.
fn load_k4(pos: u32, kv: u32, i4: u32) -> vec4f {
#if DECODE_PREP
  if (pos == p.pos0) { return k_new[i4]; }
#endif
  return decode_k4(k_cache[(pos * p.kv_heads + kv) * (D / 4u) + i4]);
}

// Elements 2·cp, 2·cp+1 of the value at position pos of KV head kv.
fn load_v2(pos: u32, kv: u32, cp: u32) -> vec2f {
#if DECODE_PREP
  if (pos == p.pos0) { return v_new[cp]; }
#endif
  return decode_v2(v_cache[(pos * p.kv_heads + kv) * (D / 2u) + cp]);
}

#if DECODE_PREP
// The token's queries of heads head0 .. head0 + HPW − 1 into q_tile (scaled by 1/√D), and the key
// and value row of pos0 of KV head kv_head into k_new, v_new; the writer also stores that row.
fn prepare_decode(head0: u32, kv_head: u32, writer: bool, lid: u32, sg_size: u32) {
  let pos = f32(p.pos0);
  for (var r = 0u; r < HPW; r++) {
    load_norm_rope((head0 + r) * 2u * D, true, pos, lid, sg_size);
    for (var i4 = lid; i4 < D / 4u; i4 += WG) {
      q_tile[r * (D / 4u) + i4] = vec4f(row[4u * i4], row[4u * i4 + 1u], row[4u * i4 + 2u], row[4u * i4 + 3u]) * p.scale;
    }
    workgroupBarrier();
  }
  let cache_row = p.pos0 * p.kv_heads + kv_head;
  load_norm_rope(2u * p.heads * D + kv_head * D, false, pos, lid, sg_size);
  if (writer) { store_cache(true, cache_row, lid); }
  for (var i4 = lid; i4 < D / 4u; i4 += WG) { k_new[i4] = decode_k4(cache_k4(i4)); }
  workgroupBarrier();
  load_row(2u * p.heads * D + (p.kv_heads + kv_head) * D, lid);
  if (writer) { store_cache(false, cache_row, lid); }
  for (var m = lid; m < D / 2u; m += WG) { v_new[m] = decode_v2(cache_v2(m)); }
}
#endif

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(local_invocation_index) lid: u32,
#if DECODE_PREP && HAS_SUBGROUPS
  @builtin(subgroup_size) sg_size: u32,
#endif
) {
#if DECODE_PREP && !HAS_SUBGROUPS
  let sg_size = 0u;
#endif
  let group = p.heads / p.kv_heads;
  let head0 = wg.y * HPW;
  let kv_head = head0 / group;
#if SPLIT_KV
  let t0 = 0u;
  let start = wg.x * p.split_len;
  let end = min(start + p.split_len, p.pos0 + 1u);
#else
  let t0 = wg.x * BT;
  let start = 0u;
  let end = p.pos0 + min(t0 + BT, p.tokens);
#endif

#if DECODE_PREP
  // The row of pos0 goes to the cache from one workgroup per KV head: x = 0, the first head block.
  let writer = wg.x == 0u && head0 % group == 0u;
  prepare_decode(head0, kv_head, writer, lid, sg_size);
#else
  for (var i = lid; i < ROWS * D / 4u; i += WG) {
    let r = i / (D / 4u);
    let t = t0 + r / HPW;
    let src = (t * p.heads + head0 + r % HPW) * D + 4u * (i % (D / 4u));
    var v = vec4f(0.0);
    if (t < p.tokens) {
      v = vec4f(q[src], q[src + 1u], q[src + 2u], q[src + 3u]) * p.scale;
    }
    q_tile[i] = v;
  }
#endif
  if (lid < ROWS) {
    row_max[lid] = MASKED;
    row_sum[lid] = 0.0;
  }
  var acc = array<vec2f, ROWS * PAIRS>();
  workgroupBarrier();

  for (var p0 = start; p0 < end; p0 += TILE) {
    // Scores of every (row, position) pair of the tile; masked: beyond the range or the row's causal limit.
    for (var i = lid; i < ROWS * TILE; i += WG) {
      let r = i / TILE;
      let pos = p0 + i % TILE;
      var s = MASKED;
      if (pos < end && pos <= p.pos0 + t0 + r / HPW) {
        var dot4 = vec4f(0.0);
        for (var i4 = 0u; i4 < D / 4u; i4++) { dot4 += q_tile[r * (D / 4u) + i4] * load_k4(pos, kv_head, i4); }
        s = dot4.x + dot4.y + dot4.z + dot4.w;
      }
      score[i] = s;
    }
    workgroupBarrier();
    // Online softmax per row: new running max, rescale factor α, weights e^(s − max).
    if (lid < ROWS) {
      var m = row_max[lid];
      for (var j = 0u; j < TILE; j++) { m = max(m, score[lid * TILE + j]); }
      var sum = 0.0;
      for (var j = 0u; j < TILE; j++) {
        let s = score[lid * TILE + j];
        let w = select(0.0, exp(s - m), s > MASKED);
        score[lid * TILE + j] = w;
        sum += w;
      }
      let alpha = exp(row_max[lid] - m);
      row_alpha[lid] = alpha;
      row_sum[lid] = row_sum[lid] * alpha + sum;
      row_max[lid] = m;
    }
    workgroupBarrier();
    for (var k = 0u; k < PAIRS; k++) {
      let cp = lid + k * WG;
      if (cp < D / 2u) {
        for (var r = 0u; r < ROWS; r++) { acc[r * PAIRS + k] *= row_alpha[r]; }
        for (var j = 0u; j < TILE && p0 + j < end; j++) {
          let v = load_v2(p0 + j, kv_head, cp);
          for (var r = 0u; r < ROWS; r++) { acc[r * PAIRS + k] += score[r * TILE + j] * v; }
        }
      }
    }
    workgroupBarrier();
  }

#if SPLIT_KV
  let base = (wg.x * p.heads + head0) * (D + 2u);
  for (var k = 0u; k < PAIRS; k++) {
    let cp = lid + k * WG;
    if (cp < D / 2u) {
      for (var r = 0u; r < ROWS; r++) {
        partial[base + r * (D + 2u) + 2u * cp] = acc[r * PAIRS + k].x;
        partial[base + r * (D + 2u) + 2u * cp + 1u] = acc[r * PAIRS + k].y;
      }
    }
  }
  if (lid < ROWS) {
    partial[base + lid * (D + 2u) + D] = row_max[lid];
    partial[base + lid * (D + 2u) + D + 1u] = row_sum[lid];
  }
#else
  let proj_stride = 2u * (p.heads + p.kv_heads) * D;
  for (var k = 0u; k < PAIRS; k++) {
    let cp = lid + k * WG;
    if (cp < D / 2u) {
      for (var r = 0u; r < ROWS; r++) {
        let t = t0 + r / HPW;
        if (t < p.tokens) {
          let h = head0 + r % HPW;
          let g = proj_stride * t + h * 2u * D + D + 2u * cp;  // gate_h follows query_h (§3)
          let o = acc[r * PAIRS + k] / row_sum[r];
          let dst = (t * p.heads + h) * D + 2u * cp;
          out[dst] = o.x / (1.0 + exp(-proj[g]));
          out[dst + 1u] = o.y / (1.0 + exp(-proj[g + 1u]));
        }
      }
    }
  }
#endif
}
