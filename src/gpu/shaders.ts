/**
 * WGSL loading and variant generation.
 *
 * Sources live in `shaders/<name>.wgsl` and are located with `new URL(..., import.meta.url)`,
 * which works unchanged in the Vite browser build (bundled as assets), in vitest and in the
 * Node CLI (file URLs read from disk): no build step.
 *
 * Variants come from one source through a small preprocessor:
 *   #include "name"          inline shaders/name.wgsl (once per shader)
 *   #if EXPR / #elif EXPR / #else / #endif
 *                            EXPR: define names, integers, == != ! && || and parentheses
 *   {{NAME}}                 replaced by the define's value
 * Numeric sizes should prefer WGSL `override` constants (set at pipeline creation).
 */
import { ShaderError } from '../errors.js';

export type Defines = Record<string, string | number | boolean>;

const sourceCache = new Map<string, Promise<string>>();

function shaderUrl(name: string): URL {
  if (!/^[a-z0-9_]+$/.test(name)) throw new ShaderError(`invalid shader name "${name}"`);
  return new URL(`../../shaders/${name}.wgsl`, import.meta.url);
}

async function fetchText(url: URL): Promise<string> {
  if (url.protocol === 'file:') {
    const { readFile } = await import(/* @vite-ignore */ 'node:fs/promises');
    return readFile(url, 'utf8');
  }
  const response = await fetch(url);
  if (!response.ok) throw new ShaderError(`cannot load shader ${url.href}: HTTP ${response.status}`);
  return response.text();
}

/** Raw text of shaders/<name>.wgsl (cached). */
export function loadShaderSource(name: string): Promise<string> {
  let p = sourceCache.get(name);
  if (!p) {
    p = fetchText(shaderUrl(name)).catch((e: unknown) => {
      sourceCache.delete(name);
      throw e instanceof ShaderError ? e : new ShaderError(`cannot load shader "${name}": ${String(e)}`, { cause: e });
    });
    sourceCache.set(name, p);
  }
  return p;
}

/** Loads shaders/<name>.wgsl, resolves #include and applies the preprocessor with `defines`. */
export async function buildShader(name: string, defines: Defines = {}): Promise<string> {
  const included = new Set<string>();
  const expand = async (file: string): Promise<string> => {
    included.add(file);
    const text = preprocess(await loadShaderSource(file), defines, file);
    const parts: string[] = [];
    for (const line of text.split('\n')) {
      const m = /^\s*#include\s+"([a-z0-9_]+)"\s*$/.exec(line);
      if (!m) parts.push(line);
      else if (!included.has(m[1]!)) parts.push(await expand(m[1]!));
    }
    return parts.join('\n');
  };
  return expand(name);
}

/** Applies #if/#elif/#else/#endif and {{NAME}} substitution. Exported for tests. */
export function preprocess(source: string, defines: Defines, file = '<source>'): string {
  const out: string[] = [];
  // Each frame: is this branch active, has any branch of the chain been taken, was the parent active.
  const stack: Array<{ active: boolean; taken: boolean; parent: boolean }> = [];
  const active = (): boolean => (stack.length === 0 ? true : stack[stack.length - 1]!.active);
  source.split('\n').forEach((line, i) => {
    const where = `${file}.wgsl:${i + 1}`;
    const m = /^\s*#(if|elif|else|endif)\b(.*)$/.exec(line);
    if (!m) {
      if (active()) out.push(substitute(line, defines, where));
      return;
    }
    const [, directive, rest] = m;
    const top = stack[stack.length - 1];
    if (directive === 'if') {
      const parent = active();
      const value = parent && evaluate(rest!, defines, where);
      stack.push({ active: value, taken: value, parent });
    } else if (!top) {
      throw new ShaderError(`${where}: #${directive} without #if`);
    } else if (directive === 'elif') {
      const value = top.parent && !top.taken && evaluate(rest!, defines, where);
      top.active = value;
      top.taken ||= value;
    } else if (directive === 'else') {
      top.active = top.parent && !top.taken;
      top.taken = true;
    } else {
      stack.pop();
    }
  });
  if (stack.length) throw new ShaderError(`${file}.wgsl: unterminated #if`);
  return out.join('\n');
}

function substitute(line: string, defines: Defines, where: string): string {
  return line.replace(/\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}/g, (_, key: string) => {
    if (!(key in defines)) throw new ShaderError(`${where}: {{${key}}} is not defined`);
    return String(defines[key]);
  });
}

/** Evaluates a preprocessor condition. Undefined names are false (0). */
function evaluate(expr: string, defines: Defines, where: string): boolean {
  const tokens = expr.match(/\s*(\|\||&&|==|!=|!|\(|\)|[A-Za-z_][A-Za-z0-9_]*|\d+)/g)?.map((t) => t.trim()) ?? [];
  if (tokens.join('') !== expr.replace(/\s+/g, '')) throw new ShaderError(`${where}: cannot parse #if condition "${expr.trim()}"`);
  let pos = 0;
  const value = (name: string): string | number | boolean => {
    if (/^\d+$/.test(name)) return Number(name);
    const v = defines[name];
    return v === undefined ? false : v;
  };
  const truthy = (v: string | number | boolean): boolean => v !== false && v !== 0 && v !== '';
  const primary = (): string | number | boolean => {
    const t = tokens[pos++];
    if (t === undefined) throw new ShaderError(`${where}: incomplete #if condition "${expr.trim()}"`);
    if (t === '!') return !truthy(primary());
    if (t === '(') {
      const v = or();
      if (tokens[pos++] !== ')') throw new ShaderError(`${where}: missing ) in "${expr.trim()}"`);
      return v;
    }
    return value(t);
  };
  const comparison = (): string | number | boolean => {
    const left = primary();
    const op = tokens[pos];
    if (op === '==' || op === '!=') {
      pos++;
      const right = primary();
      // Compare as strings so that defines given as numbers or strings behave the same.
      return (String(left) === String(right)) === (op === '==');
    }
    return left;
  };
  const and = (): string | number | boolean => {
    let v = comparison();
    while (tokens[pos] === '&&') {
      pos++;
      const r = comparison();
      v = truthy(v) && truthy(r);
    }
    return v;
  };
  const or = (): string | number | boolean => {
    let v = and();
    while (tokens[pos] === '||') {
      pos++;
      const r = and();
      v = truthy(v) || truthy(r);
    }
    return v;
  };
  const result = or();
  if (pos !== tokens.length) throw new ShaderError(`${where}: unexpected "${tokens[pos]}" in #if condition`);
  return truthy(result);
}
