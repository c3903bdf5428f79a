declare module 'jaeger-client' {
  import type { Tracer } from 'opentracing';
  export class InMemoryReporter {
    spans: unknown[];
    clear(): void;
  }
  export function initTracer(config: Record<string, unknown>, options: Record<string, unknown>): Tracer;
  const jaeger: { InMemoryReporter: typeof InMemoryReporter; initTracer: typeof initTracer };
  export default jaeger;
}
