import type { Span } from 'opentracing';
import { currentParent, startClientSpan, wouldTrace } from '../client/span';
import { isTracingSuppressed, runSuppressed, runWithSpan } from '../context';
import { debug } from '../safe';
import { DB_STATEMENT } from '../tags';
import { recordErrorOnSpan, safeFinish } from '../tracer';
import type { ClientHook } from './hook';
import {
  BATCH_SIZE,
  type ChannelContext,
  finishWhenSettled,
  redisStatement,
  redisTags,
  subscribeSpans,
} from './redis-common';
import { wrapMethod } from './wrap';

/**
 * The `ioredis` client hook: spans `ioredis:<COMMAND>`, and one
 * `ioredis:MULTI` / `ioredis:PIPELINE` span per batch.
 *
 * - ioredis >= 5.11 publishes `TracingChannel`s (`ioredis:command`,
 *   `ioredis:batch`; redis/ioredis#2089): commands and MULTIs are traced from
 *   those. ioredis publishes no batch event for a plain pipeline, so
 *   `Pipeline.prototype.exec` makes that span.
 * - Older copies publish nothing: `Redis.prototype.sendCommand` and
 *   `Pipeline.prototype.exec` make all the spans. Never both for one copy.
 *
 * In both cases `sendCommand` is wrapped for one thing the channels cannot
 * do: a command issued before the connection is ready waits in the offline
 * queue, and ioredis sends it again (through `sendCommand`) from its `ready`
 * handler, in the async context of whoever opened the connection. Traced
 * there, it would make a second span (open-telemetry/opentelemetry-js-contrib#288,
 * elastic/apm-agent-nodejs#2459) or hang under another request's span (what
 * ioredis's own channel does: it traces on the write path only). So the
 * caller's context is kept on the command object when it is queued, and the
 * command is traced once, in that context, when it is written.
 */

const COMPONENT = 'ioredis';

/** On a Command: the caller's context, kept while the command waits in the offline queue; or TRACED. */
const kCaller = Symbol('otinst.ioredis.caller');
/** On a Pipeline: its span was started (the MULTI flow runs `exec` more than once). */
const kBatchTraced = Symbol('otinst.ioredis.batchTraced');

const SUPPRESSED = Symbol('otinst.ioredis.suppressed');
/** A command that has had its span (patched copies): a resend after a reconnect makes no second one. */
const TRACED = Symbol('otinst.ioredis.traced');
type Caller = Span | null | typeof SUPPRESSED | typeof TRACED;

let active = false;
let unsubscribe: (() => void)[] = [];
/**
 * Above zero while ioredis writes a command that must not make a span of its
 * own: a MULTI or pipeline member (the batch span stands for it), or a
 * handshake command ioredis sends for itself while connecting. Channel events
 * are published synchronously inside `sendCommand`, so a counter suffices.
 */
let quiet = 0;

interface IoredisCommand {
  name: string;
  args: unknown[];
  promise: Promise<unknown>;
  [kCaller]?: Caller;
}

interface IoredisClient {
  status?: string;
  options?: { host?: string; port?: number; path?: string; db?: number };
  condition?: { select?: number } | null;
}

interface IoredisPipeline {
  redis?: IoredisClient;
  _queue?: unknown[];
  _transactions?: number;
  [kBatchTraced]?: boolean;
}

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

// ---------------------------------------------------------------------------
// Spans

function clientTags(client: IoredisClient | undefined): Record<string, unknown> {
  const options = client?.options;
  const database = client?.condition?.select ?? options?.db ?? 0;
  if (typeof options?.path === 'string') return redisTags(COMPONENT, database, options.path, undefined);
  return redisTags(COMPONENT, database, options?.host ?? 'localhost', options?.port ?? 6379);
}

function startCommandSpan(client: IoredisClient, command: IoredisCommand): Span | null {
  const name = String(command.name).toUpperCase();
  const args = Array.isArray(command.args) ? command.args : [];
  const spanTags = clientTags(client);
  spanTags[DB_STATEMENT] = redisStatement(name, args[0], Math.max(args.length - 1, 0));
  return startClientSpan(`ioredis:${name}`, spanTags);
}

