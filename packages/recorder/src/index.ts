/**
 * @otinst/recorder: an OpenTracing tracer that records finished spans,
 * propagates W3C Trace Context and prints traces as trees.
 */
export {
  RecordingSpan,
  RecordingSpanContext,
  RecordingTracer,
  SpanStore,
  type RecordedLog,
  type RecordedSpan,
  type RecordingTracerOptions,
} from './tracer';
export { formatTrace, type FormatTraceOptions } from './tree';
export {
  formatBaggage,
  formatTraceParent,
  parseBaggage,
  parseTraceParent,
  parseTraceState,
  type TraceParent,
} from './w3c';
