/** The picker's choice → openSource arguments: built-in folders by URL uncached, hub ids checked, URLs resolved. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../src/errors.js';
import { toSourceSpec } from './source-spec.js';

const page = 'http://127.0.0.1:5173/index.html';

describe('toSourceSpec', () => {
  it('reads built-in models from the page origin’s /models/ without the download cache', () => {
    expect(toSourceSpec({ kind: 'builtin', name: 'tiny dense' }, { cache: true }, page)).toEqual({
      spec: 'http://127.0.0.1:5173/models/tiny%20dense',
      options: { cache: false },
    });
  });

  it('passes hub repo, revision (default main), endpoint, token and the cache choice', () => {
    expect(toSourceSpec({ kind: 'hub', repo: ' Qwen/Qwen3.5-0.8B ', revision: '', endpoint: '' }, { cache: true }, page)).toEqual({
      spec: 'Qwen/Qwen3.5-0.8B',
      options: { cache: true, revision: 'main' },
    });
    expect(toSourceSpec({ kind: 'hub', repo: 'a/b', revision: 'v1', endpoint: 'http://mirror:8080/ ', token: 'hf_x' }, { cache: false }, page).options).toEqual({
      cache: false,
      revision: 'v1',
      hubUrl: 'http://mirror:8080',
      token: 'hf_x',
    });
    expect(() => toSourceSpec({ kind: 'hub', repo: 'not a repo', revision: 'main', endpoint: '' }, { cache: true }, page)).toThrow(InvalidArgumentError);
  });

  it('resolves relative URLs against the page and refuses an empty one', () => {
    expect(toSourceSpec({ kind: 'url', url: '/ckpt/' }, { cache: false }, page).spec).toBe('http://127.0.0.1:5173/ckpt/');
    expect(toSourceSpec({ kind: 'url', url: 'https://h/x' }, { cache: true }, page)).toEqual({ spec: 'https://h/x', options: { cache: true } });
    expect(() => toSourceSpec({ kind: 'url', url: '  ' }, { cache: true }, page)).toThrow(/no URL given/);
  });

  it('hands picked files over unchanged', () => {
    const files = [new File(['{}'], 'config.json')];
    expect(toSourceSpec({ kind: 'files', files }, { cache: true }, page).spec).toBe(files);
  });
});
