/** `qwen35 cache list|rm <id>|clear`: the downloaded-checkpoint cache on this machine. */
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../errors.js';
import { clearCache, deleteCachedModel, listCachedModels } from '../io/cache/index.js';
import { defaultCacheDir, NodeDiskCacheStore } from '../io/cache/node-disk.js';
import { formatBytes } from '../io/progress.js';
import type { Command } from './main.js';

const USAGE = [
  'qwen35 cache list [--dir DIR]     cached models: id, size, complete or partial, source',
  'qwen35 cache rm <id> [--dir DIR]  delete one model (ids from `cache list`)',
  'qwen35 cache clear [--dir DIR]    delete every cached model',
  `  --dir  cache folder (default $QWEN35_CACHE_DIR or ~/.cache/qwen35-webgpu; now ${defaultCacheDir()})`,
].join('\n');

export const command: Command = {
  summary: 'List or delete downloaded checkpoints in the local cache.',
  usage: USAGE,
  async run(args) {
    let parsed;
    try {
      parsed = parseArgs({ args, options: { dir: { type: 'string' } }, allowPositionals: true, strict: true });
    } catch (e) {
      throw new InvalidArgumentError(`cache: ${(e as Error).message}`);
    }
    const [action, ...rest] = parsed.positionals;
    const store = new NodeDiskCacheStore(parsed.values.dir ?? defaultCacheDir());
    if (action === 'list' && rest.length === 0) {
      const models = await listCachedModels(store);
      if (models.length === 0) {
        console.log(`no cached models in ${store.root}`);
        return 0;
      }
      console.log(`cache: ${store.root}`);
      const width = Math.max(...models.map((m) => m.id.length));
      for (const m of models) {
        const total = m.files.reduce((a, f) => a + f.size, 0);
        const state = m.partial ? `partial ${Math.floor((100 * m.bytesStored) / Math.max(1, total))}%` : 'complete';
        console.log(`${m.id.padEnd(width)}  ${formatBytes(m.bytesStored).padStart(10)}  ${state.padEnd(12)}  ${m.source}`);
      }
      const all = models.reduce((a, m) => a + m.bytesStored, 0);
      console.log(`${models.length} model${models.length === 1 ? '' : 's'}, ${formatBytes(all)}`);
      return 0;
    }
    if (action === 'rm' && rest.length === 1) {
      const id = rest[0]!;
      if (!(await deleteCachedModel(store, id))) {
        throw new InvalidArgumentError(`no cached model "${id}" in ${store.root}; \`qwen35 cache list\` shows the ids`);
      }
      console.log(`deleted ${id}`);
      return 0;
    }
    if (action === 'clear' && rest.length === 0) {
      const ids = await clearCache(store);
      console.log(ids.length > 0 ? `deleted ${ids.join(', ')}` : `no cached models in ${store.root}`);
      return 0;
    }
    throw new InvalidArgumentError(`cache: expected list, rm <id> or clear\n${USAGE}`);
  },
};
