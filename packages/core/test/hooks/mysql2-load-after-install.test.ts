import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { installPatches, runWithSpan, uninstallPatches } from '@otinst/core';
import { serviceAvailable } from '../../../../test/support/services';
import { recorderTracer } from '../../../../test/support/tracers';

/** mysql2 (3.24, tracing channels) loaded only after `installPatches`, through ESM `import` of `mysql2/promise`. */

const up = await serviceAvailable('mysql');
const CONFIG = { host: '127.0.0.1', port: 3306, user: 'root', database: 'test' } as const;
const require = createRequire(import.meta.url);

describe.skipIf(!up)('mysql2 loaded after installation', () => {
  afterAll(() => uninstallPatches());

  it('traces queries of a mysql2/promise imported after installPatches', async () => {
    const loadedBefore = Object.keys(require.cache).some((file) => /[\\/]node_modules[\\/]mysql2[\\/]/.test(file));
    expect(loadedBefore).toBe(false);
    installPatches(['mysql2']);
    const mysql = await import('mysql2/promise');
    const t = recorderTracer();
    const parent = t.tracer.startSpan('parent');
    const conn = await mysql.createConnection(CONFIG);
    const pool = mysql.createPool({ ...CONFIG, connectionLimit: 1 });
    try {
      await runWithSpan(parent, async () => {
        await conn.query('SELECT ? AS one', [1]);
        await pool.execute('SELECT ? AS two', [2]);
      });
    } finally {
      parent.finish();
      await conn.end();
      await pool.end();
    }
    const spans = t.spans();
    const root = spans.find((span) => span.operationName === 'parent')!;
    expect(
      spans
        .filter((span) => span !== root)
        .map((span) => [span.operationName, span.tags['db.statement'], span.parentId]),
    ).toEqual([
      ['mysql2:SELECT', 'SELECT ? AS one', root.spanId],
      ['mysql2:SELECT', 'SELECT ? AS two', root.spanId],
    ]);
  });
});
