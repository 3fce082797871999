// Flash-decoding reduce (architecture §3 steps 3–5, one decode token): combines the per-split
// partials of attention.wgsl (SPLIT_KV) for one query head per workgroup,
//   M = max_s m_s,  o = Σ_s e^(m_s − M)·acc_s / Σ_s e^(m_s − M)·l_s,
// then applies the output gate: out[h] = o ⊙ sigmoid(gate_h), gate_h from the projection row.
const WG: u32 = 64u;

struct Params {
  heads: u32,
  head_dim: u32,
  splits: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Per (split, head): acc (head_dim) then max, sum.
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read> proj: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wg.x;
  let d = p.head_dim;
  let stride = p.heads * (d + 2u);  // between splits
  let head_base = h * (d + 2u);
  var m = partial[head_base + d];
  for (var s = 1u; s < p.splits; s++) { m = max(m, partial[s * stride + head_base + d]); }
  var total = 0.0;
  for (var s = 0u; s < p.splits; s++) {
    total += exp(partial[s * stride + head_base + d] - m) * partial[s * stride + head_base + d + 1u];
  }
  for (var c = lid; c < d; c += WG) {
    var o = 0.0;
    for (var s = 0u; s < p.splits; s++) {
      o += exp(partial[s * stride + head_base + d] - m) * partial[s * stride + head_base + c];
    }
    let gate = proj[h * 2u * d + d + c];  // gate_h follows query_h in the projection row (§3)
    out[h * d + c] = o / total / (1.0 + exp(-gate));
  }
}
