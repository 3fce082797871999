/**
 * One HTTP `Range: bytes=` range against a file of `size` bytes (RFC 9110 §14.1.2):
 * [start, end] inclusive, 'unsatisfiable' (→ 416), or undefined when the header is not a single
 * byte range this server answers (→ the whole file with 200, which the RFC allows).
 */
export function parseByteRange(header: string, size: number): [number, number] | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    // Suffix range: the last n bytes.
    const n = Number(m[2]);
    return n === 0 || size === 0 ? 'unsatisfiable' : [Math.max(0, size - n), size - 1];
  }
  const start = Number(m[1]);
  if (start >= size) return 'unsatisfiable';
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return end < start ? undefined : [start, end];
}
