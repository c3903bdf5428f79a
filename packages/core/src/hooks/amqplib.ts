import { FORMAT_TEXT_MAP } from 'opentracing';
import type { Span } from 'opentracing';
import { hookSettings, startClientSpan, wouldTrace } from '../client/span';
import { peerHostTag } from '../client/http';
import { runWithSpan } from '../context';
import { debug } from '../safe';
import * as tags from '../tags';
import { childOptions, resolveTracer, safeExtract, safeInject, safeSetTags, safeStartSpan, tracerOf } from '../tracer';
import type { ClientHook } from './hook';
import { traceCall } from './lifecycle';
import { requireBeside } from './redis-common';
import { wrapMethod } from './wrap';

/**
 * The `amqplib` hook (0.10 to 2.x, promise and callback APIs).
 *
 * - Producer: `Channel.prototype.publish` of both channel models makes a span
 *   `amqp:publish <exchange>` (or `<queue>` for the default exchange, which is
 *   what `sendToQueue` uses: it calls `publish`, as does ConfirmChannel, so
 *   `publish` alone sees every message once). The span context goes into the
 *   message's `headers` with `FORMAT_TEXT_MAP`, in a copy of the caller's
 *   options: the caller's object is never changed.
 * - Consumer: `Channel.prototype.consume` wraps the message callback. Each
 *   message gets a span `amqp:consume <queue>`, a child of the context
 *   extracted from its headers, active (`runWithSpan`) while the callback runs
 *   and finished when it returns or its promise settles.
 *
 * A consumer span is made even with no incoming context (then it starts a new
 * trace), and whatever the async context at delivery: a delivery is an entry
 * point, like an incoming request, and that context is only the one in which
 * the connection happened to be opened, not the message's (the Python
 * original's celery hook also starts a consumer span without a parent).
 */

const COMPONENT = 'amqplib';

/**
 * False after `uninstallPatches()`: consumers registered while installed keep
 * their wrapper (amqplib holds it), so it must stop tracing.
 */
let active = false;

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

interface AmqpChannel {
  connection?: { stream?: { remoteAddress?: string; remotePort?: number } };
}

interface AmqpMessage {
  properties?: { headers?: Record<string, unknown> };
}

interface PublishOptions {
  headers?: Record<string, unknown>;
  [option: string]: unknown;
}

function messagingTags(channel: unknown, kind: string, destination: string): Record<string, unknown> {
  const spanTags: Record<string, unknown> = {
    [tags.SPAN_KIND]: kind,
    [tags.COMPONENT]: COMPONENT,
    [tags.MESSAGE_BUS_DESTINATION]: destination,
  };
  const socket = (channel as AmqpChannel | null)?.connection?.stream;
  const address = socket?.remoteAddress;
  if (typeof address === 'string') {
    spanTags[peerHostTag(address)] = address;
    if (typeof socket?.remotePort === 'number') spanTags[tags.PEER_PORT] = socket.remotePort;
  }
  return spanTags;
}

// ---------------------------------------------------------------------------
// Producer

function makePublish(original: AnyFunction): AnyFunction {
  return function publish(this: unknown, exchange: unknown, routingKey: unknown, content: unknown, options: unknown) {
    if (!active || !wouldTrace()) return original.call(this, exchange, routingKey, content, options);
    const destination = String(exchange === '' || exchange === undefined || exchange === null ? routingKey : exchange);
    const span = startClientSpan(`amqp:publish ${destination}`, messagingTags(this, tags.KIND_PRODUCER, destination));
    if (span === null) return original.call(this, exchange, routingKey, content, options);
    const callerOptions = (typeof options === 'object' && options !== null ? options : {}) as PublishOptions;
    const headers: Record<string, unknown> = { ...callerOptions.headers };
    safeInject(tracerOf(span, hookSettings.tracer), span, FORMAT_TEXT_MAP, headers);
    // publish only buffers the message: there is nothing later to wait for (confirms are the broker's business)
    return traceCall(span, () => original.call(this, exchange, routingKey, content, { ...callerOptions, headers }));
  };
}

