/** Test-only helpers of the model tests: where the golden files are. */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** `../shared/golden` relative to the repository root, or undefined when it is absent. */
export function goldenRoot(): string | undefined {
  const dir = resolve(REPO_ROOT, '../shared/golden');
  return existsSync(join(dir, 'manifest.json')) ? dir : undefined;
}
