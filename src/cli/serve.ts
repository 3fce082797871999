/** `qwen35 serve`: serves checkpoint folders over HTTP like the Hugging Face hub (demo, tests, offline mirrors). */
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../errors.js';
import { listServedRepos, startHubServer } from '../io/hub-server.js';
import type { Command } from './main.js';

export const command: Command = {
  summary: 'Serve checkpoint folders over HTTP the way the Hugging Face hub does (range requests, ETags, file listing).',
  usage: [
    'qwen35 serve [--dir models] [--port 8080] [--host 127.0.0.1] [--token hf_...]',
    '  --dir    folder of <owner>/<name>/ checkpoints; a <name>/ folder with a config.json is also served as local/<name>',
    '  --port   port to listen on (0 picks a free one; default 8080)',
    '  --host   address to bind (default 127.0.0.1)',
    '  --token  require "Authorization: Bearer <token>" on every request',
    'Point the runtime at it with HF_ENDPOINT=<url> (Node) or the hubUrl option, e.g.',
    '  HF_ENDPOINT=http://127.0.0.1:8080 qwen35 run -m local/tiny-dense',
  ].join('\n'),
  async run(args) {
    let values;
    try {
      ({ values } = parseArgs({
        args,
        options: { dir: { type: 'string', default: 'models' }, port: { type: 'string', default: '8080' }, host: { type: 'string' }, token: { type: 'string' } },
        strict: true,
      }));
    } catch (e) {
      throw new InvalidArgumentError(`serve: ${(e as Error).message}`);
    }
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`serve: --port must be 0..65535, got "${values.port}"`);
    const repos = await listServedRepos(values.dir).catch(() => {
      throw new InvalidArgumentError(`serve: folder "${values.dir}" does not exist (create checkpoints with \`qwen35 make-tiny\`)`);
    });
    const server = await startHubServer({
      root: values.dir,
      port,
      ...(values.host ? { host: values.host } : {}),
      ...(values.token ? { token: values.token } : {}),
    });
    console.log(`listening on ${server.url}`);
    console.log(repos.length > 0 ? `repos: ${repos.join(', ')}` : `no checkpoints under ${values.dir} yet`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await server.close();
    return 0;
  },
};
