/**
 * The session's buffers other than weights: activations, KV cache and DeltaNet state, allocated
 * exactly as buffer-plan.ts lists them. Snapshots copy the whole cache state on the GPU — cheap,
 * because the DeltaNet state is fixed-size and only the KV rows in use are copied.
 */
import { storageUsage, type KernelContext } from '../gpu/kernel.js';
import type { BufferSpec } from './buffer-plan.js';

export class BufferSet {
  readonly buffers: Record<string, GPUBuffer> = {};

  constructor(
    private readonly ctx: KernelContext,
    readonly specs: readonly BufferSpec[],
  ) {
    try {
      for (const s of specs) {
        const usage = s.category === 'staging' ? GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST : storageUsage();
        this.buffers[s.key] = ctx.allocator.create({ label: s.key, category: s.category, size: s.bytes, usage });
      }
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  destroy(): void {
    for (const b of Object.values(this.buffers)) this.ctx.allocator.destroy(b);
  }
}

/** A copy of the cache state at some position (see CacheState.snapshot). */
export interface CacheSnapshot {
  position: number;
  /** Tokens in the cache at the snapshot. */
  tokens: number[];
  /** A generated token not yet fed into the cache (see generate.ts). */
  pending?: number;
  buffers: Record<string, GPUBuffer>;
}

export class CacheState extends BufferSet {
  constructor(
    ctx: KernelContext,
    specs: readonly BufferSpec[],
    /** Bytes of one cached position in one K or V buffer. */
    private readonly kvRowBytes: number,
  ) {
    super(ctx, specs);
  }

  /** Zeroes the DeltaNet conv and recurrent state (KV rows beyond the position are never read). */
  clear(encoder: GPUCommandEncoder): void {
    for (const s of this.specs) if (s.category === 'linear-state') encoder.clearBuffer(this.buffers[s.key]!);
  }

  /** Copies the state (and the first `position` KV rows) into new buffers of the same categories. */
  snapshot(ctx: KernelContext, position: number, tokens: number[]): CacheSnapshot {
    const buffers: Record<string, GPUBuffer> = {};
    const encoder = ctx.device.createCommandEncoder({ label: 'snapshot' });
    try {
      for (const s of this.specs) {
        const size = s.category === 'kv-cache' ? position * this.kvRowBytes : s.bytes;
        buffers[s.key] = ctx.allocator.create({ label: `snapshot ${s.key}`, category: s.category, size, usage: storageUsage() });
        if (size > 0) encoder.copyBufferToBuffer(this.buffers[s.key]!, 0, buffers[s.key]!, 0, size);
      }
    } catch (e) {
      Object.values(buffers).forEach((b) => ctx.allocator.destroy(b));
      throw e;
    }
    ctx.device.queue.submit([encoder.finish()]);
    return { position, tokens: [...tokens], buffers };
  }

  restore(ctx: KernelContext, snap: CacheSnapshot): void {
    const encoder = ctx.device.createCommandEncoder({ label: 'restore' });
    for (const s of this.specs) {
      const src = snap.buffers[s.key]!;
      if (src.size > 0 && (s.category !== 'kv-cache' || snap.position > 0)) {
        encoder.copyBufferToBuffer(src, 0, this.buffers[s.key]!, 0, s.category === 'kv-cache' ? snap.position * this.kvRowBytes : s.bytes);
      }
    }
    ctx.device.queue.submit([encoder.finish()]);
  }
}

export function releaseSnapshot(ctx: KernelContext, snap: CacheSnapshot): void {
  Object.values(snap.buffers).forEach((b) => ctx.allocator.destroy(b));
  snap.buffers = {};
}
