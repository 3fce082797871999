/**
 * Values and names taken from files, as error messages print them: one short line, control
 * characters escaped, and never built by recursing into whatever a hostile file nests
 * (JSON.stringify of 100,000 nested arrays overflows the stack; a 1 MiB name makes a 1 MiB message).
 */

/** Small and shallow enough for JSON.stringify (checked without deep recursion: depth ≤ 4, ≤ 32 nodes). */
function isSmall(v: unknown, depth: number, budget: { nodes: number }): boolean {
  if (--budget.nodes < 0 || depth > 4) return false;
  if (typeof v === 'string') return v.length <= 200;
  if (typeof v !== 'object' || v === null) return true;
  for (const key in v) {
    if (key.length > 100 || !isSmall((v as Record<string, unknown>)[key], depth + 1, budget)) return false;
  }
  return true;
}

const cut = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** A value for a message: JSON when small (non-finite numbers by name), else what kind of container it is. */
export function showValue(v: unknown, max = 80): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'number') return String(v);
  if (isSmall(v, 0, { nodes: 32 })) {
    return cut(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x)), max);
  }
  if (typeof v === 'string') return `${JSON.stringify(v.slice(0, 60))}… (${v.length} characters)`;
  if (Array.isArray(v)) return `an array of ${v.length} ${v.length === 1 ? 'item' : 'items'}`;
  return 'a large or deeply nested object';
}

/** Text built from names in a file (a list entry of a message), shortened when long. */
export function clipText(text: string, max = 240): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text;
}

/** A name (tensor, file, key) from a file, quoted and escaped, shortened when long. */
export function quoteName(name: string, max = 120): string {
  return name.length > max ? `${JSON.stringify(name.slice(0, max))}… (${name.length} characters)` : JSON.stringify(name);
}
