import type { Span } from 'opentracing';
import { wouldTrace } from '../client/span';
import { bind } from '../context';
import { debug, safeExecute } from '../safe';
import { subscribeSpans } from './channels';
import type { ChannelContext } from './channels';
import type { ClientHook } from './hook';
import { traceCall } from './lifecycle';
import { loadedBeside } from './load';
import { peerFromChannel, startRedisBatchSpan, startRedisCommandSpan } from './redis-common';
import type { RedisPeer } from './redis-common';
import { wrapMethod } from './wrap';

/**
 * The `redis` (node-redis) client hook: spans `redis:<COMMAND>`, and one
 * `redis:MULTI` / `redis:PIPELINE` span per batch.
 *
 * The client lives in `@redis/client` in every major (redis 4 ships
 * `@redis/client` 1.x, redis 5 and 6 the same major), so that is the module
 * the hook watches: `require('redis')` loads it by that name, which the loader
 * sees, and npm hoists it beside `redis` in an application.
 *
 * - Every copy the loader finds is patched: redis 4 through its command
 *   methods, redis 5 and 6 through `sendCommand` and the batch executors.
 * - `@redis/client` >= 5.12 also publishes `TracingChannel`s
 *   (`node-redis:command`, `node-redis:batch`; redis/node-redis#3195). The
 *   hook subscribes to them only for a publishing copy it cannot patch (a
 *   future release whose internals moved): node-redis builds its channel
 *   payload for every command as soon as anyone subscribes, with or without
 *   a span, and that costs about 0.8 µs more per command than the wrapper
 *   (docs/performance.md, issue 16). Never both for one process, or every
 *   command of a patched copy would make two spans.
 *
 * Spans are made only under a current span (`startClientSpan`).
 */

const COMPONENT = 'redis';

/** The database a client switched to with SELECT (patched copies; channel payloads carry it). */
const kDatabase = Symbol('otinst.redis.database');

/**
 * False after `uninstallPatches()`: wrappers that the library captured while
 * installed (a MULTI's bound executor, redis 4's `client.select`) must stop
 * tracing too.
 */
let active = false;
let unsubscribe: (() => void)[] = [];

interface SocketOptions {
  host?: string;
  port?: number;
  path?: string;
}

interface NodeRedisClient {
  /** redis 5: the real client behind per-call proxies. */
  _self?: NodeRedisClient;
  options?: { socket?: SocketOptions; database?: number };
  [kDatabase]?: number;
}

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;
type Prototype = Record<string, AnyFunction>;

// ---------------------------------------------------------------------------
// Channel-publishing copies

function startCommandFromChannel(context: ChannelContext): Span | null {
  // pipeline members are published too (with batchMode): the PIPELINE span stands for them
  if (context['batchMode'] !== undefined || !wouldTrace()) return null;
  // node-redis sanitizes `args` itself (values become '?'); args[0] is the command
  const args = Array.isArray(context['args']) ? (context['args'] as unknown[]) : [];
  const peer = peerFromChannel(context);
  return startRedisCommandSpan(COMPONENT, peer, String(context['command']), args[1], Math.max(args.length - 2, 0));
}

function startBatchFromChannel(context: ChannelContext): Span | null {
  if (!wouldTrace()) return null;
  const multi = context['batchMode'] !== 'PIPELINE';
  return startRedisBatchSpan(COMPONENT, peerFromChannel(context), multi, context['batchSize']);
}

function subscribeChannels(): void {
  if (unsubscribe.length > 0) return;
  unsubscribe = [
    subscribeSpans('node-redis:command', startCommandFromChannel),
    subscribeSpans('node-redis:batch', startBatchFromChannel),
  ];
}

// ---------------------------------------------------------------------------
// Patched copies

function clientPeer(client: unknown): RedisPeer {
  const self = (client as NodeRedisClient)._self ?? (client as NodeRedisClient);
  const options = self.options;
  const socket = options?.socket;
  const database = self[kDatabase] ?? options?.database ?? 0;
  if (socket?.path !== undefined) return { database, address: socket.path, port: undefined };
  return { database, address: socket?.host ?? 'localhost', port: socket?.port ?? 6379 };
}

