/** Argument checks shared by the mixer kernel builders; every failure is an InvalidArgumentError naming the kernel. */
import { ContextOverflowError, InvalidArgumentError } from '../errors.js';
import type { BufferArg } from '../gpu/kernel.js';
import { bindingBytes } from './buffer-checks.js';

/** Throws unless every listed field is a positive integer. */
export function requirePositiveInts(kernel: string, fields: Record<string, number>): void {
  for (const [name, value] of Object.entries(fields)) {
    if (!(Number.isInteger(value) && value > 0)) {
      throw new InvalidArgumentError(`${kernel}: ${name} must be a positive integer, got ${value}`);
    }
  }
}

export function requireThat(kernel: string, ok: boolean, message: string): void {
  if (!ok) throw new InvalidArgumentError(`${kernel}: ${message}`);
}

/** Throws unless each buffer holds at least the bytes the kernel addresses at its maximum shape. */
export function requireBufferBytes(kernel: string, buffers: Record<string, [BufferArg, number]>): void {
  for (const [name, [arg, need]] of Object.entries(buffers)) {
    const have = bindingBytes(arg);
    if (have < need) {
      throw new InvalidArgumentError(`${kernel}: buffer "${name}" has ${have} bytes but the kernel's maximum shape needs ${need}`);
    }
  }
}

/** Checks a call's token count against the bound maximum (0 tokens is a no-op call). */
export function requireTokens(kernel: string, tokens: number, maxTokens: number): void {
  if (!(Number.isInteger(tokens) && tokens >= 0 && tokens <= maxTokens)) {
    throw new InvalidArgumentError(`${kernel}: ${tokens} tokens outside 0..${maxTokens} (the builder's maxTokens)`);
  }
}

/** Checks that positions pos0 .. pos0+tokens−1 fit in a cache of maxContext rows. */
export function requirePositions(kernel: string, pos0: number, tokens: number, maxTokens: number, maxContext: number): void {
  requireTokens(kernel, tokens, maxTokens);
  if (!(Number.isInteger(pos0) && pos0 >= 0)) throw new InvalidArgumentError(`${kernel}: pos0 must be a non-negative integer, got ${pos0}`);
  if (pos0 + tokens > maxContext) {
    throw new ContextOverflowError(
      `${kernel}: positions ${pos0}..${pos0 + tokens - 1} do not fit the KV cache of ${maxContext} positions (maxContext)`,
    );
  }
}
