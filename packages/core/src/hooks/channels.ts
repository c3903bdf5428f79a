import { tracingChannel } from 'node:diagnostics_channel';
import type { Span } from 'opentracing';
import { bindTracingChannel } from '../context';
import { debug } from '../safe';
import { finishSpan } from './lifecycle';
import type { CallEnd } from './lifecycle';

const kSpan = Symbol('otinst.channelSpan');

/** A `TracingChannel` payload: the library's own fields, the error Node adds, and our span. */
export type ChannelContext = Record<string, unknown> & { error?: unknown; [kSpan]?: Span | undefined };

/** How `subscribeSpans` follows a library's channel. */
export interface ChannelOptions {
  /**
   * `asyncStart`: the span ends before the caller's callback runs (or its
   * promise settles), so the callback's own work is not inside it (mysql2).
   * @default 'asyncEnd'
   */
  finishOn?: 'asyncStart' | 'asyncEnd';
  /** Records an operation's error (default `recordErrorOnSpan`). */
  end?: CallEnd;
  /** Also run the library's callbacks in their caller's context (`bindTracingChannel`). */
  bindContext?: boolean;
}

function finishChannelSpan(context: ChannelContext, end: CallEnd | undefined): void {
  const span = context[kSpan];
  if (span === undefined) return;
  context[kSpan] = undefined;
  finishSpan(span, context.error, end);
}

/**
 * Subscribes to a library's `TracingChannel` and runs one span per traced
 * operation: `startSpan(context)` makes it (in the caller's async context:
 * `start` is published synchronously where the operation begins), normalising
 * the library's payload for the hook's one span builder; the error is
 * recorded and the span finished on `asyncEnd` (or `asyncStart`, see
 * `finishOn`), or on `end` when the operation threw synchronously (then no
 * async event follows). Returns the unsubscribe function.
 *
 * A subscriber that throws would surface as an uncaught exception in the
 * application, so every handler swallows its own failures.
 */
export function subscribeSpans(
  name: string,
  startSpan: (context: ChannelContext) => Span | null,
  options: ChannelOptions = {},
): () => void {
  const channel = tracingChannel<unknown, ChannelContext>(name);
  const { end, finishOn = 'asyncEnd' } = options;
  const finish = (context: ChannelContext) => finishChannelSpan(context, end);
  const handlers = {
    start(context: ChannelContext) {
      try {
        const span = startSpan(context);
        if (span !== null) context[kSpan] = span;
      } catch (error) {
        debug(`${name} start handler failed`, error);
      }
    },
    end(context: ChannelContext) {
      // async operations publish `end` before they settle, with no error yet
      if (context.error !== undefined) finish(context);
    },
    asyncStart: finishOn === 'asyncStart' ? finish : () => {},
    asyncEnd: finishOn === 'asyncEnd' ? finish : () => {},
    // the error is recorded when the span finishes (`context.error`)
    error() {},
  };
  channel.subscribe(handlers);
  const unbind = options.bindContext === true ? bindTracingChannel(channel) : undefined;
  return () => {
    channel.unsubscribe(handlers);
    unbind?.();
  };
}
