import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as opentracing from 'opentracing';
import { formatBaggage, formatTraceParent, parseBaggage, parseTraceParent, parseTraceState } from './w3c';

/** A span context in W3C Trace Context terms. */
export class RecordingSpanContext extends opentracing.SpanContext {
  constructor(
    readonly traceId: string,
    readonly spanId: string,
    readonly sampled: boolean = true,
    readonly traceState: string | undefined = undefined,
    readonly baggage: Record<string, string> = {},
  ) {
    super();
  }

  override toTraceId(): string {
    return this.traceId;
  }

  override toSpanId(): string {
    return this.spanId;
  }
}

/** One log entry of a span. */
export interface RecordedLog {
  timestamp: number;
  fields: Record<string, unknown>;
}

/** What the recorder keeps of a finished span. */
export interface RecordedSpan {
  readonly operationName: string;
  readonly service: string;
  readonly traceId: string;
  readonly spanId: string;
  /** The span id of the `childOf` (or first `followsFrom`) reference; undefined for a root span. */
  readonly parentId: string | undefined;
  readonly references: readonly { type: string; traceId: string; spanId: string }[];
  readonly tags: Readonly<Record<string, unknown>>;
  readonly logs: readonly RecordedLog[];
  readonly baggage: Readonly<Record<string, string>>;
  /** Milliseconds since the epoch. */
  readonly startTime: number;
  readonly finishTime: number;
  readonly durationMs: number;
  /** How many times `finish()` was called; anything but 1 is a bug in the instrumentation. */
  readonly finishCount: number;
}

/** Where finished spans go; several tracers (one per service) may share one store. */
export class SpanStore {
  readonly #finished: RecordedSpan[] = [];
  readonly #open = new Set<RecordingSpan>();

