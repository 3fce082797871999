/** Test-only helpers of the model tests: where the golden files are. */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/**
 * The golden files: `../shared/golden` relative to the repository root, else the copy in
 * models/golden (for machines without the shared folder), or undefined when neither exists.
 */
export function goldenRoot(): string | undefined {
  return [resolve(REPO_ROOT, '../shared/golden'), resolve(REPO_ROOT, 'models/golden')].find((dir) => existsSync(join(dir, 'manifest.json')));
}
