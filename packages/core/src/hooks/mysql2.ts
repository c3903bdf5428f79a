import * as dc from 'node:diagnostics_channel';
import type { Span } from 'opentracing';
import { peerHostTag } from '../client/http';
import { startClientSpan, wouldTrace } from '../client/span';
import { getConfig } from '../config';
import { bind, bindTracingChannel } from '../context';
import { debug } from '../safe';
import * as tags from '../tags';
import { safeFinish } from '../tracer';
import type { ClientHook } from './hook';
import { loadedBeside, versionInRange } from './load';
import {
  DB_PARAMS,
  formatParameters,
  MYSQL,
  recordSqlError,
  rememberValues,
  sanitizeMysqlStatement,
  sqlCommand,
  truncate,
} from './sql';
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

/** The context object mysql2 ≥ 3.20 publishes on `mysql2:query` / `mysql2:execute`. */
interface ChannelContext {
  query?: unknown;
  values?: unknown;
  database?: unknown;
  serverAddress?: unknown;
  serverPort?: unknown;
  error?: unknown;
  [kChannelSpan]?: Span;
}

type Callback = (this: unknown, error: unknown, result?: unknown, fields?: unknown) => unknown;
type CommandFn = (this: Mysql2Connection, sql: unknown, values?: unknown, callback?: unknown) => unknown;
type GetConnectionFn = (this: unknown, callback?: unknown) => unknown;

interface Mysql2Module {
  Connection?: { prototype?: object };
  Pool?: { prototype?: object };
}

const kCommandSpan = Symbol('otinst.mysql2.span');
const kChannelSpan = Symbol('otinst.mysql2.channelSpan');

/** The first mysql2 version that publishes tracing channels (sidorares/node-mysql2#4178). */
const CHANNELS_SINCE = '3.20.0';

function baseTags(): Record<string, unknown> {
  return { [tags.SPAN_KIND]: tags.KIND_CLIENT, [tags.COMPONENT]: 'mysql2', [tags.DB_TYPE]: 'sql' };
}

function tagPeer(spanTags: Record<string, unknown>, host: unknown, port: unknown): void {
  if (typeof host === 'string' && host !== '') spanTags[peerHostTag(host)] = host;
  const portNumber = Number(port);
  if (port !== undefined && Number.isInteger(portNumber) && portNumber > 0) spanTags[tags.PEER_PORT] = portNumber;
}

function hasParameters(values: unknown): boolean {
  return values !== undefined && values !== null && !(Array.isArray(values) && values.length === 0);
}

function finishSpan(span: Span, error: unknown): void {
  if (error !== undefined && error !== null) recordSqlError(span, error);
  safeFinish(span);
}

// ---------------------------------------------------------------------------
// mysql2 ≥ 3.20: TracingChannel subscribers (shared functions, state on the context object)

function startChannelSpan(context: ChannelContext, valuesFormattedIn: boolean): void {
  if (!wouldTrace()) return;
  try {
    const sql = typeof context.query === 'string' ? context.query : undefined;
    const sanitize = valuesFormattedIn && hasParameters(context.values);
    const statement = sql === undefined ? undefined : sanitize ? sanitizeMysqlStatement(sql) : truncate(sql);
    const spanTags = baseTags();
    if (typeof context.database === 'string' && context.database !== '') {
      spanTags[tags.DB_INSTANCE] = context.database;
    }
    if (statement !== undefined) spanTags[tags.DB_STATEMENT] = statement;
    tagPeer(spanTags, context.serverAddress, context.serverPort);
    if (getConfig().captureParameters) {
      const params = formatParameters(context.values);
      if (params !== undefined) spanTags[DB_PARAMS] = params;
    }
    // the command comes from the sanitised text, so that no value can end up in the name
    const named = sanitize ? statement : sql;
    const command = named === undefined ? undefined : sqlCommand(named, MYSQL);
    const span = startClientSpan(`mysql2:${command ?? 'QUERY'}`, spanTags);
    rememberValues(span, context.values);
    if (span !== null) context[kChannelSpan] = span;
  } catch (error) {
    debug('mysql2: starting a query span failed', error);
  }
}

