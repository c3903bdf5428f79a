import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { installPatches, uninstallPatches } from '@otinst/core';
import { instrumentIoredis } from '../../src/hooks/ioredis';
import { hook as mysql2Hook } from '../../src/hooks/mysql2';
import { serviceAvailable } from '../../../../test/support/services';
import { recorderTracer } from '../../../../test/support/tracers';
import type { FinishedSpan } from '../../../../test/support/tracers';
import { closedPort } from './http-support';
import { underParent } from './hook-support';

/**
 * Issue 11: when the database is down, the call failed with no client span:
 * a pg pool query to a closed port, a query on a pooled connection that the
 * server terminated, a mysql2 pool query to a closed port, an ioredis command
 * given up with MaxRetriesPerRequestError. Each failed call gets a client
 * span, child of the caller's span, with error=true and the error logged.
 */

const require = createRequire(import.meta.url);
const [pgUp, mysqlUp, redisUp] = await Promise.all([
  serviceAvailable('postgres'),
  serviceAvailable('mysql'),
  serviceAvailable('redis'),
]);
const t = recorderTracer();
const PG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };

afterAll(() => uninstallPatches());

/** The one error span of `children`, checked against the parent and the error the caller got. */
function expectErrorSpan(children: FinishedSpan[], parent: FinishedSpan, name: string, caught: unknown): FinishedSpan {
  expect(children.map((span) => span.operationName)).toEqual([name]);
  const [span] = children;
  expect(span!.parentId).toBe(parent.spanId);
  expect(span!.traceId).toBe(parent.traceId);
  expect(span!.tags['error']).toBe(true);
  expect(span!.tags['span.kind']).toBe('client');
  expect(span!.logs).toHaveLength(1);
  expect(span!.logs[0]).toMatchObject({ event: 'error', message: (caught as Error).message });
  return span!;
}

async function failure(call: () => PromiseLike<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  throw new Error('the call succeeded');
}

describe.skipIf(!pgUp)('pg outages', () => {
  beforeAll(() => {
    installPatches(['pg']);
  });

  it('a pool query to a closed port: pg:SELECT error span (promise and callback forms)', async () => {
    const port = await closedPort();
    const pool = new pg.Pool({ ...PG, port });
    try {
      let caught: unknown;
      const viaPromise = await underParent(t, async () => {
        caught = await failure(() => pool.query('SELECT 1 AS one'));
      });
      expect((caught as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
      const span = expectErrorSpan(viaPromise.children, viaPromise.parent, 'pg:SELECT', caught);
      expect(span.tags).toMatchObject({ component: 'pg', 'db.statement': 'SELECT ? AS one', 'peer.port': port });
      const viaCallback = await underParent(t, async () => {
        caught = await new Promise((resolve) => pool.query('SELECT 2', (error) => resolve(error)));
      });
      expectErrorSpan(viaCallback.children, viaCallback.parent, 'pg:SELECT', caught);
    } finally {
      await pool.end();
    }
  });

  it('a pooled connection the server terminated: pg:SELECT error span', async () => {
    const pool = new pg.Pool({ ...PG, max: 1 });
    // the pool reports an idle client's death here (without a listener, Node would throw it)
    pool.on('error', () => {});
    const admin = new pg.Client(PG);
    await admin.connect();
    const pooled = await pool.connect();
    pooled.on('error', () => {});
    try {
      const pid = (await pooled.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      let caught: unknown;
      const { parent, children } = await underParent(t, async () => {
        caught = await failure(() => pooled.query('SELECT 3 AS three'));
      });
      expectErrorSpan(children, parent, 'pg:SELECT', caught);
    } finally {
      pooled.release(true);
      await admin.end();
      await pool.end();
    }
  });
});

describe.skipIf(!mysqlUp)('mysql2 outages', () => {
  beforeAll(() => {
    installPatches(['mysql2']);
    const old = require('mysql2-nochannels') as object;
    mysql2Hook.patch!(old, (require('mysql2-nochannels/package.json') as { version: string }).version);
  });

  it.each(['mysql2/promise', 'mysql2-nochannels/promise'])(
    '%s: a pool query to a closed port: mysql2:SELECT error span',
    async (pkg) => {
      const port = await closedPort();
      const lib = require(pkg) as {
        createPool(o: object): { query(sql: string): Promise<unknown>; end(): Promise<void> };
      };
      const pool = lib.createPool({ host: '127.0.0.1', port, user: 'root', database: 'test' });
      try {
        let caught: unknown;
        const { parent, children } = await underParent(t, async () => {
          caught = await failure(() => pool.query('SELECT 1 AS one'));
        });
        expect((caught as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
        const span = expectErrorSpan(children, parent, 'mysql2:SELECT', caught);
        expect(span.tags).toMatchObject({ component: 'mysql2', 'db.statement': 'SELECT ? AS one', 'peer.port': port });
      } finally {
        await pool.end();
      }
    },
  );
});

describe.skipIf(!redisUp)('ioredis outages', () => {
  it.each([
    ['ioredis', true],
    ['ioredis5', false],
  ] as const)(
    '%s: a command given up with MaxRetriesPerRequestError: ioredis:GET error span',
    async (pkg, channels) => {
      const Redis = require(pkg) as new (options: object) => {
        get(key: string): Promise<unknown>;
        disconnect(): void;
      };
      if (channels) installPatches(['ioredis']);
      else instrumentIoredis(Redis, { useChannels: false });
      const port = await closedPort();
      const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: () => 1 });
      // the connection errors are expected: the application would log them
      client.on('error', () => {});
      try {
        let caught: unknown;
        const { parent, children } = await underParent(t, async () => {
          caught = await failure(() => client.get('otinst:hooks:outage'));
        });
        expect((caught as Error).name).toBe('MaxRetriesPerRequestError');
        const span = expectErrorSpan(children, parent, 'ioredis:GET', caught);
        expect(span.tags).toMatchObject({ component: 'ioredis', 'db.statement': 'GET otinst:hooks:outage' });
      } finally {
        client.disconnect();
      }
    },
  );
});
