// Shared by the sampler stages (#include "sample_common"): parameters, the layout of the
// sampler's state buffer, order keys and 64-bit integer helpers. The rules are those of
// src/model/sampling.ts (the CPU reference); read its header first.

const WG: u32 = 256u;
const BLOCK: u32 = 1024u;       // vocabulary entries per workgroup in the grid stages
const BUCKETS: u32 = 256u;      // radix of the threshold searches (8 key bits per round)
const MASS_SCALE: f32 = 2147483648.0;  // masses m = floor(exp(z − z_max) · 2^31)
const TOP_P_ONE: u32 = 16777216u;      // top-p as round(p · 2^24)

struct Params {
  vocab: u32,
  blocks: u32,        // ceil(vocab / BLOCK)
  hist_len: u32,      // history entries before this step
  max_history: u32,
  greedy: u32,
  top_k: u32,         // 0 = off
  top_p24: u32,       // TOP_P_ONE = off
  rand_bits: u32,     // pcg(seed ^ pcg(step))
  inv_temp: f32,
  penalty: f32,
  inv_penalty: f32,
}

// The searches run in this order, each in PASSES radix passes (key bits 31..24 first); the
// searches that are off are not dispatched at all.
const SEARCH_TOPK: u32 = 0u;
const SEARCH_TOPP: u32 = 1u;
const SEARCH_DRAW: u32 = 2u;
const PASSES: u32 = 4u;

fn topk_on() -> bool { return p.top_k > 0u; }
fn topp_on() -> bool { return p.top_p24 < TOP_P_ONE; }

// The first search that runs after `search` (draw always runs when sampling).
fn next_search(search: u32) -> u32 {
  if (search + 1u == SEARCH_TOPK && topk_on()) { return SEARCH_TOPK; }
  if (search + 1u <= SEARCH_TOPP && topp_on()) { return SEARCH_TOPP; }
  return SEARCH_DRAW;
}

// Words of the state buffer (u32). 64-bit values are (lo, hi) pairs.
const ST_TOTAL: u32 = 0u;        // Σ m over the vocabulary (mass stage, atomics)
const ST_PREFIX: u32 = 2u;       // key bits chosen by the passes so far
const ST_DONE: u32 = 3u;         // the current search has isolated one key (level)
const ST_ABOVE_COUNT: u32 = 4u;  // tokens ranked above the current bucket
const ST_ABOVE: u32 = 5u;        // their mass (2 words)
const ST_TARGET: u32 = 7u;       // the search's goal (count or mass, 2 words)
const ST_LEVEL_KEY: u32 = 9u;    // result: the level's key, token count and total mass
const ST_LEVEL_COUNT: u32 = 10u;
const ST_LEVEL_MASS: u32 = 11u;  // 2 words
const ST_KEPT: u32 = 13u;        // mass kept so far (after top-k, then after top-p), 2 words
const ST_INDEX: u32 = 15u;       // draw: position of the drawn token among its level (by id)
const ST_STEP: u32 = 16u;        // search · PASSES + round of the next HIST/PICK pair to run
const ST_LIST_COUNT: u32 = 17u;  // top-k fast path: tokens gathered above the top-k level
const STATE_WORDS: u32 = 32u;

// The top-k fast path (top_k ≤ LIST_MAX): fewer than top_k tokens rank above the top-k level, so
// they fit a list that one workgroup ranks (sample_search.wgsl GATHER, SELECT).
const LIST_MAX: u32 = 256u;

// Unsigned order of keys = order of the f32 values (−0 just below +0).
fn order_key(z: f32) -> u32 {
  let b = bitcast<u32>(z);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn key_value(k: u32) -> f32 {
  return bitcast<f32>(select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u));
}

fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  let lo = a.x + b.x;
  return vec2(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

fn sub64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  return vec2(a.x - b.x, a.y - b.y - select(0u, 1u, a.x < b.x));
}

fn gt64(a: vec2<u32>, b: vec2<u32>) -> bool {
  return a.y > b.y || (a.y == b.y && a.x > b.x);
}

// Full 64-bit product of two u32.
fn mul32(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p00 = a0 * b0;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return vec2((p00 & 0xffffu) | (mid << 16u), a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}

// floor(a / d) for a quotient known to fit in u32 (d > 0).
fn div64(a: vec2<u32>, d: u32) -> u32 {
  var q = 0u;
  for (var bit = 31i; bit >= 0i; bit--) {
    let candidate = q | (1u << u32(bit));
    if (!gt64(mul32(candidate, d), a)) { q = candidate; }
  }
  return q;
}