function onQueryStart(message: unknown): void {
  // `query(sql, values)` formats the values into the published text
  startChannelSpan(message as ChannelContext, true);
}

function onExecuteStart(message: unknown): void {
  // `execute` sends the values separately: the published text is the caller's statement
  startChannelSpan(message as ChannelContext, false);
}

function finishChannelSpan(context: ChannelContext): void {
  const span = context[kChannelSpan];
  if (span === undefined) return;
  delete context[kChannelSpan];
  safeFinish(span);
}

function onChannelError(message: unknown): void {
  const context = message as ChannelContext;
  const span = context[kChannelSpan];
  if (span !== undefined) recordSqlError(span, context.error);
}

function onChannelEnd(message: unknown): void {
  // `end` closes the synchronous part; only a synchronous throw ends the operation there
  const context = message as ChannelContext;
  if (context.error !== undefined) finishChannelSpan(context);
}

function onChannelAsyncStart(message: unknown): void {
  // published just before the caller's callback runs (or the promise settles): the span ends first
  finishChannelSpan(message as ChannelContext);
}

function ignore(): void {}

const QUERY_SUBSCRIBERS = {
  start: onQueryStart,
  end: onChannelEnd,
  asyncStart: onChannelAsyncStart,
  asyncEnd: ignore,
  error: onChannelError,
};
const EXECUTE_SUBSCRIBERS = { ...QUERY_SUBSCRIBERS, start: onExecuteStart };

let unsubscribe: (() => void) | undefined;

function subscribeChannels(): void {
  if (unsubscribe !== undefined) return;
  const query = dc.tracingChannel('mysql2:query');
  const execute = dc.tracingChannel('mysql2:execute');
  const poolConnect = dc.tracingChannel('mysql2:pool:connect');
  query.subscribe(QUERY_SUBSCRIBERS);
  execute.subscribe(EXECUTE_SUBSCRIBERS);
  // the pool's getConnection callback and the query callbacks run in their caller's context
  const unbind = [bindTracingChannel(query), bindTracingChannel(execute), bindTracingChannel(poolConnect)];
  unsubscribe = () => {
    query.unsubscribe(QUERY_SUBSCRIBERS);
    execute.unsubscribe(EXECUTE_SUBSCRIBERS);
    for (const undo of unbind) undo();
  };
}

function unsubscribeChannels(): void {
  const undo = unsubscribe;
  unsubscribe = undefined;
  undo?.();
}

// ---------------------------------------------------------------------------
// older mysql2 3.x: patched prototypes

function startCommandSpan(connection: Mysql2Connection, sql: unknown, values: unknown): Span | null {
  try {
    const options = typeof sql === 'object' && sql !== null ? (sql as Mysql2Command) : undefined;
    const text = typeof sql === 'string' ? sql : typeof options?.sql === 'string' ? options.sql : undefined;
    const config = connection.config ?? {};
    const spanTags = baseTags();
    if (typeof config.database === 'string' && config.database !== '') spanTags[tags.DB_INSTANCE] = config.database;
    if (text !== undefined) spanTags[tags.DB_STATEMENT] = truncate(text);
    if (typeof config.user === 'string' && config.user !== '') spanTags[tags.DB_USER] = config.user;
    if (typeof config.socketPath === 'string' && config.socketPath !== '') {
      spanTags[tags.PEER_HOSTNAME] = config.socketPath;
    } else {
      tagPeer(spanTags, config.host ?? 'localhost', config.port ?? 3306);
    }
    if (getConfig().captureParameters) {
      const params = formatParameters(values !== undefined && typeof values !== 'function' ? values : options?.values);
      if (params !== undefined) spanTags[DB_PARAMS] = params;
    }
    const command = (text === undefined ? undefined : sqlCommand(text, MYSQL)) ?? 'QUERY';
    const span = startClientSpan(`mysql2:${command}`, spanTags);
    rememberValues(span, values !== undefined && typeof values !== 'function' ? values : options?.values);
    return span;
  } catch (error) {
    debug('mysql2: starting a query span failed', error);
    return null;
  }
}

