// Sampler threshold searches (rules: src/model/sampling.ts). A search finds the key level where
// the cumulative count (top-k) or mass (top-p, draw) of the ranking — keys descending — first
// exceeds a goal, by radix selection over the 32 key bits, 8 per round; each round is a HIST
// dispatch over the vocabulary and a one-workgroup PICK. A search stops early (later passes do
// nothing) once its bucket holds a single key. Integer masses make every sum exact and order-free.
// Which search and round a dispatch runs is state[ST_STEP], advanced by every PICK.
//   STAGE_HIST  per block: histogram (count, 64-bit mass, min and max key) of the 256 values of
//               the round's key byte among tokens matching the prefix; merged into `hist`.
//   STAGE_PICK  one workgroup: the bucket where the goal is crossed; on the last round of a
//               search, its result (mass kept, or the drawn token's level and index); clears `hist`.
// The top-k fast path (top_k ≤ LIST_MAX) replaces the top-p and draw searches, after the top-k one:
//   STAGE_GATHER per block: every token ranked above the top-k level (fewer than top_k) into `list`.
//   STAGE_SELECT one workgroup: ranks the list; the top-p and draw searches walk its levels, then
//               the top-k level, with the same goals and results as PICK (search_target, finish_search).
#include "sample_common"

@group(0) @binding(0) var<uniform> p: Params;
#if STAGE_HIST
@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read> masses: array<u32>;
@group(0) @binding(3) var<storage, read> state: array<u32>;
@group(0) @binding(4) var<storage, read_write> hist: array<atomic<u32>>;

// hist (global and per workgroup): [count | mass lo | mass hi | min key | max key] × BUCKETS
var<workgroup> local_hist: array<atomic<u32>, 5u * BUCKETS>;

// 64-bit add into bucket b: the thread whose add wraps the low word carries into the high one.
fn add_mass(b: u32, m: u32) {
  let old = atomicAdd(&local_hist[BUCKETS + b], m);
  if (old + m < old) { atomicAdd(&local_hist[2u * BUCKETS + b], 1u); }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wg.x + wg.y * nwg.x;
  let round = state[ST_STEP] % PASSES;
  if (b >= p.blocks || (round > 0u && state[ST_DONE] != 0u)) { return; }  // uniform per workgroup
  let prefix = state[ST_PREFIX];
  let shift = 24u - 8u * round;
  atomicStore(&local_hist[lid], 0u);
  atomicStore(&local_hist[BUCKETS + lid], 0u);
  atomicStore(&local_hist[2u * BUCKETS + lid], 0u);
  atomicStore(&local_hist[3u * BUCKETS + lid], 0xffffffffu);
  atomicStore(&local_hist[4u * BUCKETS + lid], 0u);
  workgroupBarrier();
  for (var e = 0u; e < BLOCK / WG; e++) {
    let v = b * BLOCK + e * WG + lid;
    if (v < p.vocab) {
      let k = keys[v];
      if (round == 0u || (k >> (shift + 8u)) == prefix) {
        let bucket = (k >> shift) & 0xffu;
        atomicAdd(&local_hist[bucket], 1u);
        add_mass(bucket, masses[v]);
        atomicMin(&local_hist[3u * BUCKETS + bucket], k);
        atomicMax(&local_hist[4u * BUCKETS + bucket], k);
      }
    }
  }
  workgroupBarrier();
  let count = atomicLoad(&local_hist[lid]);
  if (count != 0u) {
    atomicAdd(&hist[lid], count);
    let m = vec2(atomicLoad(&local_hist[BUCKETS + lid]), atomicLoad(&local_hist[2u * BUCKETS + lid]));
    let old = atomicAdd(&hist[BUCKETS + lid], m.x);
    atomicAdd(&hist[2u * BUCKETS + lid], m.y + select(0u, 1u, old + m.x < old));
    atomicMin(&hist[3u * BUCKETS + lid], atomicLoad(&local_hist[3u * BUCKETS + lid]));
    atomicMax(&hist[4u * BUCKETS + lid], atomicLoad(&local_hist[4u * BUCKETS + lid]));
  }
}
#elif STAGE_GATHER
@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read_write> state: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> list: array<u32>;  // (key, id) × LIST_MAX

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wg.x + wg.y * nwg.x;
  if (b >= p.blocks) { return; }
  let level = atomicLoad(&state[ST_LEVEL_KEY]);  // the top-k level
  for (var e = 0u; e < BLOCK / WG; e++) {
    let v = b * BLOCK + e * WG + lid;
    if (v < p.vocab && keys[v] > level) {
      let i = atomicAdd(&state[ST_LIST_COUNT], 1u);
      if (i < LIST_MAX) {
        list[2u * i] = keys[v];
        list[2u * i + 1u] = v;
      }
    }
  }
}
#else
@group(0) @binding(1) var<storage, read_write> state: array<u32>;
#if STAGE_SELECT
@group(0) @binding(2) var<storage, read> masses: array<u32>;
@group(0) @binding(3) var<storage, read> list: array<u32>;
#else
@group(0) @binding(2) var<storage, read_write> hist: array<u32>;
#endif

