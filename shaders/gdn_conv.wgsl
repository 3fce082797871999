// The GDN causal depthwise conv1d over the conv state and the projection (architecture §4.2 steps
// 2–3, §4.4, §9.11), shared by the prep kernel and the fused decode step (gdn_recurrent.wgsl):
//   column m of (state ++ proj) for channel c: conv_state[m, c] for m < K−1, else proj[m − (K−1), c];
//   conv state [K−1, C] holds pre-conv columns, oldest first.
// The including shader declares `p.tokens`, `proj` and `conv_state`; conv_silu also needs
// `conv_weight` [C, K] (every includer but the prep's SHIFT stage).
const KERNEL: u32 = {{CONV_KERNEL}}u;

fn conv_column(m: u32, c: u32, c_all: u32, stride: u32) -> f32 {
  if (m < KERNEL - 1u) { return conv_state[m * c_all + c]; }
  return proj[(m - (KERNEL - 1u)) * stride + c];
}

// conv state of channel c ← the last K−1 columns of (state ++ proj); ascending j reads column
// m = T + j > j before anything overwrites it.
fn shift_conv_state(c: u32, c_all: u32, stride: u32) {
  for (var j = 0u; j < KERNEL - 1u; j++) { conv_state[j * c_all + c] = conv_column(p.tokens + j, c, c_all, stride); }
}

#if !SHIFT
fn silu(x: f32) -> f32 { return x / (1.0 + exp(-x)); }

// The factor of the q/k l2norm (§4.2 step 5, §9.10): x·rsqrt(Σx² + eps), q also ·dk^−½.
fn qk_scale(sum_sq: f32, is_query: bool, key_dim: u32, eps: f32) -> f32 {
  return inverseSqrt(sum_sq + eps) * select(1.0, inverseSqrt(f32(key_dim)), is_query);
}

// SiLU(conv) of channel c at token t: Σ_j w[c, j]·col(t + j). With one token, the calling thread
// must be the channel's only reader: it shifts the channel's conv state itself.
fn conv_silu(c: u32, t: u32, c_all: u32, stride: u32) -> f32 {
  var acc = 0.0;
  for (var j = 0u; j < KERNEL; j++) { acc += conv_weight[c * KERNEL + j] * conv_column(t + j, c, c_all, stride); }
  if (p.tokens == 1u) { shift_conv_state(c, c_all, stride); }
  return silu(acc);
}
#endif