function startCommandSpan(client: unknown, command: string, first: unknown, rest: number): Span | null {
  return startRedisCommandSpan(COMPONENT, clientPeer(client), command, first, rest);
}

/** A span for a command given as Redis sees it: `['SET', key, value]`. */
function startArgsSpan(client: unknown, redisArgs: readonly unknown[]): Span | null {
  return startCommandSpan(client, String(redisArgs[0]).toUpperCase(), redisArgs[1], Math.max(redisArgs.length - 2, 0));
}

function startBatchSpan(client: unknown, multi: boolean, size: number): Span | null {
  return startRedisBatchSpan(COMPONENT, clientPeer(client), multi, size);
}

/** `wrapMethod` with the loose method type that these untyped library internals need. */
function wrap(target: Prototype, name: string, makeWrapper: (original: AnyFunction) => AnyFunction): void {
  wrapMethod(target, name, (original) => makeWrapper(original as AnyFunction));
}

/** Calls `original`; when there is a span, finishes it when the returned promise settles (lifecycle.ts). */
function callTraced(span: Span | null, original: AnyFunction, self: unknown, args: unknown[]): unknown {
  if (span === null) return original.apply(self, args);
  return traceCall(span, () => original.apply(self, args));
}

/**
 * Remembers the database a client selected, once the SELECT (or a MULTI
 * holding one) succeeded. Returns what the caller gets: a promise derived from
 * `result`, so that a rejection still reaches the caller unhandled-or-not as
 * it would without otinst.
 */
function rememberDatabase(client: unknown, result: unknown, database: unknown): unknown {
  if (typeof database !== 'number' || typeof (result as PromiseLike<unknown> | undefined)?.then !== 'function') {
    return result;
  }
  const self = (client as NodeRedisClient)._self ?? (client as NodeRedisClient);
  return (result as PromiseLike<unknown>).then((value) => {
    self[kDatabase] = database;
    return value;
  });
}

function isolated(options: unknown): boolean {
  return typeof options === 'object' && options !== null && (options as { isolated?: unknown }).isolated === true;
}

interface CommandModule {
  transformArguments(...args: unknown[]): unknown[];
}

interface Commander {
  transformCommandArguments(command: CommandModule, args: unknown[]): { args: unknown[]; options?: unknown };
}

/** A redis 4 command method or executor: the span needs the arguments as Redis sees them. */
function traceCommandCall(
  client: unknown,
  original: AnyFunction,
  commander: Commander,
  command: CommandModule,
  args: unknown[],
  callArgs: unknown[],
): unknown {
  const parsed = safeExecute('parsing node-redis arguments', () => commander.transformCommandArguments(command, args));
  // an isolated command runs again through the isolated client's sendCommand, which traces it
  if (parsed === undefined || isolated(parsed.options)) return original.apply(client, callArgs);
  return callTraced(startArgsSpan(client, parsed.args), original, client, callArgs);
}

/**
 * redis 4 (`@redis/client` 1.x): commands are prototype methods that call an
 * executor captured when the module loaded, and the private `#sendCommand`;
 * so each command method is wrapped, plus the public paths (`sendCommand`,
 * scripts, functions, module commands through `commandsExecutor`) and the
 * MULTI/pipeline executor.
 */
