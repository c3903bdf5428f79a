import { describe, expect, it } from 'vitest';
import * as opentracing from 'opentracing';
import { FORMAT_BINARY, FORMAT_HTTP_HEADERS, FORMAT_TEXT_MAP } from 'opentracing';
import { RecordingSpan, RecordingSpanContext, RecordingTracer, SpanStore } from '@otinst/recorder';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${SPAN}-01`;

const contextOf = (span: opentracing.Span) => span.context() as RecordingSpanContext;

describe('RecordingTracer spans', () => {
  it('records a finished span with ids, tags, logs, baggage, service and times', () => {
    const tracer = new RecordingTracer({ serviceName: 'users' });
    const span = tracer.startSpan('work', { tags: { 'span.kind': 'server' }, startTime: 1000 });
    expect(span).toBeInstanceOf(RecordingSpan);
    span.setTag('http.status_code', 200);
    span.addTags({ a: 1, b: 'two' });
    span.log({ event: 'cache-miss', key: 'k' }, 1010);
    span.setBaggageItem('tenant', 'acme');
    span.setOperationName('renamed');
    span.finish(1050);
    const [recorded] = tracer.spans();
    expect(recorded).toEqual({
      operationName: 'renamed',
      service: 'users',
      traceId: contextOf(span).traceId,
      spanId: contextOf(span).spanId,
      parentId: undefined,
      references: [],
      tags: { 'span.kind': 'server', 'http.status_code': 200, a: 1, b: 'two' },
      logs: [{ timestamp: 1010, fields: { event: 'cache-miss', key: 'k' } }],
      baggage: { tenant: 'acme' },
      startTime: 1000,
      finishTime: 1050,
      durationMs: 50,
      finishCount: 1,
    });
    expect(recorded!.traceId).toMatch(/^(?!0+$)[0-9a-f]{32}$/);
    expect(recorded!.spanId).toMatch(/^(?!0+$)[0-9a-f]{16}$/);
    expect(span.getBaggageItem('tenant')).toBe('acme');
    expect(span.tracer()).toBe(tracer);
    expect(contextOf(span).toTraceId()).toBe(recorded!.traceId);
    expect(contextOf(span).toSpanId()).toBe(recorded!.spanId);
  });

  it('ids are unique across many spans', () => {
    const tracer = new RecordingTracer();
    const ids = new Set<string>();
    const traces = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const context = contextOf(tracer.startSpan('s'));
      ids.add(context.spanId);
      traces.add(context.traceId);
    }
    expect(ids.size).toBe(2000);
    expect(traces.size).toBe(2000);
  });

  it('a child shares the trace id, gets the parent id, and inherits baggage (a copy)', () => {
    const tracer = new RecordingTracer();
    const parent = tracer.startSpan('parent');
    parent.setBaggageItem('user', 'alice');
    const child = tracer.startSpan('child', { childOf: parent });
    const grandchild = tracer.startSpan('grandchild', { childOf: child.context() });
    child.setBaggageItem('only', 'child');
    for (const span of [grandchild, child, parent]) span.finish();
    const [g, c, p] = tracer.spans();
    expect(c!.traceId).toBe(p!.traceId);
    expect(g!.traceId).toBe(p!.traceId);
    expect(c!.parentId).toBe(p!.spanId);
    expect(g!.parentId).toBe(c!.spanId);
    expect(c!.references).toEqual([{ type: 'child_of', traceId: p!.traceId, spanId: p!.spanId }]);
    expect(c!.baggage).toEqual({ user: 'alice', only: 'child' });
    expect(p!.baggage).toEqual({ user: 'alice' });
  });

  it('followsFrom is a parent when there is no childOf; childOf wins over followsFrom', () => {
    const tracer = new RecordingTracer();
    const a = tracer.startSpan('a');
    const b = tracer.startSpan('b');
    const follows = tracer.startSpan('follows', { references: [opentracing.followsFrom(a.context())] });
    const both = tracer.startSpan('both', {
      references: [opentracing.followsFrom(a.context()), opentracing.childOf(b.context())],
    });
    expect((follows as RecordingSpan).parentId).toBe(contextOf(a).spanId);
    expect((both as RecordingSpan).parentId).toBe(contextOf(b).spanId);
    expect(contextOf(both).traceId).toBe(contextOf(b).traceId);
  });

  it('a reference to another tracer’s context starts a new trace', () => {
    const tracer = new RecordingTracer();
    const foreign = new opentracing.MockTracer().startSpan('foreign');
    const span = tracer.startSpan('local', { childOf: foreign });
    span.finish();
    expect(tracer.spans()[0]!.parentId).toBeUndefined();
  });

  it('counts finishes: a second finish shows as finishCount 2 on the one record', () => {
    const tracer = new RecordingTracer();
    const span = tracer.startSpan('twice');
    span.finish();
    expect(tracer.spans()[0]!.finishCount).toBe(1);
    span.finish();
    span.finish();
    expect(tracer.spans()).toHaveLength(1);
    expect(tracer.spans()[0]!.finishCount).toBe(3);
  });

  it('unfinished() lists the spans started and not finished; reset() empties the store', () => {
    const tracer = new RecordingTracer();
    const open = tracer.startSpan('open');
    tracer.startSpan('done').finish();
    expect(tracer.store.unfinished()).toEqual([
      { operationName: 'open', traceId: contextOf(open).traceId, spanId: contextOf(open).spanId },
    ]);
    open.finish();
    expect(tracer.store.unfinished()).toEqual([]);
    expect(tracer.spans().map((span) => span.operationName)).toEqual(['done', 'open']);
    tracer.startSpan('left open');
    tracer.reset();
    expect(tracer.spans()).toEqual([]);
    expect(tracer.store.unfinished()).toEqual([]);
  });

  it('the store groups spans by trace', () => {
    const tracer = new RecordingTracer();
    const one = tracer.startSpan('one');
    tracer.startSpan('one-child', { childOf: one }).finish();
    tracer.startSpan('two').finish();
    one.finish();
    const [first, second] = tracer.store.traceIds();
    expect(tracer.store.traceIds()).toHaveLength(2);
    expect(tracer.store.trace(first!).map((span) => span.operationName)).toEqual(['one-child', 'one']);
    expect(tracer.store.trace(second!).map((span) => span.operationName)).toEqual(['two']);
  });

  it('two tracers with different service names can share one store', () => {
    const store = new SpanStore();
    const api = new RecordingTracer({ serviceName: 'api', store });
    const users = new RecordingTracer({ serviceName: 'users', store });
    const request = api.startSpan('GET /profile');
    const carrier: Record<string, string> = {};
    api.inject(request, FORMAT_HTTP_HEADERS, carrier);
    const served = users.startSpan('GET /users/:id', { childOf: users.extract(FORMAT_HTTP_HEADERS, carrier)! });
    served.finish();
    request.finish();
    expect(store.spans().map((span) => [span.service, span.operationName])).toEqual([
      ['users', 'GET /users/:id'],
      ['api', 'GET /profile'],
    ]);
    expect(users.spans()).toEqual(store.spans());
    const [usersSpan, apiSpan] = store.spans();
    expect(usersSpan!.traceId).toBe(apiSpan!.traceId);
    expect(usersSpan!.parentId).toBe(apiSpan!.spanId);
    expect(store.traceIds()).toHaveLength(1);
  });
});

describe('propagation: inject and extract', () => {
  for (const format of [FORMAT_HTTP_HEADERS, FORMAT_TEXT_MAP]) {
    describe(format, () => {
      it('round trips traceparent, tracestate and baggage', () => {
        const tracer = new RecordingTracer();
        const upstream = tracer.extract(format, {
          traceparent: VALID,
          tracestate: 'rojo=00f067aa0ba902b7, congo=t61rcWkgMzE',
          baggage: 'user=alice%20smith,tier=gold',
        }) as RecordingSpanContext;
        expect(upstream).toBeInstanceOf(RecordingSpanContext);
        expect(upstream.traceId).toBe(TRACE);
        expect(upstream.spanId).toBe(SPAN);
        expect(upstream.sampled).toBe(true);
        expect(upstream.traceState).toBe('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
        expect(upstream.baggage).toEqual({ user: 'alice smith', tier: 'gold' });

        const span = tracer.startSpan('hop', { childOf: upstream });
        const carrier: Record<string, string> = {};
        tracer.inject(span.context(), format, carrier);
        expect(carrier).toEqual({
          traceparent: `00-${TRACE}-${contextOf(span).spanId}-01`,
          tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
          baggage: 'user=alice%20smith,tier=gold',
        });
        const again = tracer.extract(format, carrier) as RecordingSpanContext;
        expect(again.traceId).toBe(TRACE);
        expect(again.spanId).toBe(contextOf(span).spanId);
        expect(again.traceState).toBe(upstream.traceState);
        expect(again.baggage).toEqual(upstream.baggage);
      });

      it('a span can be injected directly; no tracestate or baggage means no such key', () => {
        const tracer = new RecordingTracer();
        const span = tracer.startSpan('root');
        const carrier: Record<string, string> = {};
        tracer.inject(span, format, carrier);
        expect(Object.keys(carrier)).toEqual(['traceparent']);
      });

      it('carrier keys are matched case-insensitively; Buffer values are read as UTF-8', () => {
        const tracer = new RecordingTracer();
        const context = tracer.extract(format, {
          TraceParent: Buffer.from(VALID),
          TRACESTATE: 'k=v',
          Baggage: Buffer.from('user=%C3%A9'),
        }) as RecordingSpanContext;
        expect(context.traceId).toBe(TRACE);
        expect(context.traceState).toBe('k=v');
        expect(context.baggage).toEqual({ user: 'é' });
      });

      it('an invalid traceparent extracts nothing, and then tracestate and baggage are ignored too', () => {
        const tracer = new RecordingTracer();
        expect(tracer.extract(format, { traceparent: 'garbage', tracestate: 'k=v', baggage: 'a=b' })).toBeNull();
        expect(tracer.extract(format, {})).toBeNull();
        expect(tracer.extract(format, null)).toBeNull();
        expect(tracer.extract(format, 'traceparent')).toBeNull();
      });

      it('an invalid tracestate or baggage is dropped; the valid traceparent still counts', () => {
        const tracer = new RecordingTracer();
        const context = tracer.extract(format, {
          traceparent: VALID,
          tracestate: 'Invalid Key=1',
          baggage: 'bad key=1',
        }) as RecordingSpanContext;
        expect(context.traceId).toBe(TRACE);
        expect(context.traceState).toBeUndefined();
        expect(context.baggage).toEqual({});
      });

      it('a repeated traceparent (an array) is invalid; repeated tracestate / baggage values are combined', () => {
        const tracer = new RecordingTracer();
        expect(tracer.extract(format, { traceparent: [VALID, VALID] })).toBeNull();
        const context = tracer.extract(format, {
          traceparent: [VALID],
          tracestate: ['a=1', 'b=2'],
          baggage: ['x=1', 'y=2'],
        }) as RecordingSpanContext;
        expect(context.traceId).toBe(TRACE);
        expect(context.traceState).toBe('a=1,b=2');
        expect(context.baggage).toEqual({ x: '1', y: '2' });
      });
    });
  }

  it('the sampled flag travels; unsampled spans (and their children) are not recorded', () => {
    const tracer = new RecordingTracer();
    const unsampled = tracer.extract(FORMAT_HTTP_HEADERS, { traceparent: `00-${TRACE}-${SPAN}-00` })!;
    const span = tracer.startSpan('not sampled', { childOf: unsampled });
    const child = tracer.startSpan('child', { childOf: span });
    const carrier: Record<string, string> = {};
    tracer.inject(child, FORMAT_HTTP_HEADERS, carrier);
    expect(carrier['traceparent']).toBe(`00-${TRACE}-${contextOf(child).spanId}-00`);
    child.finish();
    span.finish();
    expect(tracer.spans()).toEqual([]);
    expect(tracer.store.unfinished()).toEqual([]);
  });

  it('other formats and foreign contexts are ignored, never thrown at', () => {
    const tracer = new RecordingTracer();
    const span = tracer.startSpan('x');
    const carrier: Record<string, unknown> = {};
    tracer.inject(span, FORMAT_BINARY, carrier);
    tracer.inject(new opentracing.SpanContext(), FORMAT_HTTP_HEADERS, carrier);
    tracer.inject(span, FORMAT_HTTP_HEADERS, null);
    expect(carrier).toEqual({});
    expect(tracer.extract(FORMAT_BINARY, { traceparent: VALID })).toBeNull();
  });

  describe('CR/LF at the carrier level (a real HTTP stack cannot even carry them)', () => {
    it('extract refuses values with CR/LF', () => {
      const tracer = new RecordingTracer();
      expect(tracer.extract(FORMAT_TEXT_MAP, { traceparent: `${VALID}\r\nx-injected: 1` })).toBeNull();
      const context = tracer.extract(FORMAT_TEXT_MAP, {
        traceparent: VALID,
        tracestate: 'k=v\r\nx-injected: 1',
        baggage: 'k=v\r\nx-injected: 1,ok=1',
      }) as RecordingSpanContext;
      expect(context.traceState).toBeUndefined();
      expect(context.baggage).toEqual({ ok: '1' });
    });

    it('inject never writes CR/LF, whatever the baggage or a hand-built context holds', () => {
      const tracer = new RecordingTracer();
      const span = tracer.startSpan('x');
      span.setBaggageItem('value', 'a\r\nx-injected: 1');
      span.setBaggageItem('key\r\nx-injected: 1', 'v');
      const carrier: Record<string, string> = {};
      tracer.inject(span, FORMAT_HTTP_HEADERS, carrier);
      expect(carrier['baggage']).toBe('value=a%0D%0Ax-injected%3A%201');
      const forged = new RecordingSpanContext(TRACE, SPAN, true, 'k=v\r\nx-injected: 1');
      const forgedCarrier: Record<string, string> = {};
      tracer.inject(forged, FORMAT_HTTP_HEADERS, forgedCarrier);
      expect(forgedCarrier).toEqual({ traceparent: VALID });
      for (const value of [...Object.values(carrier), ...Object.values(forgedCarrier)]) {
        expect(value).not.toMatch(/[\r\n]/);
      }
    });
  });
});
