import type { Span } from 'opentracing';
import { runWithSpan } from '@otinst/core';
import type { FinishedSpan, TracerUnderTest } from '../../../../test/support/tracers';

/** One macrotask turn: Node reports unhandled rejections at the end of the turn they happen in. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The reasons Node reports to `unhandledRejection` while `run` runs (and one
 * turn after). The runner's own listeners are set aside meanwhile, so that an
 * expected unhandled rejection does not fail the test file.
 */
export async function unhandledRejectionsDuring(run: () => Promise<void>): Promise<unknown[]> {
  const saved = process.listeners('unhandledRejection');
  process.removeAllListeners('unhandledRejection');
  const seen: unknown[] = [];
  const listener = (reason: unknown) => seen.push(reason);
  process.on('unhandledRejection', listener);
  try {
    await run();
    await nextTurn();
    await nextTurn();
  } finally {
    process.off('unhandledRejection', listener);
    for (const saved1 of saved) process.on('unhandledRejection', saved1);
  }
  return seen;
}

/** What `underParent` recorded: the parent span and the others. */
export interface Recorded<T> {
  result: T;
  parent: FinishedSpan;
  children: FinishedSpan[];
}

/** Runs `fn` under a fresh `parent` span of `t` (reset first), then returns what was recorded. */
export async function underParent<T>(t: TracerUnderTest, fn: (parent: Span) => Promise<T>): Promise<Recorded<T>> {
  t.reset();
  const parentSpan = t.tracer.startSpan('parent');
  let result: T;
  try {
    result = await runWithSpan(parentSpan, () => fn(parentSpan));
  } finally {
    parentSpan.finish();
  }
  await nextTurn();
  const spans = t.spans();
  const parent = spans.find((span) => span.operationName === 'parent')!;
  return { result, parent, children: spans.filter((span) => span !== parent) };
}

/** Every tag value and log field of `spans`, as strings: to grep for a planted secret. */
export function everythingRecorded(spans: readonly FinishedSpan[]): string[] {
  const out: string[] = [];
  for (const span of spans) {
    out.push(span.operationName);
    for (const value of Object.values(span.tags)) out.push(String(value));
    for (const log of span.logs) {
      for (const [key, value] of Object.entries(log)) {
        out.push(value instanceof Error ? `${value.message}\n${value.stack ?? ''}` : `${key}=${String(value)}`);
      }
    }
  }
  return out;
}

/** The local MariaDB as the mysql2 tests connect to it, and the tags of its spans on the channel path. */
export const MYSQL_CONFIG = { host: '127.0.0.1', port: 3306, user: 'root', database: 'test' } as const;
/** The tags of a mysql2 span (the channel payload carries no user name: no `db.user` there). */
export const MYSQL_TAGS = {
  'span.kind': 'client',
  component: 'mysql2',
  'db.type': 'sql',
  'db.instance': 'test',
  'peer.ipv4': '127.0.0.1',
  'peer.port': 3306,
};

/** What the redis hook tests call on a node-redis 4, 5 or 6 client. */
export interface RedisLike {
  connect(): Promise<unknown>;
  quit(): Promise<unknown>;
  get(key: string): Promise<unknown>;
  set(key: string, value: string): Promise<unknown>;
  del(keys: string[]): Promise<unknown>;
  hGetAll(key: string): Promise<unknown>;
  select(db: number): Promise<unknown>;
  sendCommand(args: string[]): Promise<unknown>;
  multi(): {
    set(key: string, value: string): ReturnType<RedisLike['multi']>;
    get(key: string): ReturnType<RedisLike['multi']>;
    exec(): Promise<unknown[]>;
    execAsPipeline(): Promise<unknown[]>;
  };
}

/** The exact tags of a node-redis command span against the local server, database 0. */
export function redisCommandTags(statement: string): Record<string, unknown> {
  return {
    'span.kind': 'client',
    component: 'redis',
    'db.type': 'redis',
    'db.instance': '0',
    'db.statement': statement,
    'peer.ipv4': '127.0.0.1',
    'peer.port': 6379,
  };
}
