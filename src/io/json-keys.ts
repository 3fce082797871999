/**
 * Duplicate keys in a JSON object: JSON.parse keeps the last one silently, so a safetensors
 * header naming one tensor twice would load whichever entry came last. One linear pass over
 * text that JSON.parse has already accepted.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = new Set([0x7b, 0x5b]); // { [
const CLOSE = new Set([0x7d, 0x5d]); // } ]
const COMMA = 0x2c;

/** Index just past the closing quote of the string that starts at `start` (a quote). */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const q = text.indexOf('"', i);
    if (q < 0) return text.length; // not reached for valid JSON
    let backslashes = 0;
    while (text.charCodeAt(q - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return q + 1;
    i = q + 1;
  }
}

/**
 * The first key that occurs twice in the top-level object of `text` (valid JSON whose value is
 * an object), or undefined. Keys are compared decoded, so "a" and "\u0061" are the same key.
 */
export function duplicateTopLevelKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(i, end)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
        expectKey = false;
      }
      i = end - 1;
    } else if (OPEN.has(c)) {
      depth++;
      expectKey = depth === 1; // only the top-level value is an object here
    } else if (CLOSE.has(c)) {
      depth--;
    } else if (c === COMMA && depth === 1) {
      expectKey = true;
    }
  }
  return undefined;
}
