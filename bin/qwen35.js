#!/usr/bin/env node
// The `qwen35` command. Runs the TypeScript sources directly through tsx (no build step).
import { register } from 'tsx/esm/api';

/**
 * Resolves once everything written to `stream` so far has been handed to the OS. On a pipe,
 * writes are asynchronous: exiting right away loses whatever is still queued (output cut at
 * 64 KiB). A closed reader (EPIPE) also resolves: there is nobody left to write to.
 */
function flushed(stream) {
  return new Promise((resolve) => {
    stream.once('error', resolve);
    stream.write('', () => resolve());
  });
}

register();
const { main } = await import('../src/cli/main.ts');
const status = await main(process.argv.slice(2));
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
// Dawn keeps the process alive after the work is done: exit explicitly with the command's status.
process.exit(status);
