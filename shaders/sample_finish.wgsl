// Sampler, last stages (rules: src/model/sampling.ts).
//   STAGE_LOCATE  per block: how many tokens have the drawn level's key (block_count[b]).
//   STAGE_FINISH  one workgroup: the token — greedy: the best (key, id) of all blocks; otherwise
//                 the ST_INDEX-th token (by id) of the drawn level — written to token[0] and
//                 appended to history[hist_len]; then the history's penalty marks are cleared.
#include "sample_common"

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> keys: array<u32>;
#if STAGE_LOCATE
@group(0) @binding(2) var<storage, read> state: array<u32>;
@group(0) @binding(3) var<storage, read_write> block_count: array<u32>;
#else
@group(0) @binding(2) var<storage, read> state: array<u32>;
@group(0) @binding(3) var<storage, read> block_best: array<u32>;
@group(0) @binding(4) var<storage, read> block_count: array<u32>;
@group(0) @binding(5) var<storage, read_write> history: array<u32>;
@group(0) @binding(6) var<storage, read_write> token: array<u32>;
@group(0) @binding(7) var<storage, read_write> marks: array<u32>;
#endif

var<workgroup> red_a: array<u32, WG>;
var<workgroup> red_b: array<u32, WG>;

#if STAGE_LOCATE
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wg.x + wg.y * nwg.x;
  if (b >= p.blocks) { return; }
  let level = state[ST_LEVEL_KEY];
  var n = 0u;
  for (var e = 0u; e < BLOCK / WG; e++) {
    let v = b * BLOCK + e * WG + lid;
    if (v < p.vocab && keys[v] == level) { n++; }
  }
  red_a[lid] = n;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half >>= 1u) {
    if (lid < half) { red_a[lid] += red_a[lid + half]; }
    workgroupBarrier();
  }
  if (lid == 0u) { block_count[b] = red_a[0]; }
}
#else
var<workgroup> chosen: u32;
var<workgroup> where_block: u32;
var<workgroup> where_rank: u32;
var<workgroup> owner: u32;

// Greedy: the best (key, id) over all blocks, ties → lower id.
fn best_of_blocks(lid: u32) -> u32 {
  var k = 0u;
  var v = 0xffffffffu;
  for (var i = lid; i < p.blocks; i += WG) {
    let bk = block_best[2u * i];
    if (bk > k) {  // i grows: on a tie the lower block (lower id) stays
      k = bk;
      v = block_best[2u * i + 1u];
    }
  }
  red_a[lid] = k;
  red_b[lid] = v;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half >>= 1u) {
    if (lid < half && (red_a[lid + half] > red_a[lid] || (red_a[lid + half] == red_a[lid] && red_b[lid + half] < red_b[lid]))) {
      red_a[lid] = red_a[lid + half];
      red_b[lid] = red_b[lid + half];
    }
    workgroupBarrier();
  }
  return red_b[0];
}

// Sampling: the rank-th token (by id) among those with the level's key. Each thread owns
// BLOCK / WG consecutive ids of the block that holds it.
fn drawn_token(lid: u32) -> u32 {
  let level = state[ST_LEVEL_KEY];
  if (lid == 0u) {
    var rank = state[ST_INDEX];
    var b = 0u;
    while (b + 1u < p.blocks && rank >= block_count[b]) {
      rank -= block_count[b];
      b++;
    }
    where_block = b;
    where_rank = rank;
  }
  workgroupBarrier();
  let per = BLOCK / WG;
  let first = where_block * BLOCK + lid * per;
  var n = 0u;
  for (var e = 0u; e < per; e++) {
    if (first + e < p.vocab && keys[first + e] == level) { n++; }
  }
  red_a[lid] = n;
  workgroupBarrier();
  if (lid == 0u) {
    var rank = where_rank;
    var t = 0u;
    while (t + 1u < WG && rank >= red_a[t]) {
      rank -= red_a[t];
      t++;
    }
    owner = t;
    where_rank = rank;
  }
  workgroupBarrier();
  if (lid == owner) {
    var rank = where_rank;
    for (var e = 0u; e < per; e++) {
      if (first + e < p.vocab && keys[first + e] == level) {
        if (rank == 0u) { chosen = first + e; break; }
        rank--;
      }
    }
  }
  workgroupBarrier();
  return chosen;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  var result: u32;
  if (p.greedy != 0u) {
    result = best_of_blocks(lid);
  } else {
    result = drawn_token(lid);
  }
  if (lid == 0u) {
    token[0] = result;
    if (p.hist_len < p.max_history) { history[p.hist_len] = result; }
  }
  for (var i = lid; i < p.hist_len; i += WG) {
    let id = history[i];
    if (id < p.vocab) { marks[id] = 0u; }
  }
}
#endif
