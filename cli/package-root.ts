/** Finds this package's root (for the built-in pipeline.yaml and the version), from the source or from dist/. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PackageInfo {
  root: string;
  version: string;
}

/** Walks up from this module to the package.json named `loggerhead`. */
export function packageInfo(): PackageInfo {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const parsed = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
      if (parsed.name === 'loggerhead') return { root: dir, version: parsed.version ?? '0.0.0' };
    }
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error(`no package.json named loggerhead above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}
