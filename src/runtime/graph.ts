/**
 * A forward pass as an ordered list of steps: compute nodes (the dispatches of one bound
 * kernel, resized per call) and buffer copies. Consecutive compute nodes share one compute
 * pass; the whole list is encoded into one command buffer. Building the graph happens once;
 * per call only uniforms and workgroup counts change — no allocation on the hot path.
 */
import { dispatchRuns, type Dispatch } from '../gpu/kernel.js';

/** What changes between calls: the first position and the number of tokens. */
export interface CallShape {
  pos0: number;
  tokens: number;
}

export interface ComputeNode {
  kind: 'compute';
  label: string;
  /** Read at encode time: setters of the bound kernel may replace workgroup counts. */
  dispatches(): readonly Dispatch[];
  /** Applies the call shape to the kernel's uniforms / workgroup counts. */
  update(shape: CallShape): void;
}

export interface CopyNode {
  kind: 'copy';
  label: string;
  src: GPUBuffer;
  dst: GPUBuffer;
  /** Byte offsets and size for the call shape (multiples of 4). */
  range(shape: CallShape): { srcOffset: number; dstOffset: number; size: number };
}

export type GraphNode = ComputeNode | CopyNode;

/** Wraps a bound kernel ({dispatches} + a setter) as a compute node. */
export function computeNode(
  label: string,
  bound: { dispatches: readonly Dispatch[] },
  update: (shape: CallShape) => void = () => undefined,
): ComputeNode {
  return { kind: 'compute', label, dispatches: () => bound.dispatches, update };
}

export class Graph {
  constructor(
    readonly label: string,
    readonly nodes: readonly GraphNode[],
  ) {}

  update(shape: CallShape): void {
    for (const n of this.nodes) if (n.kind === 'compute') n.update(shape);
  }

  /** Number of dispatches a call of this shape issues (after update()). */
  dispatchCount(): number {
    let n = 0;
    for (const node of this.nodes) {
      if (node.kind !== 'compute') continue;
      n += node.dispatches().filter(dispatchRuns).length;
    }
    return n;
  }

  /**
   * Encodes every node. With `timestamps`, each compute node gets its own pass with
   * begin/end timestamp writes at query indices 2i and 2i+1 (for the profiler).
   */
  encode(encoder: GPUCommandEncoder, shape: CallShape, timestamps?: { querySet: GPUQuerySet; nodeIndex: Map<ComputeNode, number> }): void {
    let pass: GPUComputePassEncoder | undefined;
    const endPass = (): void => {
      pass?.end();
      pass = undefined;
    };
    for (const node of this.nodes) {
      if (node.kind === 'copy') {
        endPass();
        const r = node.range(shape);
        if (r.size > 0) encoder.copyBufferToBuffer(node.src, r.srcOffset, node.dst, r.dstOffset, r.size);
        continue;
      }
      const index = timestamps?.nodeIndex.get(node);
      if (timestamps && index !== undefined) {
        endPass();
        pass = encoder.beginComputePass({
          label: node.label,
          timestampWrites: { querySet: timestamps.querySet, beginningOfPassWriteIndex: 2 * index, endOfPassWriteIndex: 2 * index + 1 },
        });
      } else {
        pass ??= encoder.beginComputePass({ label: this.label });
      }
      for (const d of node.dispatches()) {
        if (!dispatchRuns(d)) continue;
        pass.setPipeline(d.pipeline);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
      }
      if (timestamps && index !== undefined) endPass();
    }
    endPass();
  }
}
