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
#else
@group(0) @binding(1) var<storage, read_write> state: array<u32>;
@group(0) @binding(2) var<storage, read_write> hist: array<u32>;

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
