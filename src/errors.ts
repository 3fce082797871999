/**
 * One error class per kind of failure, each with a message a user can act on: which file,
 * which tensor, which limit, what was expected and what was found.
 */
export class Qwen35Error extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** No WebGPU adapter or device could be obtained. */
export class GpuUnavailableError extends Qwen35Error {}

/** A buffer (or a whole plan) does not fit the device: names what did not fit and the need. */
export class OutOfGpuMemoryError extends Qwen35Error {}

/** The GPU device was lost (destroyed, reset, driver crash) while the runtime was using it. */
export class DeviceLostError extends Qwen35Error {}

/** A WebGPU validation or internal error raised by a command the runtime issued. */
export class GpuValidationError extends Qwen35Error {}

/** A WGSL shader failed to compile or its pipeline failed to build. */
export class ShaderError extends Qwen35Error {}

/** config.json is missing fields, has inconsistent fields, or names an unsupported architecture. */
export class ConfigError extends Qwen35Error {}

/** A checkpoint file is corrupt or does not match the config (safetensors header, tensor shape/dtype). */
export class ModelFormatError extends Qwen35Error {}

/** A file could not be fetched (HTTP status, network failure, quota exhaustion). */
export class DownloadError extends Qwen35Error {}

/** Invalid argument or option passed to the public API (NaN temperature, bad token id, ...). */
export class InvalidArgumentError extends Qwen35Error {}

/** The prompt plus requested tokens do not fit the session's context length. */
export class ContextOverflowError extends Qwen35Error {}

/** The operation was cancelled through an AbortSignal. */
export class AbortedError extends Qwen35Error {}
