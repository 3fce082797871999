/**
 * Operator-level CPU reference (plain TS, f64 accumulation, f32 storage): the numerical truth
 * every WGSL kernel is tested against and the building blocks of the reference forward.
 * Formulas cite ../shared/docs/qwen35-architecture.md by section (§).
 *
 * Layout conventions (row-major, token-major):
 *   activations  [T, n]           one row per token
 *   weights      [out, in]        Linear(W)(x) = W·x
 *   heads        [T, H, d]        head-major within a token
 *   GDN state    [Hv, dk, dv]     S_h[i, j], i over the key dim, j over the value dim
 *   conv state   [K−1, C]         the last K−1 pre-conv columns, oldest first
 *   KV cache     [P, Hkv, d]      one row per cached position
 */

export const silu = (v: number): number => v / (1 + Math.exp(-v));
export const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));
/** PyTorch softplus: identity above 20 (§9.9). */
export const softplus = (v: number): number => (v > 20 ? v : Math.log1p(Math.exp(v)));

/**
 * RMSNorm over consecutive rows of length n (§2).
 * zero-centred: y = x · rsqrt(mean(x²) + eps) · (1 + w); plain: · w instead.
 */
export function rmsNorm(x: Float32Array, w: Float32Array, n: number, eps: number, unitOffset: boolean): Float32Array {
  const y = new Float32Array(x.length);
  for (let base = 0; base < x.length; base += n) {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[base + i]! * x[base + i]!;
    const inv = 1 / Math.sqrt(ss / n + eps);
    for (let i = 0; i < n; i++) y[base + i] = x[base + i]! * inv * (unitOffset ? 1 + w[i]! : w[i]!);
  }
  return y;
}

/** y[T, n] = x[T, k] · Wᵀ with W: [n, k]. */
export function linear(x: Float32Array, w: Float32Array, n: number, k: number): Float32Array {
  const tokens = x.length / k;
  const y = new Float32Array(tokens * n);
  for (let t = 0; t < tokens; t++) {
    const xo = t * k;
    for (let r = 0; r < n; r++) {
      const wo = r * k;
      let s = 0;
      for (let i = 0; i < k; i++) s += w[wo + i]! * x[xo + i]!;
      y[t * n + r] = s;
    }
  }
  return y;
}

/** SwiGLU on a fused [T, 2I] gate|up projection (§5): y[t, i] = silu(gate[t, i]) · up[t, i]. */
export function swiglu(gateUp: Float32Array, inter: number): Float32Array {
  const tokens = gateUp.length / (2 * inter);
  const y = new Float32Array(tokens * inter);
  for (let t = 0; t < tokens; t++) {
    for (let i = 0; i < inter; i++) y[t * inter + i] = silu(gateUp[t * 2 * inter + i]!) * gateUp[t * 2 * inter + inter + i]!;
  }
  return y;
}

/** Embedding lookup (§1, no scaling): rows of table [V, hidden]. */
export function embed(table: Float32Array, hidden: number, ids: ArrayLike<number>): Float32Array {
  const out = new Float32Array(ids.length * hidden);
  for (let t = 0; t < ids.length; t++) out.set(table.subarray(ids[t]! * hidden, (ids[t]! + 1) * hidden), t * hidden);
  return out;
}

/**
 * Partial rotate-half RoPE (§3), in place on x [T, heads, headDim]; token t is at position pos0 + t.
 * The first rotaryDim dims rotate in pairs (i, i + rotaryDim/2); inv_freq[i] = θ^(−2i/rotaryDim).
 */
export function applyRope(x: Float32Array, heads: number, headDim: number, rotaryDim: number, theta: number, pos0: number): void {
  const half = rotaryDim / 2;
  const tokens = x.length / (heads * headDim);
  for (let t = 0; t < tokens; t++) {
    const p = pos0 + t;
    for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const angle = p * Math.pow(theta, (-2 * i) / rotaryDim);
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        const a = x[base + i]!;
        const b = x[base + i + half]!;
        x[base + i] = a * c - b * s;
        x[base + i + half] = b * c + a * s;
      }
    }
  }
}

export interface AttentionDims {
  heads: number;
  kvHeads: number;
  headDim: number;
}

/**
 * Causal GQA attention over a KV cache (§3 steps 3–4), before the output gate.
 * q: [T, H, d] (normed + roped); kCache/vCache: [P, Hkv, d] holding positions 0..pos0+T−1.
 * Query t (position pos0 + t) attends to positions 0..pos0+t; head h reads kv head floor(h / (H/Hkv)).
 * Returns [T, H·d], head-major.
 */