function startCommandFromChannel(context: ChannelContext): Span | null {
  if (quiet > 0 || !active || !wouldTrace()) return null;
  const name = String(context['command']).toUpperCase();
  // ioredis sanitizes `args` itself (values become '?'); the command name is not in it
  const args = Array.isArray(context['args']) ? (context['args'] as unknown[]) : [];
  const spanTags = redisTags(COMPONENT, context['database'], context['serverAddress'] as string, context['serverPort']);
  spanTags[DB_STATEMENT] = redisStatement(name, args[0], Math.max(args.length - 1, 0));
  return startClientSpan(`ioredis:${name}`, spanTags);
}

function startBatchFromChannel(context: ChannelContext): Span | null {
  if (!active || !wouldTrace()) return null;
  const spanTags = redisTags(COMPONENT, context['database'], context['serverAddress'] as string, context['serverPort']);
  spanTags[BATCH_SIZE] = context['batchSize'];
  return startClientSpan('ioredis:MULTI', spanTags);
}

function subscribeChannels(): void {
  if (unsubscribe.length > 0) return;
  unsubscribe = [
    subscribeSpans('ioredis:command', startCommandFromChannel),
    subscribeSpans('ioredis:batch', startBatchFromChannel),
  ];
}

// ---------------------------------------------------------------------------
// sendCommand

function sendQuietly(original: AnyFunction, client: unknown, command: unknown, stream: unknown, node: unknown) {
  quiet++;
  try {
    return original.call(client, command, stream, node);
  } finally {
    quiet--;
  }
}

/** Writes a command now, with its span: the channel makes it, or (a patched copy) this does. */
function sendTraced(
  channels: boolean,
  original: AnyFunction,
  client: IoredisClient,
  command: IoredisCommand,
  stream: unknown,
  node: unknown,
): unknown {
  if (channels || !wouldTrace()) return original.call(client, command, stream, node);
  const span = startCommandSpan(client, command);
  if (span === null) return original.call(client, command, stream, node);
  command[kCaller] = TRACED;
  let result: unknown;
  try {
    result = original.call(client, command, stream, node);
  } catch (error) {
    recordErrorOnSpan(span, error);
    safeFinish(span);
    throw error;
  }
  finishWhenSettled(command.promise, span);
  return result;
}

function captureCaller(): Caller {
  return isTracingSuppressed() ? SUPPRESSED : currentParent();
}

function makeSendCommand(original: AnyFunction, channels: boolean): AnyFunction {
  return function sendCommand(this: unknown, command: unknown, stream: unknown, node: unknown) {
    if (!active || typeof command !== 'object' || command === null) {
      return original.call(this, command, stream, node);
    }
    const client = this as IoredisClient;
    const cmd = command as IoredisCommand;
    // a pipeline or MULTI member: the batch span stands for it
    if (stream !== undefined) return sendQuietly(original, this, command, stream, node);
    const caller = cmd[kCaller];
    if (caller === TRACED) return sendQuietly(original, this, command, stream, node);
    if (caller !== undefined) {
      // the offline queue (or a reconnect) sends it now: trace it once, in its caller's context
      cmd[kCaller] = TRACED;
      const send = () => sendTraced(channels, original, client, cmd, stream, node);
      return caller === SUPPRESSED ? runSuppressed(send) : runWithSpan(caller, send);
    }
    if (client.status !== 'ready') {
      // queued until the connection is ready, or a handshake command ioredis sends for itself
      cmd[kCaller] = captureCaller();
      return sendQuietly(original, this, command, stream, node);
    }
    return sendTraced(channels, original, client, cmd, stream, node);
  };
}

// ---------------------------------------------------------------------------
// Pipeline.prototype.exec

function finishBatch(promise: unknown, span: Span, multi: boolean): void {
  if (!multi || typeof (promise as PromiseLike<unknown> | undefined)?.then !== 'function') {
    finishWhenSettled(promise, span);
    return;
  }
  // a MULTI's inner exec resolves with [[error, reply], ...]; a failed EXEC is the last entry's error
  (promise as PromiseLike<unknown>).then(
    (results) => {
      const last = Array.isArray(results) ? (results[results.length - 1] as unknown) : undefined;
      if (Array.isArray(last) && last[0] !== null && last[0] !== undefined) recordErrorOnSpan(span, last[0]);
      safeFinish(span);
    },
    (error: unknown) => {
      recordErrorOnSpan(span, error);
      safeFinish(span);
    },
  );
}