function patchRedis4(proto: Prototype, commands: Record<string, CommandModule>, commander: Commander) {
  for (const name of Object.keys(commands)) {
    const command = commands[name]!;
    if (typeof proto[name] !== 'function' || typeof command?.transformArguments !== 'function') continue;
    wrap(proto, name, (original) => {
      return function tracedCommand(this: unknown, ...args: unknown[]) {
        if (!active || !wouldTrace()) return original.apply(this, args);
        return traceCommandCall(this, original, commander, command, args, args);
      };
    });
  }
  wrap(proto, 'commandsExecutor', (original) => {
    return function commandsExecutor(this: unknown, command: unknown, args: unknown, name: unknown) {
      if (!active || !wouldTrace() || !Array.isArray(args)) return original.call(this, command, args, name);
      return traceCommandCall(this, original, commander, command as CommandModule, args, [command, args, name]);
    };
  });
  wrap(proto, 'sendCommand', (original) => {
    return function sendCommand(this: unknown, args: unknown, options: unknown) {
      if (!active || !Array.isArray(args) || isolated(options) || !wouldTrace()) {
        return original.call(this, args, options);
      }
      return callTraced(startArgsSpan(this, args), original, this, [args, options]);
    };
  });
  wrap(proto, 'executeScript', (original) => {
    return function executeScript(this: unknown, script: unknown, args: unknown, options: unknown) {
      if (!active || isolated(options) || !wouldTrace()) return original.call(this, script, args, options);
      const { SHA1, NUMBER_OF_KEYS } = (script ?? {}) as { SHA1?: string; NUMBER_OF_KEYS?: number };
      const rest = (Array.isArray(args) ? args.length : 0) + (NUMBER_OF_KEYS === undefined ? 0 : 1);
      const span = startCommandSpan(this, 'EVALSHA', SHA1, rest);
      return callTraced(span, original, this, [script, args, options]);
    };
  });
  wrap(proto, 'executeFunction', (original) => {
    return function executeFunction(this: unknown, name: unknown, fn: unknown, args: unknown, options: unknown) {
      if (!active || isolated(options) || !wouldTrace()) return original.call(this, name, fn, args, options);
      const { IS_READ_ONLY, NUMBER_OF_KEYS } = (fn ?? {}) as { IS_READ_ONLY?: boolean; NUMBER_OF_KEYS?: number };
      const rest = (Array.isArray(args) ? args.length : 0) + (NUMBER_OF_KEYS === undefined ? 0 : 1);
      const span = startCommandSpan(this, IS_READ_ONLY === true ? 'FCALL_RO' : 'FCALL', name, rest);
      return callTraced(span, original, this, [name, fn, args, options]);
    };
  });
  wrap(proto, 'multiExecutor', (original) => {
    return function multiExecutor(this: unknown, commands: unknown, selectedDB: unknown, chainId: unknown) {
      if (!active || !wouldTrace()) return original.call(this, commands, selectedDB, chainId);
      const size = Array.isArray(commands) ? commands.length : 0;
      // a chain id marks a MULTI (redis 4 sends MULTI/EXEC around it); none, a pipeline
      const span = startBatchSpan(this, chainId !== undefined, size);
      return rememberDatabase(this, callTraced(span, original, this, [commands, selectedDB, chainId]), selectedDB);
    };
  });
  wrap(proto, 'SELECT', (original) => {
    return function SELECT(this: unknown, options: unknown, db: unknown) {
      // SELECT(db) or SELECT(commandOptions, db); it bypasses the traced paths, so it gets its own span
      const database = typeof options === 'number' ? options : db;
      if (!active) return original.call(this, options, db);
      const span = wouldTrace() ? startCommandSpan(this, 'SELECT', database, 0) : null;
      return rememberDatabase(this, callTraced(span, original, this, [options, db]), database);
    };
  });
}

/**
 * redis 5 before 5.12: every command (also scripts, functions, module
 * commands and SELECT) goes through the public `sendCommand`; MULTI and
 * pipelines through `_executeMulti` / `_executePipeline`, bound when
 * `client.multi()` is called.
 */
function patchRedis5(proto: Prototype) {
  wrap(proto, 'sendCommand', (original) => {
    return function sendCommand(this: unknown, args: unknown, options: unknown) {
      if (!active || !Array.isArray(args) || !wouldTrace()) return original.call(this, args, options);
      return callTraced(startArgsSpan(this, args), original, this, [args, options]);
    };
  });
  for (const [name, multi] of [
    ['_executeMulti', true],
    ['_executePipeline', false],
  ] as const) {
    wrap(proto, name, (original) => {
      return function executeBatch(this: unknown, commands: unknown, selectedDB: unknown) {
        if (!active || !wouldTrace()) return original.call(this, commands, selectedDB);
        const span = startBatchSpan(this, multi, Array.isArray(commands) ? commands.length : 0);
        return rememberDatabase(this, callTraced(span, original, this, [commands, selectedDB]), selectedDB);
      };
    });
  }
  wrap(proto, 'SELECT', (original) => {
    return function SELECT(this: unknown, db: unknown) {
      const result = original.call(this, db);
      return active ? rememberDatabase(this, result, db) : result;
    };
  });
}