export function attention(q: Float32Array, kCache: Float32Array, vCache: Float32Array, dims: AttentionDims, pos0: number): Float32Array {
  const { heads, kvHeads, headDim: d } = dims;
  const tokens = q.length / (heads * d);
  const group = heads / kvHeads;
  const scale = 1 / Math.sqrt(d);
  const out = new Float32Array(tokens * heads * d);
  for (let t = 0; t < tokens; t++) {
    const last = pos0 + t;
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor(h / group);
      const qo = (t * heads + h) * d;
      const scores = new Float64Array(last + 1);
      let max = -Infinity;
      for (let p = 0; p <= last; p++) {
        const ko = (p * kvHeads + kvh) * d;
        let s = 0;
        for (let i = 0; i < d; i++) s += q[qo + i]! * kCache[ko + i]!;
        scores[p] = s * scale;
        max = Math.max(max, scores[p]!);
      }
      let sum = 0;
      for (let p = 0; p <= last; p++) sum += scores[p] = Math.exp(scores[p]! - max);
      const acc = new Float64Array(d);
      for (let p = 0; p <= last; p++) {
        const vo = (p * kvHeads + kvh) * d;
        const wgt = scores[p]! / sum;
        for (let i = 0; i < d; i++) acc[i]! += wgt * vCache[vo + i]!;
      }
      for (let i = 0; i < d; i++) out[qo + i] = acc[i]!;
    }
  }
  return out;
}

/** Output gate (§3 step 5): o ⊙ sigmoid(gate), both [T, H·d]. */
export function sigmoidGate(o: Float32Array, gate: Float32Array): Float32Array {
  return o.map((v, i) => v * sigmoid(gate[i]!));
}

/**
 * Causal depthwise conv1d + SiLU over all C channels (§4.2 step 2).
 * x: [T, C] pre-conv projection; state: [K−1, C] previous columns (oldest first), updated in
 * place to the last K−1 columns of (state ++ x); w: [C, K]. Returns y [T, C].
 */
export function causalConv1dSilu(x: Float32Array, state: Float32Array, w: Float32Array, channels: number, kernel: number): Float32Array {
  const tokens = x.length / channels;
  const hist = kernel - 1;
  // Column j of the extended sequence (state ++ x).
  const col = (j: number, c: number): number => (j < hist ? state[j * channels + c]! : x[(j - hist) * channels + c]!);
  const y = new Float32Array(tokens * channels);
  for (let t = 0; t < tokens; t++) {
    for (let c = 0; c < channels; c++) {
      let s = 0;
      for (let j = 0; j < kernel; j++) s += w[c * kernel + j]! * col(t + j, c);
      y[t * channels + c] = silu(s);
    }
  }
  const next = new Float32Array(hist * channels);
  for (let j = 0; j < hist; j++) for (let c = 0; c < channels; c++) next[j * channels + c] = col(tokens + j, c);
  state.set(next);
  return y;
}

/** l2norm of rows of length n (§4.2 step 5): x · rsqrt(Σx² + eps), then · scale. */
export function l2Normalize(x: Float32Array, n: number, scale = 1, eps = 1e-6): Float32Array {
  const y = new Float32Array(x.length);
  for (let base = 0; base < x.length; base += n) {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[base + i]! * x[base + i]!;
    const inv = scale / Math.sqrt(ss + eps);
    for (let i = 0; i < n; i++) y[base + i] = x[base + i]! * inv;
  }
  return y;
}

/**
 * GDN gates (§4.2 step 4), per token and value head:
 * β = sigmoid(b), g = −exp(A_log) · softplus(a + dt_bias). b, a: [T, Hv]; aLog, dtBias: [Hv].
 */
export function gdnGates(b: Float32Array, a: Float32Array, aLog: Float32Array, dtBias: Float32Array): { beta: Float32Array; g: Float32Array } {
  const hv = aLog.length;
  const beta = b.map(sigmoid);
  const g = a.map((v, i) => -Math.exp(aLog[i % hv]!) * softplus(v + dtBias[i % hv]!));
  return { beta, g };
}

export interface GdnDims {
  keyHeads: number;
  valueHeads: number;
  keyDim: number;
  valueDim: number;
}

