import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');

/**
 * Why the named packages' `dist` cannot be trusted, or undefined when it can:
 * a package is not built, or one of its sources changed after its last build.
 * Compared with the project's tsbuildinfo, which `tsc -b` refreshes on every
 * build (an output whose content did not change keeps its old time).
 */
export function buildProblem(names: readonly string[]): string | undefined {
  for (const name of names) {
    const pkg = join(ROOT, 'packages', name);
    const buildInfo = join(pkg, 'tsconfig.tsbuildinfo');
    if (!existsSync(join(pkg, 'dist', 'index.js')) || !existsSync(buildInfo)) return `packages/${name}/dist is missing`;
    const builtAt = statSync(buildInfo).mtimeMs;
    for (const file of readdirSync(join(pkg, 'src'), { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.ts') || file.endsWith('.test.ts')) continue;
      if (statSync(join(pkg, 'src', file)).mtimeMs > builtAt)
        return `packages/${name}/src/${file} changed since the build`;
    }
  }
  return undefined;
}

/** Throws a clear error when `who` (a fixture run as a child process) would run a missing or stale build. */
export function assertBuilt(names: readonly string[], who: string): void {
  const problem = buildProblem(names);
  if (problem !== undefined)
    throw new Error(`${who} runs the built packages: ${problem}, run \`npx tsc -b\` (npm test does)`);
}
