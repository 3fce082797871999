// MoE router (architecture §5 steps 1–2), one workgroup per token: p = softmax(logits) over all
// EXPERTS in f32, the top_k experts by probability (ties → lower index; ranked on the logits,
// which order the same way), then w_j = p_j, or p_j / Σ_chosen p when RENORMALIZE.
// Writes ids[t, j] (descending probability) and weights[t, j]; nothing goes back to the CPU.
// A logits row holds LOGIT_STRIDE values, the EXPERTS logits first (the MoE layer's row also
// carries the shared expert's gate logit after them, read by moe_combine.wgsl).
#if HAS_SUBGROUPS
enable subgroups;
#endif

const WG: u32 = 64u;
const EXPERTS: u32 = {{EXPERTS}};
const TOP_K: u32 = {{TOP_K}};
const LOGIT_STRIDE: u32 = {{LOGIT_STRIDE}};
#include "reduce"

struct Params {
  tokens: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> weights: array<f32>;

var<workgroup> taken: array<u32, EXPERTS>;
var<workgroup> best_v: array<f32, WG>;
var<workgroup> best_i: array<u32, WG>;
var<workgroup> chosen: array<u32, TOP_K>;

// (v, i) beats (bv, bi): larger logit, or the same logit and a lower index.
fn beats(v: f32, i: u32, bv: f32, bi: u32) -> bool {
  return v > bv || (v == bv && i < bi);
}

// Index of the best expert not yet taken (all threads get it).
fn argmax_untaken(base: u32, lid: u32) -> u32 {
  var bv = -3.4e38;
  var bi = EXPERTS;
  for (var e = lid; e < EXPERTS; e += WG) {
    let v = max(logits[base + e], -3.4e38);  // −inf ranks like the lowest finite logit
    if (taken[e] == 0u && (bi == EXPERTS || beats(v, e, bv, bi))) {
      bv = v;
      bi = e;
    }
  }
  best_v[lid] = bv;
  best_i[lid] = bi;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half >>= 1u) {
    if (lid < half) {
      let ov = best_v[lid + half];
      let oi = best_i[lid + half];
      if (oi != EXPERTS && (best_i[lid] == EXPERTS || beats(ov, oi, best_v[lid], best_i[lid]))) {
        best_v[lid] = ov;
        best_i[lid] = oi;
      }
    }
    workgroupBarrier();
  }
  let r = best_i[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
#if HAS_SUBGROUPS
  @builtin(subgroup_size) sg_size: u32,
#endif
) {
#if !HAS_SUBGROUPS
  let sg_size = 0u;
#endif
  let t = wg.x + wg.y * nwg.x;
  if (t >= p.tokens) { return; }  // uniform per workgroup
  let base = t * LOGIT_STRIDE;
  var m = -3.4e38;
  for (var e = lid; e < EXPERTS; e += WG) {
    m = max(m, logits[base + e]);
    taken[e] = 0u;
  }
  let top = workgroup_max(m, lid, sg_size);
  var s = 0.0;
  for (var e = lid; e < EXPERTS; e += WG) {
    s += exp(logits[base + e] - top);
  }
  let total = workgroup_sum(s, lid, sg_size);

  for (var j = 0u; j < TOP_K; j++) {
    let e = argmax_untaken(base, lid);
    if (lid == 0u) {
      taken[e] = 1u;
      chosen[j] = e;
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    var kept = 0.0;
    for (var j = 0u; j < TOP_K; j++) {
      kept += exp(logits[base + chosen[j]] - top);
    }
#if RENORMALIZE
    let denom = kept;
#else
    let denom = total;
#endif
    for (var j = 0u; j < TOP_K; j++) {
      ids[t * TOP_K + j] = chosen[j];
      weights[t * TOP_K + j] = exp(logits[base + chosen[j]] - top) / denom;
    }
  }
}