function makeExec(original: AnyFunction, channels: boolean): AnyFunction {
  return function exec(this: unknown, ...args: unknown[]) {
    const pipeline = this as IoredisPipeline;
    // _transactions > 0: the MULTI flow's first call, which only queues EXEC
    if (!active || (pipeline._transactions ?? 0) > 0 || pipeline[kBatchTraced] === true) {
      return original.apply(this, args);
    }
    // redis.multi() gives its pipeline an own `exec` that calls this one
    const multi = Object.prototype.hasOwnProperty.call(pipeline, 'exec');
    if (multi && channels) return original.apply(this, args); // ioredis:batch traces it
    const queued = Array.isArray(pipeline._queue) ? pipeline._queue.length : 0;
    if (queued === 0 || !wouldTrace()) return original.apply(this, args);
    pipeline[kBatchTraced] = true;
    const spanTags = clientTags(pipeline.redis);
    // a MULTI's queue holds its MULTI and EXEC commands too
    spanTags[BATCH_SIZE] = multi ? Math.max(queued - 2, 0) : queued;
    const span = startClientSpan(multi ? 'ioredis:MULTI' : 'ioredis:PIPELINE', spanTags);
    if (span === null) return original.apply(this, args);
    let result: unknown;
    try {
      result = original.apply(this, args);
    } catch (error) {
      recordErrorOnSpan(span, error);
      safeFinish(span);
      throw error;
    }
    finishBatch(result, span, multi);
    return result;
  };
}

// ---------------------------------------------------------------------------

/** How a copy of ioredis is traced. */
export type IoredisMode = 'channels' | 'patched' | 'unsupported';

interface IoredisModule {
  Redis?: { prototype: Record<string, AnyFunction> };
  default?: { prototype: Record<string, AnyFunction> };
  Pipeline?: { prototype: Record<string, AnyFunction> };
}

/**
 * Instruments one loaded copy of ioredis (its main module's exports), as the
 * hook does for every copy it finds by name. For copies that the loader cannot
 * find by name (an npm alias such as `ioredis5`). `uninstallPatches()` undoes
 * it. `useChannels: false` treats even a publishing copy as an old one and
 * does not subscribe (tests of the patched path on a current copy).
 * Internal: not exported from the package index.
 *
 * @example
 * ```ts
 * installPatches(['ioredis']);
 * instrumentIoredis(createRequire(import.meta.url)('ioredis5'));
 * ```
 */
export function instrumentIoredis(exports: unknown, { useChannels = true } = {}): IoredisMode {
  active = true;
  if (useChannels) subscribeChannels();
  const lib = exports as IoredisModule | null;
  const Redis = lib?.Redis ?? lib?.default ?? (lib as IoredisModule['Redis']);
  const redisProto = Redis?.prototype;
  const pipelineProto = lib?.Pipeline?.prototype;
  if (typeof redisProto?.['sendCommand'] !== 'function' || typeof pipelineProto?.['exec'] !== 'function') {
    debug('ioredis: no Redis.prototype.sendCommand or Pipeline.prototype.exec here: not patched');
    return 'unsupported';
  }
  // the channel publisher's helper exists from 5.11 on
  const channels = useChannels && typeof redisProto['_buildCommandContext'] === 'function';
  wrapMethod(redisProto, 'sendCommand', (original) => makeSendCommand(original as AnyFunction, channels));
  wrapMethod(pipelineProto, 'exec', (original) => makeExec(original as AnyFunction, channels));
  return channels ? 'channels' : 'patched';
}

/** The `ioredis` (5 and 6) client hook. */
export const hook: ClientHook = {
  modules: ['ioredis'],
  versions: ['5.0.0', '7.0.0'],
  install() {
    // ioredis ≥ 5.11 publishes channels: subscribing is enough, whatever copy the app loads
    active = true;
    subscribeChannels();
  },
  patch(exports) {
    instrumentIoredis(exports);
  },
  unpatch() {
    active = false;
    for (const stop of unsubscribe) stop();
    unsubscribe = [];
  },
};
