import { describe, expect, it } from 'vitest';
import { FORMAT_HTTP_HEADERS, FORMAT_TEXT_MAP } from 'opentracing';
import { RecordingTracer } from '@otinst/recorder';
import type { RecordingSpanContext } from '@otinst/recorder';
import { otelTracer } from '../../../test/support/tracers';

/**
 * The recorder speaks the same W3C Trace Context as OpenTelemetry (through
 * its OpenTracing shim): a trace crosses from one to the other and back.
 */
describe('interop with the OpenTelemetry OpenTracing shim', () => {
  for (const format of [FORMAT_HTTP_HEADERS, FORMAT_TEXT_MAP]) {
    it(`recorder → otel (${format}): same trace id, parent = the recorder span`, () => {
      const recorder = new RecordingTracer({ serviceName: 'front' });
      const otel = otelTracer();
      const upstream = recorder.startSpan('front');
      const carrier: Record<string, string> = {};
      recorder.inject(upstream, format, carrier);

      const extracted = otel.tracer.extract(format, carrier);
      expect(extracted).not.toBeNull();
      otel.tracer.startSpan('back', { childOf: extracted! }).finish();
      upstream.finish();

      const [back] = otel.spans();
      const [front] = recorder.spans();
      expect(back!.traceId).toBe(front!.traceId);
      expect(back!.parentId).toBe(front!.spanId);
    });

    it(`otel → recorder (${format}): same trace id, parent = the otel span`, () => {
      const recorder = new RecordingTracer({ serviceName: 'back' });
      const otel = otelTracer();
      const upstream = otel.tracer.startSpan('front');
      const carrier: Record<string, string> = {};
      otel.tracer.inject(upstream.context(), format, carrier);

      const extracted = recorder.extract(format, carrier) as RecordingSpanContext;
      expect(extracted).not.toBeNull();
      recorder.startSpan('back', { childOf: extracted }).finish();
      upstream.finish();

      const [front] = otel.spans();
      const [back] = recorder.spans();
      expect(back!.traceId).toBe(front!.traceId);
      expect(back!.parentId).toBe(front!.spanId);
      expect(extracted.sampled).toBe(true);
    });
  }

  it('a round trip recorder → otel → recorder keeps one trace and the tracestate', () => {
    const recorder = new RecordingTracer({ serviceName: 'edge' });
    const otel = otelTracer();
    const incoming = recorder.extract(FORMAT_HTTP_HEADERS, {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
    })!;
    const edge = recorder.startSpan('edge', { childOf: incoming });
    const toOtel: Record<string, string> = {};
    recorder.inject(edge, FORMAT_HTTP_HEADERS, toOtel);
    const middle = otel.tracer.startSpan('middle', { childOf: otel.tracer.extract(FORMAT_HTTP_HEADERS, toOtel)! });
    const toRecorder: Record<string, string> = {};
    otel.tracer.inject(middle.context(), FORMAT_HTTP_HEADERS, toRecorder);
    expect(toRecorder['tracestate']).toBe('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
    const last = recorder.startSpan('last', { childOf: recorder.extract(FORMAT_HTTP_HEADERS, toRecorder)! });
    last.finish();
    middle.finish();
    edge.finish();

    const [lastSpan, edgeSpan] = recorder.spans();
    const [middleSpan] = otel.spans();
    expect(edgeSpan!.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(middleSpan!.traceId).toBe(edgeSpan!.traceId);
    expect(lastSpan!.traceId).toBe(edgeSpan!.traceId);
    expect(middleSpan!.parentId).toBe(edgeSpan!.spanId);
    expect(lastSpan!.parentId).toBe(middleSpan!.spanId);
    expect((last.context() as RecordingSpanContext).traceState).toBe('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
  });

  it('an unsampled trace stays unsampled across both', () => {
    const recorder = new RecordingTracer();
    const otel = otelTracer();
    const carrier: Record<string, string> = {};
    const unsampled = recorder.extract(FORMAT_HTTP_HEADERS, {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00',
    })!;
    recorder.inject(recorder.startSpan('a', { childOf: unsampled }), FORMAT_HTTP_HEADERS, carrier);
    const middle = otel.tracer.startSpan('b', { childOf: otel.tracer.extract(FORMAT_HTTP_HEADERS, carrier)! });
    const back: Record<string, string> = {};
    otel.tracer.inject(middle.context(), FORMAT_HTTP_HEADERS, back);
    expect(back['traceparent']).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-00$/);
    expect((recorder.extract(FORMAT_HTTP_HEADERS, back) as RecordingSpanContext).sampled).toBe(false);
  });
});
