import * as dc from 'node:diagnostics_channel';
import type { Span } from 'opentracing';
import { wouldTrace } from '../client/span';
import { bindTracingChannel } from '../context';
import { subscribeSpans } from './channels';
import type { ChannelContext } from './channels';
import type { ClientHook } from './hook';
import { traceCallbackCall, tracedCallback } from './lifecycle';
import { loadedBeside, versionInRange } from './load';
import { bindCheckoutCallback, finishSqlSpan, ownerOf, SQL_END, startSqlSpan, wrapPoolStatement } from './sql-driver';
import type { SqlStatement } from './sql-driver';
import { MYSQL } from './sql-statement';
import { wrapMethod } from './wrap';

/**
 * The `mysql2` 3 hook: a client span `mysql2:<COMMAND>` around every
 * `query` and `execute` (callback, promise and event-emitter forms; pools, the
 * promise API and pool clusters all end in the connection's methods).
 *
 * Two ways in, never both for one copy of the library:
 * - mysql2 ≥ 3.20 publishes `TracingChannel`s (`mysql2:query`,
 *   `mysql2:execute`, `mysql2:pool:connect`, ...): the hook subscribes. The
 *   payload has no user name, so these spans carry no `db.user`; and the
 *   `query` text published for `query(sql, values)` already has the values
 *   formatted in, so its literals are replaced by `?` before tagging.
 * - older 3.x: `query`/`execute` on the connection prototype and the pool's
 *   `getConnection` are wrapped; the statement is tagged as the caller wrote it.
 *
 * Context: a query's callback runs from the socket's data handler (the
 * context of whoever opened the connection), and a waiting `getConnection`
 * callback from another request's `release()`. Both run in the caller's
 * context: through the channels' `asyncStart` store binding, or by `bind` on
 * the patched path.
 */

/** What the hook reads from a connection's `config` (never the password). */
interface Mysql2Config {
  database?: unknown;
  user?: unknown;
  host?: unknown;
  port?: unknown;
  socketPath?: unknown;
}

interface Mysql2Connection {
  config?: Mysql2Config;
}

/** A mysql2 command (`Query`, `Execute`): an EventEmitter; `onResult` is its callback. */
interface Mysql2Command {
  sql?: unknown;
  values?: unknown;
  onResult?: unknown;
  on?: (event: string, listener: (...args: never[]) => void) => unknown;
  once?: (event: string, listener: (...args: never[]) => void) => unknown;
  removeListener?: (event: string, listener: (...args: never[]) => void) => unknown;
  listenerCount?: (event: string) => number;
  [kCommandSpan]?: Span;
}

type Callback = (this: unknown, error: unknown, result?: unknown, fields?: unknown) => unknown;
type CommandFn = (this: Mysql2Connection, sql: unknown, values?: unknown, callback?: unknown) => unknown;
type GetConnectionFn = (this: unknown, callback?: unknown) => unknown;

interface Mysql2Module {
  Connection?: { prototype?: object };
  Pool?: { prototype?: object };
}

const kCommandSpan = Symbol('otinst.mysql2.span');

/** The first mysql2 version that publishes tracing channels (sidorares/node-mysql2#4178). */
const CHANNELS_SINCE = '3.20.0';

function hasParameters(values: unknown): boolean {
  return values !== undefined && values !== null && !(Array.isArray(values) && values.length === 0);
}

// ---------------------------------------------------------------------------
// mysql2 ≥ 3.20: TracingChannel subscribers (the payload normalised for `startSqlSpan`)

function startChannelSpan(context: ChannelContext, valuesFormattedIn: boolean): Span | null {
  if (!wouldTrace()) return null;
  return startSqlSpan({
    component: 'mysql2',
    dialect: MYSQL,
    text: typeof context['query'] === 'string' ? context['query'] : undefined,
    values: context['values'],
    valuesInside: valuesFormattedIn && hasParameters(context['values']),
    database: context['database'],
    host: context['serverAddress'],
    port: context['serverPort'],
  });
}

/** `query(sql, values)` formats the values into the published text. */
function startQueryFromChannel(context: ChannelContext): Span | null {
  return startChannelSpan(context, true);
}

