// Embedding lookup (architecture §1, no scaling): out[t, :] = row ids[t] of the table, decoded
// from its weight format. One workgroup per token; a table split in parts runs one dispatch per
// part, each writing only the tokens whose id falls in it. Ids past the table's end read nothing
// and get zeros (written by the dispatch of part 0).

const WG: u32 = 64u;

struct Params {
  part_rows: u32,
  row_start: u32,     // first table row held by this part
  table_rows: u32,    // rows of the whole table (vocabulary size)
  cols: u32,
  words_per_row: u32,
  tokens: u32,
  zero_invalid: u32,  // 1 for the part that writes zeros for out-of-range ids
}

@group(0) @binding(0) var<uniform> p: Params;
#include "weights"
@group(0) @binding(W_NEXT_BINDING) var<storage, read> ids: array<u32>;
@group(0) @binding(W_NEXT_BINDING + 1u) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = wg.x + wg.y * nwg.x;
  if (t >= p.tokens) { return; }
  let id = ids[t];
  let invalid = id >= p.table_rows;
  let in_part = id >= p.row_start && id - p.row_start < p.part_rows;
  if (!in_part && !(invalid && p.zero_invalid != 0u)) { return; }
  let row = select(id - p.row_start, 0u, invalid);
  for (var k = lid; k < p.words_per_row; k += WG) {
    let wi = row * p.words_per_row + k;
    let word = w_data[wi];
    let s = w_word_scale(wi);
    for (var j = 0u; j < W_WORD_VEC4S; j++) {
      let v = select(w_word_part(word, j) * s, vec4(0.0), invalid);
      let c = k * W_WORD_ELEMS + 4u * j;
      for (var e = 0u; e < 4u; e++) {
        if (c + e < p.cols) { out[t * p.cols + c + e] = v[e]; }
      }
    }
  }
}
