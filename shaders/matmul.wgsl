// Tiled matrix product Y[t, :] = W · X[t, :] for several tokens (prefill projections, §3–§5).
// A workgroup of 16 × 16 threads computes a tile of TILE_T tokens × TILE_R weight rows, each
// thread a 4 × 4 block. Per step of 32 columns (one quantization group) it stages the x tile and
// the W tile in shared memory, decoding and scaling each weight once per tile; PREFETCH issues the
// next step's global loads before the current step's products (staging, below).
// Epilogues as in matvec.wgsl: store, EPILOGUE_ADD (y += W·x), SWIGLU (rows [gate; up], y = silu(g)·u);
// with SWIGLU a thread's four rows are two gate rows and their two up rows.

const TILE_T: u32 = 64u;
const TILE_R: u32 = 64u;
const TILE_K: u32 = 32u;
const THREADS: u32 = 256u;
#if SWIGLU
const TILE_OUTS: u32 = TILE_R / 2u;
#else
const TILE_OUTS: u32 = TILE_R;
#endif

struct Params {
  rows: u32,          // weight rows in this part
  cols: u32,          // length of an x row
  words_per_row: u32, // paddedCols / W_WORD_ELEMS
  outs: u32,          // outputs of this part: rows, or rows / 2 with SWIGLU
  out_offset: u32,    // index of the part's first output within a y row (part.rowStart)
  out_stride: u32,    // y row length
  tokens: u32,
  row_tiles: u32,     // ceil(outs / TILE_OUTS)
}

@group(0) @binding(0) var<uniform> p: Params;
#include "weights"
#if X_VEC4
@group(0) @binding(W_NEXT_BINDING) var<storage, read> x: array<vec4<f32>>;  // cols % 4 == 0
#else
@group(0) @binding(W_NEXT_BINDING) var<storage, read> x: array<f32>;
#endif
@group(0) @binding(W_NEXT_BINDING + 1u) var<storage, read_write> y: array<f32>;

const WORDS_PER_STEP: u32 = TILE_K / W_WORD_ELEMS;

// Tiles by quads, so the inner loop reads a thread's 4 tokens and 4 rows as two 16-byte loads.
var<workgroup> xs: array<vec4f, TILE_K * TILE_T / 4u>;  // [k][token / 4]
var<workgroup> ws: array<vec4f, TILE_K * TILE_R / 4u>;  // [k][tile row / 4]

fn put_x(k: u32, tok: u32, v: f32) { xs[k * (TILE_T / 4u) + tok / 4u][tok % 4u] = v; }
fn put_w(k: u32, lr: u32, v: f32) { ws[k * (TILE_R / 4u) + lr / 4u][lr % 4u] = v; }

// Output index fed by tile row lr (thread lr / 4 owns rows 4·(lr/4) .. +3).
fn tile_out(out0: u32, lr: u32) -> u32 {
#if SWIGLU
  return out0 + (lr >> 2u) * 2u + (lr & 1u);
#else
  return out0 + lr;
#endif
}

// Weight row of tile row lr: with SWIGLU rows 2 and 3 of each thread are the up rows.
fn tile_row(out0: u32, lr: u32) -> u32 {
#if SWIGLU
  return tile_out(out0, lr) + select(0u, p.outs, (lr & 2u) != 0u);
#else
  return tile_out(out0, lr);
#endif
}

// Staging: every step's global loads are fetched into registers, then staged (decoded, written to
// shared memory). With PREFETCH the next step's fetch is issued before the current step's products,
// so one resident workgroup per core (small grids) still overlaps memory latency with arithmetic.
// x: token lid % TILE_T, columns 8·(lid / TILE_T) .. +7 of the step (X_VEC4: two 16-byte loads; a
// quad lies wholly inside the row or past it); tokens past p.tokens and columns past p.cols read 0.
// Threads in a row of the grid write consecutive shared addresses (distinct banks).
const COLS_PER_THREAD: u32 = TILE_K * TILE_T / THREADS;  // 8, also TILE_K · TILE_R / THREADS

fn fetch_x(t0: u32, step: u32, lid: u32) -> array<vec4f, 2> {
  var v: array<vec4f, 2>;
  let t = t0 + lid % TILE_T;
  let c0 = step * TILE_K + (lid / TILE_T) * COLS_PER_THREAD;
  for (var h = 0u; h < 2u; h++) {
    let c = c0 + 4u * h;
#if X_VEC4
    v[h] = select(vec4(0.0), x[(t * p.cols + c) / 4u], t < p.tokens && c < p.cols);
#else
    for (var e = 0u; e < 4u; e++) { v[h][e] = select(0.0, x[t * p.cols + c + e], t < p.tokens && c + e < p.cols); }
#endif
  }
  return v;
}

fn stage_x(v: array<vec4f, 2>, lid: u32) {
  let k0 = (lid / TILE_T) * COLS_PER_THREAD;
  for (var h = 0u; h < 2u; h++) {
    for (var e = 0u; e < 4u; e++) { put_x(k0 + 4u * h + e, lid % TILE_T, v[h][e]); }
  }
}