/** The caller's callback, bound to the caller's context, finishing `span` (if any) before it runs. */
function tracedCallback(callback: Callback, span: Span | null): Callback {
  if (span === null) return bind(callback);
  let pending = true;
  return bind(function tracedCommandCallback(this: unknown, error: unknown, result?: unknown, fields?: unknown) {
    if (pending) {
      pending = false;
      finishSpan(span, error);
    }
    return callback.call(this, error, result, fields);
  });
}

// Event-emitter form (no callback): shared listeners, the span on the command under a symbol.
function onCommandError(this: Mysql2Command, error: unknown): void {
  const span = this[kCommandSpan];
  if (span !== undefined) {
    delete this[kCommandSpan];
    finishSpan(span, error);
  }
  // With no listener of the caller's, `emit('error')` would have thrown: keep it so.
  if (this.listenerCount?.('error') === 1) throw error;
}

function onCommandEnd(this: Mysql2Command): void {
  this.removeListener?.('error', onCommandError);
  const span = this[kCommandSpan];
  if (span === undefined) return;
  delete this[kCommandSpan];
  safeFinish(span);
}

function watchCommand(command: unknown, span: Span): void {
  const emitter = command as Mysql2Command | undefined;
  if (typeof emitter?.on !== 'function' || typeof emitter.once !== 'function') {
    safeFinish(span);
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
      if (typeof sql.onResult === 'function') sql.onResult = tracedCallback(sql.onResult as Callback, span);
      else watch = span !== null;
    } else if (typeof values === 'function') {
      // (sql, callback): mysql2 ignores a third argument then
      values = tracedCallback(values as Callback, span);
    } else if (typeof callback === 'function') {
      callback = tracedCallback(callback as Callback, span);
    } else {
      watch = span !== null;
    }
    let command: unknown;
    try {
      command = original.call(this, sql, values, callback);
    } catch (error) {
      if (span !== null) finishSpan(span, error);
      throw error;
    }
    if (watch) watchCommand(isCommand(sql) ? sql : command, span!);
    return command;
  };
}

function wrapGetConnection(original: GetConnectionFn): GetConnectionFn {
  return function getConnection(this: unknown, callback?: unknown) {
    // a waiting checkout is served from another request's release(): run it in the caller's context
    return original.call(this, typeof callback === 'function' ? bind(callback as Callback) : callback);
  };
}

/** The object on `proto`'s chain that owns `name` (BaseConnection / BasePool since mysql2 3.11.5). */
function ownerOf(proto: object, name: string): object | undefined {
  for (let target: object | null = proto; target !== null; target = Object.getPrototypeOf(target) as object | null) {
    if (Object.prototype.hasOwnProperty.call(target, name)) return target;
  }
  return undefined;
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
  const poolProto = mysql2.Pool?.prototype;
  const poolOwner =
    poolProto === undefined
      ? undefined
      : (ownerOf(poolProto, 'getConnection') as Record<string, GetConnectionFn> | undefined);
  if (poolOwner !== undefined) wrapMethod(poolOwner, 'getConnection', wrapGetConnection);
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
    if (publishesTracingChannels(version)) return;
    // from `mysql2/promise`: the classes it loaded itself
    const classes =
      moduleName === 'mysql2'
        ? exports
        : { Connection: loadedBeside(exports, './lib/connection.js'), Pool: loadedBeside(exports, './lib/pool.js') };
    patchMysql2Module(classes);
  },
  unpatch() {
    unsubscribeChannels();
  },
};
