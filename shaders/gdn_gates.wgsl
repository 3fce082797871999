// The delta rule's gates, read from the fused GDN projection where they are used (the recurrent
// step, the chunked intra stage), so the prep writes no gate buffers (architecture §4.1, §4.2 step 4):
//   row t of proj = [ qkv (C = 2·Hk·dk + Hv·dv) | z (Hv·dv) | b (Hv) | a (Hv) ]
//   β = sigmoid(b),  g = −exp(A_log)·softplus(a + dt_bias)
// The including shader declares `proj`, `a_log` and `dt_bias`.

// log(1 + exp(x)), identity above 20 like PyTorch (§9.9); log1p via u = 1 + e, log(u)·e/(u − 1).
fn softplus(x: f32) -> f32 {
  if (x > 20.0) { return x; }
  let e = exp(x);
  let u = 1.0 + e;
  if (u == 1.0) { return e; }
  return log(u) * e / (u - 1.0);
}

// (β, g) of token t and value head h, for Hk key heads of dk and Hv value heads of dv.
fn delta_gates(t: u32, h: u32, key_heads: u32, key_dim: u32, value_heads: u32, value_dim: u32) -> vec2f {
  let channels = 2u * key_heads * key_dim + value_heads * value_dim;
  let b_at = t * (channels + value_heads * value_dim + 2u * value_heads) + channels + value_heads * value_dim;
  let beta = 1.0 / (1.0 + exp(-proj[b_at + h]));
  let g = -exp(a_log[h]) * softplus(proj[b_at + value_heads + h] + dt_bias[h]);
  return vec2f(beta, g);
}
