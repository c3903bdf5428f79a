import type { Span } from 'opentracing';
import { currentParent, wouldTrace } from '../client/span';
import { isTracingSuppressed, runSuppressed, runWithSpan } from '../context';
import { debug, safeExecute } from '../safe';
import { recordErrorOnSpan } from '../tracer';
import { subscribeSpans } from './channels';
import type { ChannelContext } from './channels';
import type { ClientHook } from './hook';
import { finishSpan, observeSettled, settleWith, traceCall, traceCallbackCall } from './lifecycle';
import type { CallEnd } from './lifecycle';
import { peerFromChannel, startRedisBatchSpan, startRedisCommandSpan } from './redis-common';
import type { RedisPeer } from './redis-common';
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

const kQueuedSpan = Symbol('otinst.ioredis.queuedSpan');
/** A followed queued command was written, and its span is the channel's (or finished). */
const WRITTEN = Symbol('otinst.ioredis.written');

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
  /** The caller's callback: ioredis then handles `promise` itself. */
  callback?: unknown;
  [kCaller]?: Caller;
  /** A queued command whose caller got a promise from the hook: null until written, then its span (or WRITTEN). */
  [kQueuedSpan]?: Span | null | typeof WRITTEN;
}

interface IoredisClient {
  status?: string;
  offlineQueue?: { peekBack?(): { command?: unknown } | undefined };
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

function clientPeer(client: IoredisClient | undefined): RedisPeer {
  const options = client?.options;
  const database = client?.condition?.select ?? options?.db ?? 0;
  if (typeof options?.path === 'string') return { database, address: options.path, port: undefined };
  return { database, address: options?.host ?? 'localhost', port: options?.port ?? 6379 };
}

/** One command, from the client (patched copies) or from the channel payload: the same span. */
function startIoredisSpan(peer: RedisPeer, name: unknown, args: unknown): Span | null {
  const command = String(name).toUpperCase();
  const list = Array.isArray(args) ? (args as unknown[]) : [];
  return startRedisCommandSpan(COMPONENT, peer, command, list[0], Math.max(list.length - 1, 0));
}

function startCommandSpan(client: IoredisClient, command: IoredisCommand): Span | null {
  return startIoredisSpan(clientPeer(client), command.name, command.args);
}

function startCommandFromChannel(context: ChannelContext): Span | null {
  if (quiet > 0 || !active || !wouldTrace()) return null;
  // ioredis sanitizes `args` itself (values become '?'); the command name is not in it
  return startIoredisSpan(peerFromChannel(context), context['command'], context['args']);
}

function startBatchFromChannel(context: ChannelContext): Span | null {
  if (!active || !wouldTrace()) return null;
  return startRedisBatchSpan(COMPONENT, peerFromChannel(context), true, context['batchSize']);
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

/**
 * Writes a command now, with its span: the channel makes it, or (a patched
 * copy) this does. `direct`: the caller gets what this returns, so it gets a
 * promise that settles like the command's (lifecycle.ts) instead of the
 * command's own, which the span observes.
 */
function sendTraced(
  channels: boolean,
  original: AnyFunction,
  client: IoredisClient,
  command: IoredisCommand,
  stream: unknown,
  node: unknown,
  direct: boolean,
): unknown {
  if (channels || !wouldTrace()) {
    // the channel makes its span once written: a follower of the queued command has nothing to add
    if (command[kQueuedSpan] === null) command[kQueuedSpan] = WRITTEN;
    return original.call(client, command, stream, node);
  }
  const span = startCommandSpan(client, command);
  if (span === null) return original.call(client, command, stream, node);
  command[kCaller] = TRACED;
  const result = traceCallbackCall(span, () => original.call(client, command, stream, node));
  if (command[kQueuedSpan] === null) {
    // its caller holds the promise that `followQueued` made: that one finishes the span
    command[kQueuedSpan] = span;
  } else if (direct && result === command.promise && command.callback === undefined) {
    return settleWith(span, result);
  } else {
    // ioredis handles this promise itself (a callback), or the caller never sees it
    observeSettled(span, command.promise);
  }
  return result;
}

/**
 * A queued command settled: its span (made when it was written) finishes; a
 * command that failed before it was ever written (the connection never came
 * back: MaxRetriesPerRequestError, a closed client) gets its error span now,
 * in its caller's context (issue 11: an outage must still show a span).
 */
function endQueued(command: IoredisCommand, client: IoredisClient, caller: Span, error: unknown): void {
  const state = command[kQueuedSpan];
  command[kQueuedSpan] = WRITTEN;
  if (state === WRITTEN) return;
  if (state !== null && state !== undefined) {
    finishSpan(state, error);
    return;
  }
  if (error === undefined || error === null || !active) return;
  const span = runWithSpan(caller, () => startCommandSpan(client, command));
  if (span !== null) finishSpan(span, error);
}

/**
 * A command queued until the connection is ready, in a traced context, whose
 * caller takes the returned promise: the caller gets a promise derived from
 * the command's (see `settleWith`), which finishes the command's span.
 */
function followQueued(command: IoredisCommand, client: IoredisClient, caller: Span, result: unknown): unknown {
  if (result !== command.promise || command.callback !== undefined) return result;
  command[kQueuedSpan] = null;
  return command.promise.then(
    (value) => {
      endQueued(command, client, caller, undefined);
      return value;
    },
    (error: unknown) => {
      endQueued(command, client, caller, error);
      throw error;
    },
  );
}

/** Whether ioredis queued `command` (a handshake command it sends for itself while connecting is written at once). */
function inOfflineQueue(client: IoredisClient, command: IoredisCommand): boolean {
  const last = safeExecute('reading the ioredis offline queue', () => client.offlineQueue?.peekBack?.());
  return last?.command === command;
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
      const send = () => sendTraced(channels, original, client, cmd, stream, node, false);
      return caller === SUPPRESSED ? runSuppressed(send) : runWithSpan(caller, send);
    }
    if (client.status !== 'ready') {
      // queued until the connection is ready, or a handshake command ioredis sends for itself
      const caller = captureCaller();
      cmd[kCaller] = caller;
      const result = sendQuietly(original, this, command, stream, node);
      if (caller === null || typeof caller === 'symbol' || !inOfflineQueue(client, cmd)) return result;
      return followQueued(cmd, client, caller, result);
    }
    return sendTraced(channels, original, client, cmd, stream, node, true);
  };
}

// ---------------------------------------------------------------------------
// Pipeline.prototype.exec

/** A MULTI's inner exec resolves with [[error, reply], ...]; a failed EXEC is the last entry's error. */
const MULTI_END: CallEnd = {
  result(span, results) {
    const last = Array.isArray(results) ? (results[results.length - 1] as unknown) : undefined;
    if (Array.isArray(last) && last[0] !== null && last[0] !== undefined) recordErrorOnSpan(span, last[0]);
  },
};

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
    // a MULTI's queue holds its MULTI and EXEC commands too
    const span = startRedisBatchSpan(
      COMPONENT,
      clientPeer(pipeline.redis),
      multi,
      multi ? Math.max(queued - 2, 0) : queued,
    );
    if (span === null) return original.apply(this, args);
    // exec(callback): ioredis handles the promise itself; a MULTI's inner exec is ioredis's own
    if (multi || typeof args[args.length - 1] === 'function') {
      const result = traceCallbackCall(span, () => original.apply(this, args));
      observeSettled(span, result, multi ? MULTI_END : undefined);
      return result;
    }
    return traceCall(span, () => original.apply(this, args));
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
