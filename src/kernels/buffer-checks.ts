/** Size checks of the buffers handed to kernel builders' bind(), with messages naming the kernel and buffer. */
import { InvalidArgumentError } from '../errors.js';
import type { BufferArg } from '../gpu/kernel.js';

/** Bytes visible through a binding (a whole buffer, or a range of one). */
export function bindingBytes(arg: BufferArg): number {
  if (!('buffer' in arg)) return arg.size;
  return arg.size ?? arg.buffer.size - (arg.offset ?? 0);
}

/** Throws unless `arg` holds at least `bytes` bytes (`what` names the kernel, buffer and shape). */
export function requireBytes(what: string, arg: BufferArg, bytes: number): void {
  const have = bindingBytes(arg);
  if (have < bytes) throw new InvalidArgumentError(`${what}: needs ${bytes} bytes, the buffer has ${have}`);
}
