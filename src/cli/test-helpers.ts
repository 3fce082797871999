/** Test-only helper of the CLI tests: run a command object in-process and capture its stdout. */
import { expect, vi } from 'vitest';
import type { Command } from './main.js';

/** Runs `command` with `args`, expects exit status 0 and returns what it wrote to stdout. */
export async function runCapturingStdout(command: Command, args: string[]): Promise<string> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    expect(await command.run(args)).toBe(0);
  } finally {
    spy.mockRestore();
  }
  return out;
}