// ---------------------------------------------------------------------------
// Consumer

function startConsumerSpan(channel: unknown, queue: string, message: AmqpMessage): Span | null {
  const tracer = resolveTracer(hookSettings.tracer);
  const headers = message.properties?.headers;
  const parent = headers === undefined || headers === null ? null : safeExtract(tracer, FORMAT_TEXT_MAP, headers);
  const span = safeStartSpan(tracer, `amqp:consume ${queue}`, childOptions(parent));
  if (span !== null) safeSetTags(span, messagingTags(channel, tags.KIND_CONSUMER, queue));
  return span;
}

function consumeTraced(channel: unknown, queue: string, callback: AnyFunction, self: unknown, message: unknown) {
  const span = startConsumerSpan(channel, queue, message as AmqpMessage);
  if (span === null) return callback.call(self, message);
  // a promise: the message is handled when it settles; amqplib ignores the result, so a rejection
  // the consumer leaves unhandled still reaches `unhandledRejection` (lifecycle.ts)
  return traceCall(span, () => runWithSpan(span, () => callback.call(self, message)));
}

/** The consumer callback with a span per message: one wrapper per consume() call, not per message. */
function traceConsumer(channel: unknown, queue: string, consumer: AnyFunction): AnyFunction {
  return function tracedConsumer(this: unknown, message: unknown) {
    // null: the broker cancelled the consumer
    if (!active || message === null || typeof message !== 'object') return consumer.call(this, message);
    return consumeTraced(channel, queue, consumer, this, message);
  };
}

function makeConsume(original: AnyFunction): AnyFunction {
  return function consume(this: unknown, queue: unknown, callback: unknown, options: unknown, done: unknown) {
    if (!active || typeof callback !== 'function') return original.call(this, queue, callback, options, done);
    const consumer = traceConsumer(this, String(queue), callback as AnyFunction);
    return original.call(this, queue, consumer, options, done);
  };
}

// ---------------------------------------------------------------------------

interface ChannelModelModule {
  Channel?: { prototype: Record<string, AnyFunction> };
}

function patchModel(model: ChannelModelModule | undefined): boolean {
  const proto = model?.Channel?.prototype;
  if (typeof proto?.['publish'] !== 'function' || typeof proto['consume'] !== 'function') return false;
  wrapMethod(proto, 'publish', (original) => makePublish(original as AnyFunction));
  wrapMethod(proto, 'consume', (original) => makeConsume(original as AnyFunction));
  return true;
}

/**
 * Instruments one loaded copy of amqplib, given the exports of its main
 * module (`amqplib`) or of `amqplib/callback_api`: both channel models of
 * that copy are patched. For copies that the loader cannot find by name (an
 * npm alias such as `amqplib010`). `uninstallPatches()` undoes it. Returns
 * how many channel models were patched. Internal: not exported from the
 * package index.
 *
 * @example
 * ```ts
 * installPatches(['amqplib']);
 * instrumentAmqplib(createRequire(import.meta.url)('amqplib010'));
 * ```
 */
export function instrumentAmqplib(exports: unknown): number {
  active = true;
  let patched = 0;
  for (const file of ['./lib/channel_model', './lib/callback_model']) {
    try {
      if (patchModel(requireBeside(exports, file) as ChannelModelModule | undefined)) patched++;
    } catch (error) {
      debug(`amqplib: loading ${file} failed`, error);
    }
  }
  return patched;
}

/** The `amqplib` (0.10 to 2.x) hook. */
export const hook: ClientHook = {
  name: 'amqplib',
  module: 'amqplib',
  versions: ['0.10.0', '3.0.0'],
  patch(exports) {
    instrumentAmqplib(exports);
  },
  unpatch() {
    active = false;
  },
};
