// RMSNorm over rows of length n (architecture §2), one workgroup per row.
//   zero-centred (UNIT_OFFSET): y = x · rsqrt(mean(x²) + eps) · (1 + w)   input/post-attn/final/q/k norms
//   plain weight:               y = x · rsqrt(mean(x²) + eps) · w         GDN gated norm (before the gate)
// GATED (GDN output, §2 gated RMSNorm, norm before gate): plain weight, then y ← y · silu(z), where
//   row r is head r % heads of token r / heads and z is read from the fused projection at
//   z[t·z_stride + z_offset + head·n + i].
// Rows are contiguous with stride n; w has n entries shared by all rows (per-head q/k norm:
// rows = tokens × heads, n = head_dim).
#if HAS_SUBGROUPS
enable subgroups;
#endif

const WG: u32 = 256u;
#include "reduce"

struct Params {
  n: u32,
  rows: u32,
  eps: f32,
#if GATED
  heads: u32,
  z_stride: u32,
  z_offset: u32,
#endif
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
#if GATED
@group(0) @binding(2) var<storage, read> z: array<f32>;
@group(0) @binding(3) var<storage, read> h: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
#else
@group(0) @binding(2) var<storage, read> h: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
#endif

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
  let row = wg.x + wg.y * nwg.x;
  if (row >= p.rows) { return; }  // uniform per workgroup
  let base = row * p.n;
  var ss = 0.0;
  for (var i = lid; i < p.n; i += WG) {
    let v = h[base + i];
    ss += v * v;
  }
  let inv_rms = inverseSqrt(workgroup_sum(ss, lid, sg_size) / f32(p.n) + p.eps);
  for (var i = lid; i < p.n; i += WG) {
#if UNIT_OFFSET
    let scale = 1.0 + w[i];
#else
    let scale = w[i];
#endif
#if GATED
    let zi = z[(row / p.heads) * p.z_stride + p.z_offset + (row % p.heads) * p.n + i];
    y[base + i] = h[base + i] * inv_rms * scale * (zi / (1.0 + exp(-zi)));
#else
    y[base + i] = h[base + i] * inv_rms * scale;
#endif
  }
}
