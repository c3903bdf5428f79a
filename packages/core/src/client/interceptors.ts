import type { Span } from 'opentracing';
import type { HttpClientRequest } from './http';

/** Adds tags or logs to every outgoing HTTP client span. */
export interface ClientInterceptor {
  process(request: HttpClientRequest, span: Span): void;
}

const interceptors: ClientInterceptor[] = [];

function check(interceptor: unknown): ClientInterceptor {
  if (typeof (interceptor as ClientInterceptor | null)?.process !== 'function') {
    throw new TypeError('@otinst/core: an interceptor must have a process(request, span) method');
  }
  return interceptor as ClientInterceptor;
}

/**
 * The interceptors run on every HTTP client span, in order.
 *
 * @example
 * ```ts
 * import { ClientInterceptors } from '@otinst/core';
 * ClientInterceptors.append({ process: (request, span) => span.setTag('http.host', request.host) });
 * ```
 */
export const ClientInterceptors = {
  append(interceptor: ClientInterceptor): void {
    interceptors.push(check(interceptor));
  },
  insert(index: number, interceptor: ClientInterceptor): void {
    interceptors.splice(index, 0, check(interceptor));
  },
  getInterceptors(): readonly ClientInterceptor[] {
    return interceptors;
  },
  clear(): void {
    interceptors.length = 0;
  },
};