export interface GdnInputs {
  /** [T, Hk, dk], l2-normalised and scaled by dk^−0.5. */
  q: Float32Array;
  /** [T, Hk, dk], l2-normalised. */
  k: Float32Array;
  /** [T, Hv, dv]. */
  v: Float32Array;
  /** [T, Hv]. */
  beta: Float32Array;
  /** [T, Hv], log-decay (≤ 0). */
  g: Float32Array;
}

/**
 * Gated delta rule, token by token (§4.2 step 7). State [Hv, dk, dv] is updated in place.
 * Per v head h with k head κ = floor(h / (Hv/Hk)):
 *   S ← e^g S;  u = Sᵀk;  δ = β (v − u);  S ← S + k δᵀ;  o = Sᵀq
 * Returns o [T, Hv, dv].
 */
export function gdnRecurrent(inp: GdnInputs, state: Float32Array, dims: GdnDims): Float32Array {
  const { keyHeads, valueHeads, keyDim: dk, valueDim: dv } = dims;
  const tokens = inp.beta.length / valueHeads;
  const ratio = valueHeads / keyHeads;
  const out = new Float32Array(tokens * valueHeads * dv);
  const u = new Float64Array(dv);
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < valueHeads; h++) {
      const kh = Math.floor(h / ratio);
      const S = state.subarray(h * dk * dv, (h + 1) * dk * dv);
      const qo = (t * keyHeads + kh) * dk;
      const vo = (t * valueHeads + h) * dv;
      const decay = Math.exp(inp.g[t * valueHeads + h]!);
      const beta = inp.beta[t * valueHeads + h]!;
      u.fill(0);
      for (let i = 0; i < dk; i++) {
        const ki = inp.k[qo + i]!;
        for (let j = 0; j < dv; j++) {
          S[i * dv + j] = S[i * dv + j]! * decay;
          u[j]! += S[i * dv + j]! * ki;
        }
      }
      for (let j = 0; j < dv; j++) u[j] = beta * (inp.v[vo + j]! - u[j]!);
      for (let i = 0; i < dk; i++) {
        const ki = inp.k[qo + i]!;
        for (let j = 0; j < dv; j++) S[i * dv + j] = S[i * dv + j]! + ki * u[j]!;
      }
      for (let j = 0; j < dv; j++) {
        let o = 0;
        for (let i = 0; i < dk; i++) o += S[i * dv + j]! * inp.q[qo + i]!;
        out[vo + j] = o;
      }
    }
  }
  return out;
}

/**
 * Gated delta rule in chunked (WY/UT) form (§4.3), mathematically equal to gdnRecurrent.
 * For each chunk of L ≤ chunk tokens and v head h (carry-in state S: [dk, dv]):
 *   γ_i = Σ_{m≤i} g_m;  D_ij = exp(γ_i − γ_j) for j ≤ i, else 0
 *   M = I + strict_lower(diag(β) K Kᵀ ⊙ D)
 *   U = M⁻¹ diag(β) V;  W = M⁻¹ diag(β e^γ) K      (forward substitution)
 *   V' = U − W S
 *   O = diag(e^γ) Q S + ((Q Kᵀ) ⊙ D) V'
 *   S ← e^{γ_L} S + (diag(e^{γ_L − γ}) K)ᵀ V'
 */
