/**
 * The picker's choice → what `openSource` takes. Built-in models are the dev server's /models/
 * folders (read over HTTP, never cached: they are local already); remote ones go through the
 * browser cache when `cache` is on; picked files and folders are read in place.
 */
import { InvalidArgumentError, type OpenSourceOptions, type SourceSpec } from '../src/index.js';
import type { ModelSettings, SourceInput } from './protocol.js';

const HUB_REPO = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/** `pageUrl`: where relative URLs resolve (the worker's location). */
export function toSourceSpec(input: SourceInput, settings: Pick<ModelSettings, 'cache'>, pageUrl: string): { spec: SourceSpec; options: OpenSourceOptions } {
  switch (input.kind) {
    case 'builtin':
      return { spec: new URL(`/models/${encodeURIComponent(input.name)}`, pageUrl).href, options: { cache: false } };
    case 'hub': {
      const repo = input.repo.trim();
      if (!HUB_REPO.test(repo)) throw new InvalidArgumentError(`"${repo}" is not a hub repo id; expected "owner/name", e.g. Qwen/Qwen3.5-0.8B`);
      const options: OpenSourceOptions = { cache: settings.cache, revision: input.revision.trim() || 'main' };
      if (input.endpoint.trim()) options.hubUrl = input.endpoint.trim().replace(/\/+$/, '');
      if (input.token) options.token = input.token;
      return { spec: repo, options };
    }
    case 'url': {
      const url = input.url.trim();
      if (url === '') throw new InvalidArgumentError('no URL given: enter the base URL of a checkpoint folder (it must serve config.json)');
      return { spec: new URL(url, pageUrl).href, options: { cache: settings.cache } };
    }
    case 'files':
      return { spec: input.files, options: {} };
    case 'directory':
      return { spec: input.handle, options: {} };
  }
}
