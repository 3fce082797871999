#!/usr/bin/env node
// The `qwen35` command. Runs the TypeScript sources directly through tsx (no build step).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
// Dawn keeps the process alive after the work is done: exit explicitly with the command's status.
process.exit(await main(process.argv.slice(2)));