  /** Finished spans, in the order they finished. */
  spans(): RecordedSpan[] {
    return [...this.#finished];
  }

  /** Spans started but not finished yet. */
  unfinished(): { operationName: string; traceId: string; spanId: string }[] {
    return [...this.#open].map((span) => ({
      operationName: span.operationName,
      traceId: span.context().traceId,
      spanId: span.context().spanId,
    }));
  }

  /** Finished spans of one trace. */
  trace(traceId: string): RecordedSpan[] {
    return this.#finished.filter((span) => span.traceId === traceId);
  }

  /** Trace ids in the order their first span finished. */
  traceIds(): string[] {
    return [...new Set(this.#finished.map((span) => span.traceId))];
  }

  reset(): void {
    this.#finished.length = 0;
    this.#open.clear();
  }

  /** @internal */
  opened(span: RecordingSpan): void {
    this.#open.add(span);
  }

  /** @internal */
  finished(span: RecordingSpan, record: RecordedSpan | undefined): void {
    this.#open.delete(span);
    if (record !== undefined) this.#finished.push(record);
  }
}

const idPool = Buffer.alloc(8 * 256);
let idOffset = idPool.length;

function newId(bytes: 8 | 16): string {
  if (idOffset + bytes > idPool.length) {
    randomBytes(idPool.length).copy(idPool);
    idOffset = 0;
  }
  const id = idPool.toString('hex', idOffset, idOffset + bytes);
  idOffset += bytes;
  return /^0+$/.test(id) ? newId(bytes) : id;
}

function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** A span that records itself into its tracer's store when finished. */
export class RecordingSpan extends opentracing.Span {
  operationName: string;
  readonly tags: Record<string, unknown> = {};
  readonly logs: RecordedLog[] = [];
  readonly parentId: string | undefined;
  readonly references: { type: string; traceId: string; spanId: string }[];
  readonly startTime: number;
  #finishCount = 0;
  #record: RecordedSpan | undefined = undefined;
  readonly #context: RecordingSpanContext;
  readonly #tracer: RecordingTracer;

  constructor(
    tracer: RecordingTracer,
    operationName: string,
    context: RecordingSpanContext,
    parentId: string | undefined,
    references: { type: string; traceId: string; spanId: string }[],
    startTime: number,
  ) {
    super();
    this.#tracer = tracer;
    this.operationName = operationName;
    this.#context = context;
    this.parentId = parentId;
    this.references = references;
    this.startTime = startTime;
  }

  override context(): RecordingSpanContext {
    return this.#context;
  }

  protected override _context(): RecordingSpanContext {
    return this.#context;
  }

  protected override _tracer(): opentracing.Tracer {
    return this.#tracer;
  }

  protected override _setOperationName(name: string): void {
    this.operationName = name;
  }

  protected override _setBaggageItem(key: string, value: string): void {
    this.#context.baggage[key] = value;
  }

  protected override _getBaggageItem(key: string): string | undefined {
    return this.#context.baggage[key];
  }

  protected override _addTags(keyValuePairs: { [key: string]: unknown }): void {
    Object.assign(this.tags, keyValuePairs);
  }

  protected override _log(fields: { [key: string]: unknown }, timestamp?: number): void {
    this.logs.push({ timestamp: timestamp ?? nowMs(), fields: { ...fields } });
  }

  protected override _finish(finishTime?: number): void {
    this.#finishCount++;
    if (this.#record !== undefined) {
      // a second finish is a bug in the instrumentation: count it where tests look
      (this.#record as { finishCount: number }).finishCount = this.#finishCount;
      return;
    }
    const finish = finishTime ?? nowMs();
    const context = this.#context;
    if (context.sampled) {
      this.#record = {
        operationName: this.operationName,
        service: this.#tracer.serviceName,
        traceId: context.traceId,
        spanId: context.spanId,
        parentId: this.parentId,
        references: this.references,
        tags: { ...this.tags },
        logs: [...this.logs],
        baggage: { ...context.baggage },
        startTime: this.startTime,
        finishTime: finish,
        durationMs: finish - this.startTime,
        finishCount: 1,
      };
    }
    this.#tracer.store.finished(this, this.#record);
  }
}

export interface RecordingTracerOptions {
  /** Recorded on every span, shown by the tree printer. @default 'service' */
  serviceName?: string;
  /** Share one store between several tracers (one per service). @default a new store */
  store?: SpanStore;
}

/**
 * A carrier value by lower-case name, whatever the key's case. `list`: the
 * header is a comma-separated list (tracestate, baggage), so repeated values
 * are combined; a repeated traceparent is invalid (W3C).
 */
function readCarrier(carrier: unknown, name: string, list = false): unknown {
  if (typeof carrier !== 'object' || carrier === null) return undefined;
  const map = carrier as Record<string, unknown>;
  let value = map[name];
  if (value === undefined) {
    for (const key of Object.keys(map)) {
      if (key.toLowerCase() === name) {
        value = map[key];
        break;
      }
    }
  }
  if (Array.isArray(value)) {
    if (list) return value.map((item) => (Buffer.isBuffer(item) ? item.toString('utf8') : item)).join(',');
    value = value.length === 1 ? value[0] : undefined;
  }
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return value;
}

/**
 * An OpenTracing tracer that records finished spans, propagates W3C Trace
 * Context (`traceparent`, `tracestate`, `baggage`) through `FORMAT_HTTP_HEADERS`
 * and `FORMAT_TEXT_MAP`, and prints traces as trees. The tracer of otinst's
 * tests and demo, and of your own tests.
 *
 * @example
 * ```ts
 * import { RecordingTracer } from '@otinst/recorder';
 * const tracer = new RecordingTracer({ serviceName: 'users' });
 * const span = tracer.startSpan('work');
 * span.finish();
 * console.log(tracer.store.spans()[0]?.operationName); // 'work'
 * ```
 */
export class RecordingTracer extends opentracing.Tracer {
  readonly serviceName: string;
  readonly store: SpanStore;

  constructor(options: RecordingTracerOptions = {}) {
    super();
    this.serviceName = options.serviceName ?? 'service';
    this.store = options.store ?? new SpanStore();
  }

  /** Finished spans (shortcut for `store.spans()`). */
  spans(): RecordedSpan[] {
    return this.store.spans();
  }

  reset(): void {
    this.store.reset();
  }

  protected override _startSpan(name: string, fields: opentracing.SpanOptions): RecordingSpan {
    const references: { type: string; traceId: string; spanId: string }[] = [];
    let parent: RecordingSpanContext | undefined;
    for (const reference of fields.references ?? []) {
      const context = reference.referencedContext();
      if (!(context instanceof RecordingSpanContext)) continue;
      references.push({ type: reference.type(), traceId: context.traceId, spanId: context.spanId });
      if (parent === undefined || reference.type() === opentracing.REFERENCE_CHILD_OF) parent = context;
    }
    const context =
      parent === undefined
        ? new RecordingSpanContext(newId(16), newId(8))
        : new RecordingSpanContext(parent.traceId, newId(8), parent.sampled, parent.traceState, { ...parent.baggage });
    const span = new RecordingSpan(this, name, context, parent?.spanId, references, fields.startTime ?? nowMs());
    if (fields.tags !== undefined) span.addTags(fields.tags);
    this.store.opened(span);
    return span;
  }

  protected override _inject(spanContext: opentracing.SpanContext, format: string, carrier: unknown): void {
    if (format !== opentracing.FORMAT_HTTP_HEADERS && format !== opentracing.FORMAT_TEXT_MAP) return;
    if (!(spanContext instanceof RecordingSpanContext) || typeof carrier !== 'object' || carrier === null) return;
    const map = carrier as Record<string, string>;
    map['traceparent'] = formatTraceParent(spanContext.traceId, spanContext.spanId, spanContext.sampled);
    // re-validated: a hand-built context could hold anything, CR/LF included
    const traceState = parseTraceState(spanContext.traceState);
    if (traceState !== undefined) map['tracestate'] = traceState;
    const baggage = formatBaggage(spanContext.baggage);
    if (baggage !== '') map['baggage'] = baggage;
  }

  protected override _extract(format: string, carrier: unknown): RecordingSpanContext | null {
    if (format !== opentracing.FORMAT_HTTP_HEADERS && format !== opentracing.FORMAT_TEXT_MAP) return null;
    const parent = parseTraceParent(readCarrier(carrier, 'traceparent'));
    if (parent === null) return null;
    return new RecordingSpanContext(
      parent.traceId,
      parent.spanId,
      parent.sampled,
      parseTraceState(readCarrier(carrier, 'tracestate', true)),
      parseBaggage(readCarrier(carrier, 'baggage', true)),
    );
  }
}