#if PREFETCH
// W, an equal share per thread: tile row lid % TILE_R, columns 8·(lid / TILE_R) .. +7 of the step,
// two quads of one 16-byte word (f32: of two words), decoded and scaled when staged.
const W_WORDS_PER_THREAD: u32 = (COLS_PER_THREAD + W_WORD_ELEMS - 1u) / W_WORD_ELEMS;  // f32: 2, else 1

struct FetchedW {
  word: array<vec4<u32>, W_WORDS_PER_THREAD>,
  scale: array<f32, W_WORDS_PER_THREAD>,
}

fn fetch_w(out0: u32, step: u32, lid: u32) -> FetchedW {
  var f: FetchedW;
  let lr = lid % TILE_R;
  let word0 = min(tile_row(out0, lr), p.rows - 1u) * p.words_per_row + step * WORDS_PER_STEP + (lid / TILE_R) * COLS_PER_THREAD / W_WORD_ELEMS;
  for (var n = 0u; n < W_WORDS_PER_THREAD; n++) {
    f.word[n] = w_data[word0 + n];
    f.scale[n] = select(0.0, w_word_scale(word0 + n), tile_out(out0, lr) < p.outs);
  }
  return f;
}

fn stage_w(f: FetchedW, lid: u32) {
  let quad0 = (lid / TILE_R) * (COLS_PER_THREAD / 4u);  // first quad of the step
  for (var h = 0u; h < 2u; h++) {
    let quad = quad0 + h;
    let n = select(0u, h, W_WORDS_PER_THREAD > 1u);
    let v = w_word_part(f.word[n], quad % W_WORD_VEC4S) * f.scale[n];
    for (var e = 0u; e < 4u; e++) { put_w(4u * quad + e, lid % TILE_R, v[e]); }
  }
}
#else
// W, one whole word per thread (the first TILE_R · WORDS_PER_STEP threads), loaded and staged at once.
fn load_w_tile(out0: u32, step: u32, lid: u32) {
  for (var i = lid; i < TILE_R * WORDS_PER_STEP; i += THREADS) {
    let lr = i / WORDS_PER_STEP;
    let wj = i % WORDS_PER_STEP;
    let wi = min(tile_row(out0, lr), p.rows - 1u) * p.words_per_row + step * WORDS_PER_STEP + wj;
    let s = select(0.0, w_word_scale(wi), tile_out(out0, lr) < p.outs);
    let word = w_data[wi];
    for (var j = 0u; j < W_WORD_VEC4S; j++) {
      let v = w_word_part(word, j) * s;
      let k = wj * W_WORD_ELEMS + 4u * j;
      for (var e = 0u; e < 4u; e++) { put_w(k + e, lr, v[e]); }
    }
  }
}
#endif

@compute @workgroup_size(16, 16)
fn main(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_id) lid3: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let flat = wg.x + wg.y * nwg.x;
  let t0 = (flat / p.row_tiles) * TILE_T;
  if (t0 >= p.tokens) { return; }  // uniform per workgroup
  let out0 = (flat % p.row_tiles) * TILE_OUTS;
  let tx = lid3.x;
  let ty = lid3.y;

  var acc: array<vec4<f32>, 4>;  // acc[i][j]: token t0 + 4ty + i, tile row 4tx + j
  let steps = p.words_per_row / WORDS_PER_STEP;
#if PREFETCH
  var next_x = fetch_x(t0, 0u, lid);
  var next_w = fetch_w(out0, 0u, lid);
#endif
  for (var step = 0u; step < steps; step++) {
#if PREFETCH
    stage_x(next_x, lid);
    stage_w(next_w, lid);
    workgroupBarrier();
    if (step + 1u < steps) {  // uniform; these loads are in flight during the products below
      next_x = fetch_x(t0, step + 1u, lid);
      next_w = fetch_w(out0, step + 1u, lid);
    }
#else
    stage_x(fetch_x(t0, step, lid), lid);
    load_w_tile(out0, step, lid);
    workgroupBarrier();
#endif
    for (var k = 0u; k < TILE_K; k++) {
      let a = xs[k * (TILE_T / 4u) + ty];
      let b = ws[k * (TILE_R / 4u) + tx];
      acc[0] += a.x * b;
      acc[1] += a.y * b;
      acc[2] += a.z * b;
      acc[3] += a.w * b;
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let t = t0 + 4u * ty + i;
    if (t >= p.tokens) { break; }
    let yrow = t * p.out_stride + p.out_offset;
#if SWIGLU
    for (var j = 0u; j < 2u; j++) {
      let o = out0 + 2u * tx + j;
      let g = acc[i][j];
      if (o < p.outs) { y[yrow + o] = g / (1.0 + exp(-g)) * acc[i][j + 2u]; }
    }
#else
    for (var j = 0u; j < 4u; j++) {
      let o = out0 + 4u * tx + j;
#if EPILOGUE_ADD
      if (o < p.outs) { y[yrow + o] += acc[i][j]; }
#else
      if (o < p.outs) { y[yrow + o] = acc[i][j]; }
#endif
    }
#endif
  }
}
