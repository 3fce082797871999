/** Entry point of the `qwen35` command: dispatches to one module per subcommand. */
import { Qwen35Error } from '../errors.js';

export interface Command {
  summary: string;
  usage: string;
  run(args: string[]): Promise<number>;
}

/** Subcommands, loaded on demand so that `qwen35 mem` does not load the GPU runtime. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./run.js')).command,
  chat: async () => (await import('./chat.js')).command,
  info: async () => (await import('./info.js')).command,
  'make-tiny': async () => (await import('./make-tiny.js')).command,
  cache: async () => (await import('./cache.js')).command,
  serve: async () => (await import('./serve.js')).command,
  convert: async () => (await import('./convert.js')).command,
  mem: async () => (await import('./mem.js')).command,
  bench: async () => (await import('./bench.js')).command,
};

function usage(): string {
  const names = Object.keys(COMMANDS).join(', ');
  return `usage: qwen35 <command> [options]\ncommands: ${names}\nrun \`qwen35 <command> --help\` for a command's options`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`qwen35: unknown command "${name}"\n${usage()}`);
    return 2;
  }
  const command = await load();
  if (args.includes('--help') || args.includes('-h')) {
    console.log(`${command.summary}\n\n${command.usage}`);
    return 0;
  }
  try {
    return await command.run(args);
  } catch (e) {
    if (e instanceof Qwen35Error) {
      console.error(`qwen35 ${name}: ${e.name}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
