// Sampler, first stages (rules: src/model/sampling.ts). One source, three entry stages:
//   STAGE_MARK  one thread per history entry: marks[id] = 1 (so the penalty applies once per
//               distinct id); workgroup 0 also resets the state (the step counter to the first
//               search that runs) and the search histogram.
//   STAGE_PREP  per block of BLOCK tokens: key_v = order_key(penalised logit · 1/T), and the
//               block's best (key, id) (ties → lower id) for greedy decoding and z_max.
//   STAGE_MASS  per block: m_v = floor(exp(z_v − z_max) · 2^31), Σ m added to state[ST_TOTAL].
#include "sample_common"

@group(0) @binding(0) var<uniform> p: Params;
#if STAGE_MARK
@group(0) @binding(1) var<storage, read> history: array<u32>;
@group(0) @binding(2) var<storage, read_write> marks: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> state: array<u32>;
@group(0) @binding(4) var<storage, read_write> hist: array<u32>;
#elif STAGE_PREP
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> marks: array<u32>;
@group(0) @binding(3) var<storage, read_write> keys: array<u32>;
@group(0) @binding(4) var<storage, read_write> block_best: array<u32>;
#else
@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read> block_best: array<u32>;
@group(0) @binding(3) var<storage, read_write> masses: array<u32>;
@group(0) @binding(4) var<storage, read_write> state: array<atomic<u32>>;
#endif

var<workgroup> red_a: array<u32, WG>;
var<workgroup> red_b: array<u32, WG>;

#if STAGE_MARK
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wg.x + wg.y * nwg.x;
  if (b == 0u) {
    if (lid < STATE_WORDS) { state[lid] = select(0u, next_search(0xffffffffu) * PASSES, lid == ST_STEP); }
    for (var i = lid; i < 5u * BUCKETS; i += WG) { hist[i] = select(0u, 0xffffffffu, i >= 3u * BUCKETS && i < 4u * BUCKETS); }
  }
  let i = b * WG + lid;
  if (i < p.hist_len && history[i] < p.vocab) { atomicStore(&marks[history[i]], 1u); }
}
#elif STAGE_PREP
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wg.x + wg.y * nwg.x;
  if (b >= p.blocks) { return; }
  var best_key = 0u;
  var best_id = 0xffffffffu;
  for (var e = 0u; e < BLOCK / WG; e++) {
    let v = b * BLOCK + e * WG + lid;
    if (v < p.vocab) {
      var l = logits[v];
      if (marks[v] != 0u) { l = select(l * p.penalty, l * p.inv_penalty, l > 0.0); }
      let k = order_key(l * p.inv_temp);
      keys[v] = k;
      if (k > best_key) {  // v grows: on a tie the earlier (lower) id stays
        best_key = k;
        best_id = v;
      }
    }
  }
  red_a[lid] = best_key;
  red_b[lid] = best_id;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half >>= 1u) {
    if (lid < half) {
      let k = red_a[lid + half];
      let v = red_b[lid + half];
      if (k > red_a[lid] || (k == red_a[lid] && v < red_b[lid])) {
        red_a[lid] = k;
        red_b[lid] = v;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    block_best[2u * b] = red_a[0];
    block_best[2u * b + 1u] = red_b[0];
  }
}
#else
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wg.x + wg.y * nwg.x;
  if (b >= p.blocks) { return; }
  // z_max from the blocks' best keys (every workgroup reduces them itself).
  var top = 0u;
  for (var i = lid; i < p.blocks; i += WG) { top = max(top, block_best[2u * i]); }
  red_a[lid] = top;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half >>= 1u) {
    if (lid < half) { red_a[lid] = max(red_a[lid], red_a[lid + half]); }
    workgroupBarrier();
  }
  let zmax = key_value(red_a[0]);
  workgroupBarrier();

  var sum = vec2(0u, 0u);
  for (var e = 0u; e < BLOCK / WG; e++) {
    let v = b * BLOCK + e * WG + lid;
    if (v < p.vocab) {
      let m = u32(exp(key_value(keys[v]) - zmax) * MASS_SCALE);
      masses[v] = m;
      sum = add64(sum, vec2(m, 0u));
    }
  }
  red_a[lid] = sum.x;
  red_b[lid] = sum.y;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half >>= 1u) {
    if (lid < half) {
      let s = add64(vec2(red_a[lid], red_b[lid]), vec2(red_a[lid + half], red_b[lid + half]));
      red_a[lid] = s.x;
      red_b[lid] = s.y;
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let old = atomicAdd(&state[ST_TOTAL], red_a[0]);
    atomicAdd(&state[ST_TOTAL + 1u], red_b[0] + select(0u, 1u, old + red_a[0] < old));
  }
}
#endif