fn load64(i: u32) -> vec2<u32> { return vec2(state[i], state[i + 1u]); }
fn store64(i: u32, v: vec2<u32>) {
  state[i] = v.x;
  state[i + 1u] = v.y;
}

// Mass the search draws from: after top-k and/or top-p if they ran, else the whole vocabulary.
fn kept_mass(after_topk: bool, after_topp: bool) -> vec2<u32> {
  return select(load64(ST_TOTAL), load64(ST_KEPT), after_topk || after_topp);
}


// What the search looks for: the first token whose cumulative count / mass exceeds the goal.
fn search_target(search: u32) -> vec2<u32> {
  if (search == SEARCH_TOPK) { return vec2(p.top_k - 1u, 0u); }
  if (search == SEARCH_TOPP) {
    // Mass ≥ ceil(S·P / 2^24) ⇔ mass > that − 1; S < 2^49, so split S·P into its two halves.
    let s = kept_mass(topk_on(), false);
    let hi = mul32(s.y, p.top_p24);
    let lo = mul32(s.x, p.top_p24);
    let lo_part = vec2((lo.x >> 24u) | (lo.y << 8u), 0u);
    let need = add64(add64(vec2(hi.x << 8u, (hi.y << 8u) | (hi.x >> 24u)), lo_part), vec2(select(0u, 1u, (lo.x & 0xffffffu) != 0u), 0u));
    return select(vec2(0u), sub64(need, vec2(1u, 0u)), need.x != 0u || need.y != 0u);
  }
  // Draw: floor(r · S / 2^32) with r = rand_bits.
  let s = kept_mass(topk_on(), topp_on());
  return add64(mul32(p.rand_bits, s.y), vec2(mul32(p.rand_bits, s.x).y, 0u));
}

// The search found its level: record it and what the next stage needs.
fn finish_search(search: u32, key: u32, count: u32, mass: vec2<u32>, above: vec2<u32>, goal: vec2<u32>) {
  state[ST_LEVEL_KEY] = key;
  state[ST_LEVEL_COUNT] = count;
  store64(ST_LEVEL_MASS, mass);
  if (search == SEARCH_TOPK) {
    store64(ST_KEPT, add64(above, mass));  // ties at the boundary are all kept
    return;
  }
  // Every token of a level has the same mass; the goal falls on the j-th of them (by id).
  let each = max(div64(mass, count), 1u);
  let j = div64(sub64(goal, above), each);
  if (search == SEARCH_TOPP) {
    store64(ST_KEPT, add64(above, mul32(j + 1u, each)));
  } else {
    state[ST_INDEX] = j;
  }
}

#if STAGE_SELECT
var<workgroup> ranked_key: array<u32, LIST_MAX>;
var<workgroup> ranked_id: array<u32, LIST_MAX>;

