import { FORMAT_TEXT_MAP } from 'opentracing';
import type { Span } from 'opentracing';
import { startClientSpan, wouldTrace } from '../client/span';
import { runWithSpan } from '../context';
import { debug, safeExecute } from '../safe';
import * as tags from '../tags';
import { childOptions, defaultTracer, safeExtract, safeInject, safeSetTags, safeStartSpan, tracerOf } from '../tracer';
import { loadedBeside } from './load';
import type { ClientHook } from './hook';
import { traceCall } from './lifecycle';
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
 * - Consumer: every delivery passes `BaseChannel.prototype.dispatchMessage`,
 *   also to consumers registered before the hooks were installed. Each message
 *   gets a span `amqp:consume <queue>`, a child of the context extracted from
 *   its headers, active (`runWithSpan`) while the consumer runs and finished
 *   when it returns or its promise settles. `consume` only remembers the
 *   queue's name for it (a consumer registered earlier is named from the
 *   delivery: its routing key on the default exchange, else the exchange).
 *
 * A consumer span is made even with no incoming context (then it starts a new
 * trace), and whatever the async context at delivery: a delivery is an entry
 * point, like an incoming request, and that context is only the one in which
 * the connection happened to be opened, not the message's.
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
    spanTags[tags.peerHostTag(address)] = address;
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
    safeInject(tracerOf(span), span, FORMAT_TEXT_MAP, headers);
    // publish only buffers the message: there is nothing later to wait for (confirms are the broker's business)
    return traceCall(span, () => original.call(this, exchange, routingKey, content, { ...callerOptions, headers }));
  };
}

// ---------------------------------------------------------------------------
// Consumer

function startConsumerSpan(channel: unknown, queue: string, message: AmqpMessage): Span | null {
  const tracer = defaultTracer();
  const headers = message.properties?.headers;
  const parent = headers === undefined || headers === null ? null : safeExtract(tracer, FORMAT_TEXT_MAP, headers);
  const span = safeStartSpan(tracer, `amqp:consume ${queue}`, childOptions(parent, tracer));
  if (span !== null) safeSetTags(span, messagingTags(channel, tags.KIND_CONSUMER, queue));
  return span;
}

/** On a consumer callback registered while installed: the queue it consumes, which names its spans. */
const kQueue = Symbol('otinst.amqplib.queue');

type Consumer = AnyFunction & { [kQueue]?: string };

interface DeliveryFields {
  consumerTag?: unknown;
  exchange?: unknown;
  routingKey?: unknown;
}

interface DispatchingChannel {
  consumers?: { get?(tag: unknown): unknown };
}

/**
 * The queue a delivery came from: remembered at `consume` when that ran while
 * installed; else (a consumer registered before the hooks were installed)
 * read from the delivery, where the default exchange routes by queue name.
 */
function queueOf(channel: DispatchingChannel, fields: DeliveryFields | undefined): string {
  const consumer = safeExecute('reading amqplib consumers', () => channel.consumers?.get?.(fields?.consumerTag));
  const remembered = (consumer as Consumer | undefined)?.[kQueue];
  if (remembered !== undefined) return remembered;
  const exchange = fields?.exchange;
  return String(exchange === '' || exchange === undefined || exchange === null ? fields?.routingKey : exchange);
}

/**
 * `BaseChannel.prototype.dispatchMessage`: every delivery to every consumer
 * passes here, also to consumers registered before the hooks were installed
 * (issue 14). Each gets a span, active while the consumer runs and finished
 * when it returns or its promise settles.
 */
function makeDispatch(original: AnyFunction): AnyFunction {
  return function dispatchMessage(this: unknown, fields: unknown, message: unknown) {
    // null: the broker cancelled the consumer
    if (!active || message === null || typeof message !== 'object') return original.call(this, fields, message);
    const queue = queueOf(this as DispatchingChannel, fields as DeliveryFields | undefined);
    const span = startConsumerSpan(this, queue, message as AmqpMessage);
    if (span === null) return original.call(this, fields, message);
    // amqplib ignores the result, so a rejection the consumer leaves unhandled still reaches
    // `unhandledRejection` (lifecycle.ts)
    return traceCall(span, () => runWithSpan(span, () => original.call(this, fields, message)));
  };
}

function makeConsume(original: AnyFunction): AnyFunction {
  return function consume(this: unknown, queue: unknown, callback: unknown, options: unknown, done: unknown) {
    if (!active || typeof callback !== 'function') return original.call(this, queue, callback, options, done);
    // a pass-through that carries the queue's name for `dispatchMessage`, which makes the spans
    const consumer: Consumer = function consumer(this: unknown, message: unknown) {
      return (callback as AnyFunction).call(this, message);
    };
    consumer[kQueue] = String(queue);
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

/** The delivery path shared by both channel models (`lib/channel.js` `BaseChannel`). */
function patchDispatch(channel: ChannelModelModule & { BaseChannel?: ChannelModelModule['Channel'] }): boolean {
  const proto = channel.BaseChannel?.prototype;
  if (typeof proto?.['dispatchMessage'] !== 'function') return false;
  wrapMethod(proto, 'dispatchMessage', (original) => makeDispatch(original as AnyFunction));
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
      if (patchModel(loadedBeside(exports, file) as ChannelModelModule | undefined)) patched++;
    } catch (error) {
      debug(`amqplib: patching ${file} failed`, error);
    }
  }
  try {
    if (!patchDispatch(loadedBeside(exports, './lib/channel') as ChannelModelModule)) {
      debug('amqplib: no BaseChannel.prototype.dispatchMessage: deliveries are not traced');
    }
  } catch (error) {
    debug('amqplib: patching ./lib/channel failed', error);
  }
  return patched;
}

/** The `amqplib` (0.10 to 2.x) hook. */
export const hook: ClientHook = {
  // `amqplib/callback_api` alone never loads the main module
  modules: ['amqplib', 'amqplib/callback_api'],
  versions: ['0.10.0', '3.0.0'],
  patch(exports) {
    instrumentAmqplib(exports);
  },
  unpatch() {
    active = false;
  },
};
