import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

/**
 * One vitest project per package. Tests import the packages' TypeScript
 * sources through these aliases, never a stale build. Every test file runs in
 * its own child process (forks, isolated), because client hooks patch
 * process-wide modules such as `node:http`.
 */
export default defineConfig({
  resolve: {
    alias: {
      // before '@otinst/core', which would otherwise match the subpath as a prefix
      '@otinst/core/adapter': fileURLToPath(new URL('./packages/core/src/adapter.ts', import.meta.url)),
      '@otinst/core': src('core'),
      '@otinst/recorder': src('recorder'),
      '@otinst/express': src('express'),
      '@otinst/koa': src('koa'),
      '@otinst/fastify': src('fastify'),
      '@otinst/hapi': src('hapi'),
    },
  },
  test: {
    pool: 'forks',
    isolate: true,
    testTimeout: 20_000,
    hookTimeout: 30_000,
    projects: ['core', 'recorder', 'express', 'koa', 'fastify', 'hapi']
      .map((name) => ({
        extends: true,
        test: {
          name,
          include: [`packages/${name}/{src,test}/**/*.test.ts`],
        },
      }))
      .concat([
        {
          extends: true,
          test: { name: 'integration', include: ['test/**/*.test.ts'] },
        },
      ]),
  },
});