// One search over the ranked list's levels (distinct keys, descending), then the top-k level
// (key, count, mass as the top-k search left them), where the goal is crossed at the latest.
fn walk(search: u32, n: u32, top_k_level: u32, top_k_count: u32, top_k_mass: vec2<u32>) {
  let goal = search_target(search);
  var above = vec2(0u, 0u);
  var i = 0u;
  while (i < n) {
    let key = ranked_key[i];
    var count = 0u;
    var mass = vec2(0u, 0u);
    while (i + count < n && ranked_key[i + count] == key) {
      mass = add64(mass, vec2(masses[ranked_id[i + count]], 0u));
      count++;
    }
    if (gt64(add64(above, mass), goal)) {
      finish_search(search, key, count, mass, above, goal);
      return;
    }
    above = add64(above, mass);
    i += count;
  }
  finish_search(search, top_k_level, top_k_count, top_k_mass, above, goal);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  let n = min(state[ST_LIST_COUNT], LIST_MAX);
  // Rank by key descending, ties → lower id: entry lid's place is the number of entries before it.
  for (var e = lid; e < n; e += WG) {
    let k = list[2u * e];
    let v = list[2u * e + 1u];
    var r = 0u;
    for (var j = 0u; j < n; j++) {
      let kj = list[2u * j];
      if (kj > k || (kj == k && list[2u * j + 1u] < v)) { r++; }
    }
    ranked_key[r] = k;
    ranked_id[r] = v;
  }
  workgroupBarrier();
  if (lid == 0u) {
    let level = state[ST_LEVEL_KEY];
    let count = state[ST_LEVEL_COUNT];
    let mass = load64(ST_LEVEL_MASS);
    if (topp_on()) { walk(SEARCH_TOPP, n, level, count, mass); }
    walk(SEARCH_DRAW, n, level, count, mass);
  }
}
#else
fn pick(search: u32, round: u32) {
  var goal: vec2<u32>;
  var prefix = 0u;
  var before_count = 0u;
  var before_mass = vec2(0u, 0u);
  if (round == 0u) {
    goal = search_target(search);
    store64(ST_TARGET, goal);
  } else {
    goal = load64(ST_TARGET);
    prefix = state[ST_PREFIX];
    before_count = state[ST_ABOVE_COUNT];
    before_mass = load64(ST_ABOVE);
  }
  // Walk the buckets from the highest key down until the cumulative value exceeds the goal.
  var chosen = 0u;
  var count = before_count;
  var mass = before_mass;
  for (var i = 0u; i < BUCKETS; i++) {
    let bucket = BUCKETS - 1u - i;
    let c = hist[bucket];
    if (c == 0u) { continue; }
    chosen = bucket;
    before_count = count;
    before_mass = mass;
    count += c;
    mass = add64(mass, vec2(hist[BUCKETS + bucket], hist[2u * BUCKETS + bucket]));
    if (select(gt64(mass, goal), count > goal.x, search == SEARCH_TOPK)) { break; }
  }
  state[ST_PREFIX] = (prefix << 8u) | chosen;
  state[ST_ABOVE_COUNT] = before_count;
  store64(ST_ABOVE, before_mass);
  let kmin = hist[3u * BUCKETS + chosen];
  let done = kmin == hist[4u * BUCKETS + chosen];
  state[ST_DONE] = select(0u, 1u, done);
  if (done) {
    finish_search(search, kmin, hist[chosen], vec2(hist[BUCKETS + chosen], hist[2u * BUCKETS + chosen]), before_mass, goal);
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) {
    let step = state[ST_STEP];
    let search = step / PASSES;
    let round = step % PASSES;
    if (round == 0u || state[ST_DONE] == 0u) { pick(search, round); }
    state[ST_STEP] = select(step + 1u, next_search(search) * PASSES, round + 1u == PASSES);
  }
  storageBarrier();  // thread 0 has read hist before anyone clears it
  workgroupBarrier();
  hist[lid] = 0u;
  hist[BUCKETS + lid] = 0u;
  hist[2u * BUCKETS + lid] = 0u;
  hist[3u * BUCKETS + lid] = 0xffffffffu;
  hist[4u * BUCKETS + lid] = 0u;
}
#endif
#endif
