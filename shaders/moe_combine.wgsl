// MoE output and residual (architecture §5 steps 3–5), one thread per (token, channel):
//   h[t, c] += Σ_j weights[t, j] · expert_out[t, j, c] + sigmoid(g_t) · shared[t, c],
// g_t = shared_gate[t · gate_stride + gate_column] (in the MoE layer: the router's logits row).

const WG: u32 = 256u;

struct Params {
  hidden: u32,
  top_k: u32,
  tokens: u32,
  gate_stride: u32,
  gate_column: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> expert_out: array<f32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read> shared_out: array<f32>;
@group(0) @binding(4) var<storage, read> shared_gate: array<f32>;
@group(0) @binding(5) var<storage, read_write> h: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.x + wg.y * nwg.x) * WG + lid;
  if (i >= p.tokens * p.hidden) { return; }
  let t = i / p.hidden;
  let c = i % p.hidden;
  var routed = 0.0;
  for (var j = 0u; j < p.top_k; j++) {
    routed += weights[t * p.top_k + j] * expert_out[(t * p.top_k + j) * p.hidden + c];
  }
  let gate = 1.0 / (1.0 + exp(-shared_gate[t * p.gate_stride + p.gate_column]));
  h[i] += routed + gate * shared_out[i];
}
