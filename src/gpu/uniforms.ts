/**
 * Kernel parameters live in one uniform arena addressed by offsets: each bound dispatch
 * owns a 256-byte-aligned slot, written on the CPU mirror and uploaded in one writeBuffer
 * per page when something changed. No per-token buffer creation.
 */
import { GpuValidationError } from '../errors.js';
import type { GpuAllocator } from './allocator.js';

/** Field order and types of a WGSL params struct (same order as in the shader). */
export type ParamLayout = readonly (readonly [name: string, type: 'u32' | 'i32' | 'f32'])[];
export type ParamValues<L extends ParamLayout> = { [K in L[number][0]]: number };

const PAGE_BYTES = 64 * 1024;

interface Page {
  buffer: GPUBuffer;
  mirror: ArrayBuffer;
  used: number;
  dirtyFrom: number;
  dirtyTo: number;
}

export class UniformSlot<L extends ParamLayout> {
  private readonly u32: Uint32Array;
  private readonly i32: Int32Array;
  private readonly f32: Float32Array;

  constructor(
    private readonly page: Page,
    readonly offset: number,
    readonly size: number,
    private readonly layout: L,
  ) {
    this.u32 = new Uint32Array(page.mirror, offset, size / 4);
    this.i32 = new Int32Array(page.mirror, offset, size / 4);
    this.f32 = new Float32Array(page.mirror, offset, size / 4);
  }

  get binding(): GPUBufferBinding {
    return { buffer: this.page.buffer, offset: this.offset, size: this.size };
  }

  /** Writes the given fields (others keep their value) and marks the slot for upload. */
  set(values: Partial<ParamValues<L>>): void {
    const vals = values as Record<string, number | undefined>;
    this.layout.forEach(([name, type], i) => {
      const v = vals[name];
      if (v === undefined) return;
      if (type === 'f32') this.f32[i] = v;
      else if (type === 'i32') this.i32[i] = v;
      else this.u32[i] = v;
    });
    this.page.dirtyFrom = Math.min(this.page.dirtyFrom, this.offset);
    this.page.dirtyTo = Math.max(this.page.dirtyTo, this.offset + this.size);
  }
}

/** Bytes of one slot in the arena's address space (the uniform offset alignment WebGPU guarantees). */
export const UNIFORM_SLOT_BYTES = 256;

export class UniformArena {
  private readonly pages: Page[] = [];
  private readonly align: number;

  /**
   * With `capacityBytes`, the arena is one buffer of exactly that size, allocated now, and
   * running out is an error (the session sizes it from its plan, so memory is predictable).
   * Without, it grows by 64 KiB pages.
   */
  constructor(
    private readonly device: GPUDevice,
    private readonly allocator: GpuAllocator,
    private readonly capacityBytes?: number,
  ) {
    this.align = Math.max(device.limits.minUniformBufferOffsetAlignment, 16);
    if (capacityBytes !== undefined) this.newPage(capacityBytes);
  }

  alloc<L extends ParamLayout>(layout: L, values?: Partial<ParamValues<L>>): UniformSlot<L> {
    // WGSL uniform structs are padded to 16 bytes.
    const size = Math.max(16, Math.ceil((layout.length * 4) / 16) * 16);
    let page = this.pages[this.pages.length - 1];
    const offset = page ? Math.ceil(page.used / this.align) * this.align : 0;
    if (page && offset + size <= page.mirror.byteLength) return this.place(page, offset, size, layout, values);
    if (this.capacityBytes !== undefined) {
      throw new GpuValidationError(`the uniform arena (${this.capacityBytes} bytes) is full: the session plan reserved too few slots`);
    }
    return this.place(this.newPage(PAGE_BYTES), 0, size, layout, values);
  }

  private place<L extends ParamLayout>(page: Page, offset: number, size: number, layout: L, values?: Partial<ParamValues<L>>): UniformSlot<L> {
    page.used = offset + size;
    const slot = new UniformSlot(page, offset, size, layout);
    if (values) slot.set(values);
    return slot;
  }

  private newPage(bytes: number): Page {
    const buffer = this.allocator.create({
      label: `uniforms#${this.pages.length}`,
      category: 'other',
      size: bytes,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    const page: Page = { buffer, mirror: new ArrayBuffer(bytes), used: 0, dirtyFrom: Infinity, dirtyTo: 0 };
    this.pages.push(page);
    return page;
  }

  /** Uploads every slot written since the last flush. Call before submitting work. */
  flush(): void {
    for (const page of this.pages) {
      if (page.dirtyTo <= page.dirtyFrom) continue;
      this.device.queue.writeBuffer(page.buffer, page.dirtyFrom, page.mirror, page.dirtyFrom, page.dirtyTo - page.dirtyFrom);
      page.dirtyFrom = Infinity;
      page.dirtyTo = 0;
    }
  }

  /** Bytes of uniform buffers allocated so far (accounted under 'other'). */
  get bytes(): number {
    return this.pages.reduce((a, p) => a + p.mirror.byteLength, 0);
  }

  /** Slots handed out so far (for checking a planned capacity). */
  get slotsUsed(): number {
    return this.pages.reduce((a, p) => a + Math.ceil(p.used / this.align), 0);
  }
}
