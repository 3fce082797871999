/**
 * Watches a device for what can go wrong outside any one call: loss (destroyed, driver reset)
 * and GPU errors raised by commands outside an error scope. Every wait the runtime makes
 * (weight upload, pipeline builds, queue drains, read-backs) goes through `wait`, which is raced
 * against the loss, so a lost device turns into a DeviceLostError at once instead of a promise
 * that may never settle. Nothing accumulates per wait (no handler is left on `device.lost`).
 */
import { DeviceLostError, GpuValidationError, OutOfGpuMemoryError } from '../errors.js';
import type { GpuContext } from '../gpu/device.js';

export class DeviceWatch {
  private lost: GPUDeviceLostInfo | undefined;
  private error: GPUError | undefined;
  private readonly waiting = new Set<(info: GPUDeviceLostInfo) => void>();
  private readonly onError = (ev: Event): void => {
    this.error ??= (ev as GPUUncapturedErrorEvent).error;
  };

  constructor(private readonly gpu: GpuContext) {
    void gpu.lost.then((info) => {
      this.lost = info;
      for (const reject of this.waiting) reject(info);
      this.waiting.clear();
    });
    gpu.device.addEventListener('uncapturederror', this.onError);
  }

  /** Throws DeviceLostError if the device is lost, else the typed form of the first uncaptured GPU error. */
  check(what: string): void {
    if (this.lost) throw lostError(this.lost, what);
    if (this.error) throw uncapturedError(this.error, what);
  }

  /** Settles like `task`, unless the device is lost first: then rejects with DeviceLostError. */
  async wait<T>(task: Promise<T>, what: string): Promise<T> {
    if (this.lost) {
      task.catch(() => undefined); // a failure of `task` now can only be a consequence of the loss
      throw lostError(this.lost, what);
    }
    let onLost!: (info: GPUDeviceLostInfo) => void;
    const lost = new Promise<never>((_, reject) => {
      onLost = (info) => reject(lostError(info, what));
    });
    this.waiting.add(onLost);
    try {
      return await Promise.race([task, lost]);
    } finally {
      this.waiting.delete(onLost);
    }
  }

  /** Stops listening for uncaptured errors (the device may outlive the session). */
  dispose(): void {
    this.gpu.device.removeEventListener('uncapturederror', this.onError);
  }
}

function lostError(info: GPUDeviceLostInfo, what: string): DeviceLostError {
  const reason = info.message || info.reason || 'unknown reason';
  return new DeviceLostError(`the GPU device was lost while ${what} (${reason}); load the model again to continue`);
}

/** The typed error for a GPU error no scope caught: out of memory, or a validation/internal error. */
export function uncapturedError(error: GPUError, what: string): GpuValidationError | OutOfGpuMemoryError {
  if (error instanceof GPUOutOfMemoryError) {
    return new OutOfGpuMemoryError(
      `the GPU ran out of memory (${error.message.split('\n')[0]}), found while ${what}; ` +
        'load the model again with a smaller weight format or maxContext',
    );
  }
  return new GpuValidationError(`a GPU command failed (${error.message}), found while ${what}; load the model again to continue`);
}