/** `execute` sends the values separately: the published text is the caller's statement. */
function startExecuteFromChannel(context: ChannelContext): Span | null {
  return startChannelSpan(context, false);
}

let unsubscribe: (() => void) | undefined;

function subscribeChannels(): void {
  if (unsubscribe !== undefined) return;
  // the span ends before the caller's callback runs (or its promise settles); callbacks run in their
  // caller's context, also the pool's getConnection callback
  const options = { finishOn: 'asyncStart', end: SQL_END, bindContext: true } as const;
  const undo = [
    subscribeSpans('mysql2:query', startQueryFromChannel, options),
    subscribeSpans('mysql2:execute', startExecuteFromChannel, options),
    bindTracingChannel(dc.tracingChannel('mysql2:pool:connect')),
  ];
  unsubscribe = () => {
    for (const done of undo) done();
  };
}

function unsubscribeChannels(): void {
  const undo = unsubscribe;
  unsubscribe = undefined;
  undo?.();
}

// ---------------------------------------------------------------------------
// older mysql2 3.x: patched prototypes

/** One statement as `startSqlSpan` takes it: `query(sql | options, values?)` with the connection `config`. */
function mysqlStatement(config: Mysql2Config, sql: unknown, values: unknown): SqlStatement {
  const options = typeof sql === 'object' && sql !== null ? (sql as Mysql2Command) : undefined;
  const socket = typeof config.socketPath === 'string' && config.socketPath !== '' ? config.socketPath : undefined;
  return {
    component: 'mysql2',
    dialect: MYSQL,
    text: typeof sql === 'string' ? sql : typeof options?.sql === 'string' ? options.sql : undefined,
    values: values !== undefined && typeof values !== 'function' ? values : options?.values,
    database: config.database,
    user: config.user,
    // a Unix socket path is the peer's address
    host: socket ?? config.host ?? 'localhost',
    port: socket === undefined ? (config.port ?? 3306) : undefined,
  };
}

function startCommandSpan(connection: Mysql2Connection, sql: unknown, values: unknown): Span | null {
  return startSqlSpan(mysqlStatement(connection.config ?? {}, sql, values));
}

// Event-emitter form (no callback): shared listeners, the span on the command under a symbol.
function onCommandError(this: Mysql2Command, error: unknown): void {
  const span = this[kCommandSpan];
  if (span !== undefined) {
    delete this[kCommandSpan];
    finishSqlSpan(span, error);
  }
  // With no listener of the caller's, `emit('error')` would have thrown: keep it so.
  if (this.listenerCount?.('error') === 1) throw error;
}

function onCommandEnd(this: Mysql2Command): void {
  this.removeListener?.('error', onCommandError);
  const span = this[kCommandSpan];
  if (span === undefined) return;
  delete this[kCommandSpan];
  finishSqlSpan(span, undefined);
}

function watchCommand(command: unknown, span: Span): void {
  const emitter = command as Mysql2Command | undefined;
  if (typeof emitter?.on !== 'function' || typeof emitter.once !== 'function') {
    finishSqlSpan(span, undefined);
    return;
  }
  emitter[kCommandSpan] = span;
  emitter.on('error', onCommandError);
  emitter.once('end', onCommandEnd);
}

function isCommand(sql: unknown): sql is Mysql2Command {
  // pool.query hands the connection a ready Query command (an EventEmitter with onResult)
  return (
    typeof sql === 'object' && sql !== null && typeof (sql as Mysql2Command).on === 'function' && 'onResult' in sql
  );
}

function wrapCommand(original: CommandFn): CommandFn {
  return function tracedCommand(this: Mysql2Connection, sql: unknown, values?: unknown, callback?: unknown) {
    if (sql === null || sql === undefined) return original.call(this, sql, values, callback);
    const span = wouldTrace() ? startCommandSpan(this, sql, values) : null;
    let watch = false;
    if (isCommand(sql)) {
      if (typeof sql.onResult === 'function') sql.onResult = tracedCallback(span, sql.onResult as Callback, SQL_END);
      else watch = span !== null;
    } else if (typeof values === 'function') {
      // (sql, callback): mysql2 ignores a third argument then
      values = tracedCallback(span, values as Callback, SQL_END);
    } else if (typeof callback === 'function') {
      callback = tracedCallback(span, callback as Callback, SQL_END);
    } else {
      watch = span !== null;
    }
    const command =
      span === null
        ? original.call(this, sql, values, callback)
        : traceCallbackCall(span, () => original.call(this, sql, values, callback), SQL_END);
    if (watch) watchCommand(isCommand(sql) ? sql : command, span!);
    return command;
  };
}

