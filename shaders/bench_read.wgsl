// Bandwidth probe (src/bench/kernels-linear.ts): each workgroup streams a contiguous chunk of
// WG · LOADS 16-byte words, every thread issuing LOADS independent loads (coalesced across the
// workgroup), and folds them into one value per workgroup so the reads cannot be elided.

const WG: u32 = 256u;
const LOADS: u32 = 16u;

struct Params {
  words: u32,  // vec4<u32> words in data
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> data: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> sink: array<u32>;

var<workgroup> fold: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = wg.x + wg.y * nwg.x;
  let first = group * WG * LOADS + lid;
  var acc = vec4(0u);
  for (var i = 0u; i < LOADS; i++) {
    let w = first + i * WG;
    if (w < p.words) { acc ^= data[w]; }
  }
  fold[lid] = acc.x ^ acc.y ^ acc.z ^ acc.w;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half >>= 1u) {
    if (lid < half) { fold[lid] ^= fold[lid + half]; }
    workgroupBarrier();
  }
  if (lid == 0u) { sink[group] = fold[0]; }
}