/**
 * redis 5 and 6 `RedisClientPool`: when every client is busy, `execute(fn)`
 * queues `fn` and runs it when a client comes back, in the async context of
 * whoever returned it: another request's. So `fn` is bound to its caller's
 * context (as dd-trace does for pg-pool, DataDog/dd-trace-js#3733), for the
 * channel path and the patched path alike.
 */
function patchPool(clientModule: unknown): void {
  // redis 4 has no pool module
  const pool = safeExecute('finding the node-redis pool (none before redis 5)', () =>
    loadedBeside(clientModule, './lib/client/pool'),
  ) as { RedisClientPool?: { prototype: Prototype } } | undefined;
  const proto = pool?.RedisClientPool?.prototype;
  if (typeof proto?.['execute'] !== 'function') return;
  wrap(proto, 'execute', (original) => {
    return function execute(this: unknown, fn: unknown) {
      if (!active || typeof fn !== 'function') return original.call(this, fn);
      return original.call(this, bind(fn as AnyFunction));
    };
  });
}

/** How a copy of `@redis/client` is traced. */
export type RedisClientMode = 'channels' | 'patched' | 'unsupported';

function publishesChannels(clientModule: unknown): boolean {
  const channels = (clientModule as { CHANNELS?: { TRACE_COMMAND?: unknown } } | null)?.CHANNELS;
  return channels?.TRACE_COMMAND === 'node-redis:command';
}

function patchCopy(clientModule: unknown): RedisClientMode {
  const client = loadedBeside(clientModule, './lib/client') as { default?: { prototype?: unknown } } | undefined;
  const proto = client?.default?.prototype as Prototype | undefined;
  if (proto === undefined) return 'unsupported';
  if (typeof proto['_executeMulti'] === 'function') {
    patchRedis5(proto);
    return 'patched';
  }
  if (typeof proto['multiExecutor'] === 'function') {
    const commands = (loadedBeside(clientModule, './lib/client/commands') as { default?: unknown } | undefined)
      ?.default as Record<string, CommandModule> | undefined;
    const commander = loadedBeside(clientModule, './lib/commander') as Commander | undefined;
    if (commands === undefined || typeof commander?.transformCommandArguments !== 'function') return 'unsupported';
    patchRedis4(proto, commands, commander);
    return 'patched';
  }
  return 'unsupported';
}

/**
 * Instruments one loaded copy of `@redis/client` (its main module's exports),
 * as the hook does for every copy it finds by name: patches it, or, for a
 * copy that publishes channels but cannot be patched, subscribes to them. For
 * copies that the loader cannot find by name (an npm alias such as `redis4`,
 * a copy nested under another package and loaded before installation).
 * `uninstallPatches()` undoes it. `useChannels: true` subscribes instead of
 * patching a publishing copy (tests of the channel path). Internal: not
 * exported from the package index.
 *
 * @example
 * ```ts
 * installPatches(['redis']);
 * const redis4 = createRequire(require.resolve('redis4'));
 * instrumentRedisClient(redis4('@redis/client')); // 'patched'
 * ```
 */
export function instrumentRedisClient(clientModule: unknown, { useChannels = false } = {}): RedisClientMode {
  active = true;
  try {
    patchPool(clientModule);
    const publishes = publishesChannels(clientModule);
    if (useChannels && publishes) {
      subscribeChannels();
      return 'channels';
    }
    const mode = patchCopy(clientModule);
    if (mode === 'unsupported' && publishes) {
      // internals this hook does not know: the library's own channels still say what it does
      subscribeChannels();
      return 'channels';
    }
    return mode;
  } catch (error) {
    debug('patching @redis/client failed', error);
    return 'unsupported';
  }
}

/** The `redis` (node-redis 4, 5 and 6) client hook. */
export const hook: ClientHook = {
  modules: ['@redis/client'],
  // @redis/client 1.x is redis 4; 5.x and 6.x are redis 5 and 6
  versions: ['1.0.0', '7.0.0'],
  install() {
    active = true;
  },
  patch(exports) {
    instrumentRedisClient(exports);
  },
  unpatch() {
    active = false;
    for (const stop of unsubscribe) stop();
    unsubscribe = [];
  },
};
