import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { configure, installPatches, resetConfig, uninstallPatches } from '@otinst/core';
import { hook as mysql2Hook } from '../../src/hooks/mysql2';
import { serviceAvailable } from '../../../../test/support/services';
import { recorderTracer } from '../../../../test/support/tracers';
import { everythingRecorded, underParent } from './hook-support';

/**
 * Issue 12: SQL literals reached `db.statement` (pg always; mysql2 when it had
 * not formatted the values itself; knex) and, through the servers' error
 * messages, the error logs. Each statement below plants a secret in a
 * literal, some of them failing; every tag and log of every span is grepped
 * for it: zero hits by default. `captureSqlLiterals: true` keeps literals.
 */

const require = createRequire(import.meta.url);
const [pgUp, mysqlUp] = await Promise.all([serviceAvailable('postgres'), serviceAvailable('mysql')]);
const t = recorderTracer();
const SECRET = `hunter2x${process.pid}${Date.now()}`;
const NUMBER = `98765${process.pid}`;
const PG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };
const MYSQL = { host: '127.0.0.1', port: 3306, user: 'root', database: 'test' };

afterAll(() => {
  uninstallPatches();
  resetConfig();
});

function grep(recorded: string[], secret: string): string[] {
  return recorded.filter((text) => text.includes(secret));
}

/** Runs `statements` under a parent (failures expected and swallowed) and returns what was recorded. */
async function record(run: (swallow: (p: PromiseLike<unknown>) => Promise<void>) => Promise<void>) {
  const swallow = async (p: PromiseLike<unknown>) => {
    try {
      await p;
    } catch {
      // a failing statement: its error log is what is being checked
    }
  };
  const { children } = await underParent(t, () => run(swallow));
  return { children, recorded: everythingRecorded(children) };
}

describe.skipIf(!pgUp)('pg: no literal reaches a tag or a log', () => {
  let client: pg.Client;
  beforeAll(async () => {
    installPatches(['pg']);
    client = new pg.Client(PG);
    await client.connect();
  });
  afterAll(() => client?.end());

  async function plant() {
    return record(async (swallow) => {
      await swallow(client.query(`SELECT * FROM (VALUES ('a')) v(p) WHERE p = '${SECRET}' OR ${NUMBER} < 0`));
      await swallow(client.query(`SELECT $$${SECRET}$$ AS d, E'${SECRET}\\n' AS e`));
      await swallow(client.query(`SELECT '${SECRET}'::int`));
      await swallow(client.query(`SELECT ${NUMBER}::date`));
      await swallow(client.query(`SELECT * FROM otinst_hooks_no_such_table WHERE password = '${SECRET}'`));
    });
  }

  it('by default: zero hits, the statements keep their shape, the failures are error spans', async () => {
    const { children, recorded } = await plant();
    expect(children).toHaveLength(5);
    expect(grep(recorded, SECRET)).toEqual([]);
    expect(grep(recorded, NUMBER)).toEqual([]);
    expect(children[0]!.tags['db.statement']).toBe('SELECT * FROM (VALUES (?)) v(p) WHERE p = ? OR ? < ?');
    expect(children.filter((span) => span.tags['error'] === true)).toHaveLength(3);
    // the server's message, with the literal it quoted taken out
    expect(children[2]!.logs[0]!['message']).toBe('invalid input syntax for type integer: "?"');
  });

  it('the same statements again, described from the statement cache: the same tags and logs, zero hits', async () => {
    const first = await plant();
    const second = await plant();
    expect(grep(second.recorded, SECRET)).toEqual([]);
    expect(grep(second.recorded, NUMBER)).toEqual([]);
    const shape = (run: typeof first) =>
      run.children.map((span) => [span.operationName, span.tags['db.statement'], span.logs[0]?.['message']]);
    expect(shape(second)).toEqual(shape(first));
    expect(second.children[2]!.logs[0]!['message']).toBe('invalid input syntax for type integer: "?"');
  });

  it('configure({ captureSqlLiterals: true }) keeps the literals in db.statement', async () => {
    configure({ captureSqlLiterals: true });
    try {
      const { children } = await plant();
      expect(children[0]!.tags['db.statement']).toBe(
        `SELECT * FROM (VALUES ('a')) v(p) WHERE p = '${SECRET}' OR ${NUMBER} < 0`,
      );
    } finally {
      resetConfig();
    }
  });
});

describe.skipIf(!mysqlUp)('mysql2: no literal reaches a tag or a log', () => {
  type Conn = { query(sql: string, values?: unknown[]): Promise<unknown>; end(): Promise<void> };
  const connections: Conn[] = [];
  beforeAll(async () => {
    installPatches(['mysql2']);
    const old = require('mysql2-nochannels') as object;
    mysql2Hook.patch!(old, (require('mysql2-nochannels/package.json') as { version: string }).version);
    for (const pkg of ['mysql2/promise', 'mysql2-nochannels/promise']) {
      const lib = require(pkg) as { createConnection(o: object): Promise<Conn> };
      connections.push(await lib.createConnection(MYSQL));
    }
  });
  afterAll(async () => {
    for (const conn of connections) await conn.end();
  });

  it.each([0, 1])('copy %i (0: tracing channels, 1: patched): zero hits', async (index) => {
    const conn = connections[index]!;
    const { children, recorded } = await record(async (swallow) => {
      await swallow(conn.query(`SELECT '${SECRET}' AS p, ${NUMBER} AS n`));
      await swallow(conn.query(`SELECT "${SECRET}" AS p FROM`));
      await swallow(conn.query('SELECT ? AS p', [SECRET]));
      await swallow(conn.query(`SELECT * FROM otinst_hooks_no_such_table WHERE password = '${SECRET}'`));
    });
    expect(children).toHaveLength(4);
    expect(grep(recorded, SECRET)).toEqual([]);
    expect(grep(recorded, NUMBER)).toEqual([]);
    expect(children[0]!.tags['db.statement']).toBe('SELECT ? AS p, ? AS n');
    expect(children.filter((span) => span.tags['error'] === true)).toHaveLength(2);
  });
});

describe.skipIf(!pgUp || !mysqlUp)('knex: no literal reaches a tag or a log', () => {
  it.each([
    ['pg', PG],
    ['mysql2', MYSQL],
  ])('knex with %s: zero hits', async (client, connection) => {
    installPatches(['knex']);
    const knex = require('knex') as (config: object) => {
      raw(sql: string): PromiseLike<unknown>;
      destroy(): Promise<void>;
    };
    const db = knex({ client, connection });
    try {
      await db.raw('select 1');
      const { children, recorded } = await record(async (swallow) => {
        await swallow(db.raw(`select '${SECRET}' as p, ${NUMBER} as n`));
        await swallow(db.raw(`select * from otinst_hooks_no_such_table where password = '${SECRET}'`));
      });
      const own = children.filter((span) => span.tags['component'] === 'knex');
      expect(own).toHaveLength(2);
      expect(grep(recorded, SECRET)).toEqual([]);
      expect(grep(recorded, NUMBER)).toEqual([]);
      expect(own[0]!.tags['db.statement']).toBe('select ? as p, ? as n');
    } finally {
      await db.destroy();
    }
  });
});