export function gdnChunked(inp: GdnInputs, state: Float32Array, dims: GdnDims, chunk = 64): Float32Array {
  const { keyHeads, valueHeads, keyDim: dk, valueDim: dv } = dims;
  const tokens = inp.beta.length / valueHeads;
  const ratio = valueHeads / keyHeads;
  const out = new Float32Array(tokens * valueHeads * dv);
  for (let h = 0; h < valueHeads; h++) {
    const kh = Math.floor(h / ratio);
    const S = Float64Array.from(state.subarray(h * dk * dv, (h + 1) * dk * dv));
    for (let t0 = 0; t0 < tokens; t0 += chunk) {
      const L = Math.min(chunk, tokens - t0);
      const qv = (i: number, a: number): number => inp.q[((t0 + i) * keyHeads + kh) * dk + a]!;
      const kv = (i: number, a: number): number => inp.k[((t0 + i) * keyHeads + kh) * dk + a]!;
      const vv = (i: number, j: number): number => inp.v[((t0 + i) * valueHeads + h) * dv + j]!;
      const beta = (i: number): number => inp.beta[(t0 + i) * valueHeads + h]!;
      const gamma = new Float64Array(L);
      for (let i = 0, acc = 0; i < L; i++) gamma[i] = acc += inp.g[(t0 + i) * valueHeads + h]!;
      const dot = (f: (i: number, a: number) => number, i: number, j: number): number => {
        let s = 0;
        for (let a = 0; a < dk; a++) s += f(i, a) * kv(j, a);
        return s;
      };
      // Forward substitution: row i of M⁻¹R = R_i − Σ_{j<i} M_ij (M⁻¹R)_j, for R = diag(β)V and diag(βe^γ)K.
      const U = new Float64Array(L * dv);
      const W = new Float64Array(L * dk);
      for (let i = 0; i < L; i++) {
        for (let j = 0; j < dv; j++) U[i * dv + j] = beta(i) * vv(i, j);
        for (let a = 0; a < dk; a++) W[i * dk + a] = beta(i) * Math.exp(gamma[i]!) * kv(i, a);
        for (let j = 0; j < i; j++) {
          const m = beta(i) * dot(kv, i, j) * Math.exp(gamma[i]! - gamma[j]!);
          for (let c = 0; c < dv; c++) U[i * dv + c]! -= m * U[j * dv + c]!;
          for (let a = 0; a < dk; a++) W[i * dk + a]! -= m * W[j * dk + a]!;
        }
      }
      // V' = U − W S
      const Vp = new Float64Array(L * dv);
      for (let i = 0; i < L; i++) {
        for (let c = 0; c < dv; c++) {
          let ws = 0;
          for (let a = 0; a < dk; a++) ws += W[i * dk + a]! * S[a * dv + c]!;
          Vp[i * dv + c] = U[i * dv + c]! - ws;
        }
      }
      // O = diag(e^γ) Q S + ((Q Kᵀ) ⊙ D) V'
      for (let i = 0; i < L; i++) {
        const o = new Float64Array(dv);
        const eg = Math.exp(gamma[i]!);
        for (let a = 0; a < dk; a++) {
          const qa = qv(i, a) * eg;
          for (let c = 0; c < dv; c++) o[c]! += qa * S[a * dv + c]!;
        }
        for (let j = 0; j <= i; j++) {
          const m = dot(qv, i, j) * Math.exp(gamma[i]! - gamma[j]!);
          for (let c = 0; c < dv; c++) o[c]! += m * Vp[j * dv + c]!;
        }
        out.set(o, ((t0 + i) * valueHeads + h) * dv);
      }
      // S ← e^{γ_L} S + (diag(e^{γ_L − γ}) K)ᵀ V'
      const gl = gamma[L - 1]!;
      for (let a = 0; a < dk; a++) {
        for (let c = 0; c < dv; c++) {
          let s = Math.exp(gl) * S[a * dv + c]!;
          for (let i = 0; i < L; i++) s += Math.exp(gl - gamma[i]!) * kv(i, a) * Vp[i * dv + c]!;
          S[a * dv + c] = s;
        }
      }
    }
    state.set(S, h * dk * dv);
  }
  return out;
}

/**
 * Gated RMSNorm of the GDN output (§2), per value head (rows of dv):
 * y = (o · rsqrt(mean(o²) + eps)) · w · silu(z), plain weight (no +1).
 */
export function gatedRmsNorm(o: Float32Array, z: Float32Array, w: Float32Array, eps: number): Float32Array {
  const normed = rmsNorm(o, w, w.length, eps, false);
  return normed.map((v, i) => v * silu(z[i]!));
}

/**
 * MoE router (§5 steps 1–2): softmax over all E experts, top-k (ties → lower index), then
 * renormalise the k weights when `renormalize`. logits: [T, E]. Returns ids and weights [T, k].
 */
export function routerTopK(logits: Float32Array, experts: number, topK: number, renormalize: boolean): { ids: Uint32Array; weights: Float32Array } {
  const tokens = logits.length / experts;
  const ids = new Uint32Array(tokens * topK);
  const weights = new Float32Array(tokens * topK);
  for (let t = 0; t < tokens; t++) {
    const row = logits.subarray(t * experts, (t + 1) * experts);
    const max = row.reduce((m, v) => Math.max(m, v), -Infinity);
    const p = Array.from(row, (v) => Math.exp(v - max));
    const total = p.reduce((a, b) => a + b, 0);
    const order = p.map((_, e) => e).sort((a, b) => p[b]! - p[a]! || a - b);
    const chosen = order.slice(0, topK);
    const kept = chosen.reduce((a, e) => a + p[e]! / total, 0);
    chosen.forEach((e, j) => {
      ids[t * topK + j] = e;
      weights[t * topK + j] = renormalize ? p[e]! / total / kept : p[e]! / total;
    });
  }
  return { ids, weights };
}