/**
 * Patches one loaded copy of mysql2 3.x that publishes no tracing channels
 * (before 3.20): `query`/`execute` on its connection prototype and the pool's
 * `getConnection`. The hook calls it for such copies; it is exported for
 * copies the registry cannot find by name (an npm alias, in the tests). Do
 * not use it on mysql2 ≥ 3.20 while the hook is installed: that would trace
 * twice. Internal: not exported from the package.
 */
export function patchMysql2Module(exports: unknown): void {
  const mysql2 = exports as Mysql2Module;
  const connectionProto = mysql2.Connection?.prototype;
  if (connectionProto !== undefined) {
    for (const name of ['query', 'execute'] as const) {
      const owner = ownerOf(connectionProto, name) as Record<string, CommandFn> | undefined;
      if (owner !== undefined) wrapMethod(owner, name, wrapCommand);
    }
  }
  patchPool(mysql2);
}

/**
 * The pool, whatever the way in: `getConnection` runs its callback in the
 * caller's context, and a `query` / `execute` whose checkout fails (the server
 * is down) gets its error span there, since no connection ever runs it.
 */
function patchPool(mysql2: Mysql2Module): void {
  const poolProto = mysql2.Pool?.prototype;
  if (poolProto === undefined) return;
  const checkoutOwner = ownerOf(poolProto, 'getConnection') as Record<string, GetConnectionFn> | undefined;
  if (checkoutOwner !== undefined) wrapMethod(checkoutOwner, 'getConnection', bindCheckoutCallback);
  for (const name of ['query', 'execute'] as const) {
    const owner = ownerOf(poolProto, name) as Record<string, (...args: unknown[]) => unknown> | undefined;
    if (owner !== undefined) wrapMethod(owner, name, wrapPoolStatement(describePoolStatement));
  }
}

interface Mysql2Pool {
  config?: { connectionConfig?: Mysql2Config };
}

/** `pool.query(sql | options, values?, callback?)`: the statement, with the pool's connection settings. */
function describePoolStatement(pool: unknown, [sql, values]: unknown[]): SqlStatement | undefined {
  if (sql === null || sql === undefined) return undefined;
  return mysqlStatement((pool as Mysql2Pool).config?.connectionConfig ?? {}, sql, values);
}

/** Whether this copy of mysql2 publishes tracing channels that this Node can subscribe to. */
export function publishesTracingChannels(version: string | undefined): boolean {
  return (
    version !== undefined &&
    versionInRange(version, CHANNELS_SINCE, '4.0.0') &&
    typeof (dc as { tracingChannel?: unknown }).tracingChannel === 'function'
  );
}

/** The `mysql2` client hook (mysql2 3.x). */
export const hook: ClientHook = {
  // `mysql2/promise` alone never loads the main module
  modules: ['mysql2', 'mysql2/promise'],
  versions: ['3.0.0', '4.0.0'],
  install() {
    // copies that publish need no module: even `mysql2/promise` alone (which never loads the main) is traced
    if (typeof (dc as { tracingChannel?: unknown }).tracingChannel === 'function') subscribeChannels();
  },
  patch(exports, version, moduleName) {
    // from `mysql2/promise`: the classes it loaded itself
    const classes = (
      moduleName === 'mysql2'
        ? exports
        : { Connection: loadedBeside(exports, './lib/connection.js'), Pool: loadedBeside(exports, './lib/pool.js') }
    ) as Mysql2Module;
    // the channels see no query that fails before a connection exists: the pool is wrapped for those
    if (publishesTracingChannels(version)) patchPool(classes);
    else patchMysql2Module(classes);
  },
  unpatch() {
    unsubscribeChannels();
  },
};
