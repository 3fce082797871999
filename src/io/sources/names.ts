/**
 * File names inside a checkpoint are relative POSIX paths ("config.json", "onnx/model.onnx").
 * Every source, the cache and the test server check them the same way, so that a name taken
 * from a remote listing or a URL can never escape its folder ("../", absolute paths).
 */
import { InvalidArgumentError } from '../../errors.js';

/** Returns the segments of a safe relative file name, or throws naming what is wrong. */
export function fileNameSegments(name: string, what = 'file name'): string[] {
  const segments = name.split('/');
  const bad =
    name.length === 0 ||
    name.includes('\\') ||
    name.includes('\0') ||
    segments.some((s) => s === '' || s === '.' || s === '..');
  if (bad) {
    throw new InvalidArgumentError(
      `invalid ${what} "${name}": expected a relative path with "/" separators and no empty, "." or ".." parts`,
    );
  }
  return segments;
}

/** Throws unless `name` is a safe relative file name; returns it unchanged. */
export function checkFileName(name: string, what?: string): string {
  fileNameSegments(name, what);
  return name;
}

/** `name` as a URL path: each segment percent-encoded, "/" kept. */
export function encodeFileName(name: string): string {
  return fileNameSegments(name).map(encodeURIComponent).join('/');
}
