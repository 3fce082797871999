// Workgroup-wide reductions shared by the kernel families (#include "reduce").
// The including shader declares `const WG: u32` (threads per workgroup, a power of two)
// and passes every thread's local index; with subgroups the partials go through
// subgroupAdd/subgroupMax first, otherwise through a shared-memory tree.
// Every thread of the workgroup must call these (uniform control flow); all get the result.

var<workgroup> reduce_scratch: array<f32, WG>;

#if HAS_SUBGROUPS
// Combines one value per subgroup; subgroups are laid out linearly over local_invocation_index.
fn reduce_subgroup_partials(v: f32, lid: u32, sg_size: u32, is_max: bool) -> f32 {
  let groups = (WG + sg_size - 1u) / sg_size;
  if (lid % sg_size == 0u) { reduce_scratch[lid / sg_size] = v; }
  workgroupBarrier();
  var r = reduce_scratch[0];
  for (var i = 1u; i < groups; i++) {
    r = select(r + reduce_scratch[i], max(r, reduce_scratch[i]), is_max);
  }
  workgroupBarrier();
  return r;
}

fn workgroup_sum(v: f32, lid: u32, sg_size: u32) -> f32 {
  return reduce_subgroup_partials(subgroupAdd(v), lid, sg_size, false);
}

fn workgroup_max(v: f32, lid: u32, sg_size: u32) -> f32 {
  return reduce_subgroup_partials(subgroupMax(v), lid, sg_size, true);
}
#else
fn reduce_tree(v: f32, lid: u32, is_max: bool) -> f32 {
  reduce_scratch[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let o = reduce_scratch[lid + s];
      reduce_scratch[lid] = select(reduce_scratch[lid] + o, max(reduce_scratch[lid], o), is_max);
    }
    workgroupBarrier();
  }
  let r = reduce_scratch[0];
  workgroupBarrier();
  return r;
}

fn workgroup_sum(v: f32, lid: u32, sg_size: u32) -> f32 { return reduce_tree(v, lid, false); }
fn workgroup_max(v: f32, lid: u32, sg_size: u32) -> f32 { return reduce_tree(v, lid, true); }
#endif
