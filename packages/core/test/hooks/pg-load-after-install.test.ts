import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { installPatches, runWithSpan, uninstallPatches } from '@otinst/core';
import { serviceAvailable } from '../../../../test/support/services';
import { recorderTracer } from '../../../../test/support/tracers';

/** pg loaded only after `installPatches`, through ESM `import` (named exports) and `require`. */

const up = await serviceAvailable('postgres');
const CONFIG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' } as const;
const require = createRequire(import.meta.url);

describe.skipIf(!up)('pg loaded after installation', () => {
  afterAll(() => uninstallPatches());

  it('traces queries of a pg imported after installPatches', async () => {
    const loadedBefore = Object.keys(require.cache).some((file) => /[\\/]node_modules[\\/]pg[\\/]/.test(file));
    expect(loadedBefore).toBe(false);
    installPatches(['pg']);
    const { Client, Pool } = await import('pg');
    expect(require('pg').Client).toBe(Client);
    const t = recorderTracer();
    const parent = t.tracer.startSpan('parent');
    const client = new Client(CONFIG);
    const pool = new Pool({ ...CONFIG, max: 1 });
    await client.connect();
    try {
      await runWithSpan(parent, async () => {
        await client.query('SELECT 1 AS one');
        await pool.query('SELECT 2 AS two');
      });
    } finally {
      parent.finish();
      await client.end();
      await pool.end();
    }
    const spans = t.spans();
    const root = spans.find((span) => span.operationName === 'parent')!;
    expect(
      spans
        .filter((span) => span !== root)
        .map((span) => [span.operationName, span.tags['db.statement'], span.parentId]),
    ).toEqual([
      ['pg:SELECT', 'SELECT ? AS one', root.spanId],
      ['pg:SELECT', 'SELECT ? AS two', root.spanId],
    ]);
  });
});
