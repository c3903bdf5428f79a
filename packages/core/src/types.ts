import type { Span, Tracer } from 'opentracing';

/** The client hooks that `installPatches` knows. */
export type HookName =
  'http' | 'fetch' | 'pg' | 'mysql2' | 'redis' | 'ioredis' | 'amqplib' | 'aws-sdk' | 'bullmq' | 'knex';

/** A framework-free view of an incoming request. */
export interface RequestWrapper {
  /** Upper-case HTTP method. */
  readonly method: string;
  /** The URL as the client asked for it: scheme, host (default port omitted), path and query. */
  readonly fullUrl: string;
  /** Incoming headers, lower-case names (Node's `IncomingMessage.headers`). */
  readonly headers: Record<string, string | string[] | undefined>;
  readonly remoteIp?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly serverPort?: number | undefined;
  /** The calling service, from the first configured caller-name header present. */
  readonly callerName?: string | undefined;
  /** The span's name before a route is known: the method. */
  readonly operation: string;
  /** The path without the query string (used by `ignore` rules). */
  readonly path: string;
}

/** What `operationName` receives to name a server span. */
export interface OperationNameInfo<Req = unknown> {
  /** Upper-case HTTP method. */
  method: string;
  /** The matched route template (`/users/:id`, hapi `/users/{id}`), with mount prefixes; undefined when nothing matched. */
  route: string | undefined;
  /** The request path, without query string. Beware: unbounded cardinality. */
  path: string;
  /** The framework's native request. */
  request: Req;
}

/**
 * Options shared by every adapter. All optional; validated once, when the
 * middleware or plugin is created.
 */
export interface TracingOptions<Req = unknown, Res = unknown> {
  /**
   * The tracer; when absent, the `configure({ tracer })` tracer, else
   * `opentracing.globalTracer()` (looked up per request).
   * @default the `configure({ tracer })` tracer, else globalTracer(), looked up per request
   */
  tracer?: Tracer | undefined;
  /**
   * Client hooks to install when the adapter is created: `true` for every hook
   * (each patches its library when the application loads it), `false` for
   * none, a list of hook names, or `{ exclude: [...] }` for every hook but
   * those. Excluded hooks stay off for the whole process: adapters created
   * later do not install them (only an explicit `installPatches` does).
   * @default true
   */
  clientHooks?: boolean | readonly HookName[] | { readonly exclude: readonly HookName[] } | undefined;
  /**
   * Requests that get no span, and whose downstream calls are not traced
   * either: paths (a string matches the path exactly, or as a prefix when it
   * ends in `/*`), regular expressions tested against the path, or a function
   * of the native request (answering synchronously: a promise is logged once
   * and the request is traced).
   * @default none
   */
  ignore?: readonly (string | RegExp)[] | ((request: Req) => boolean) | undefined;
  /**
   * Names the server span; must return a string synchronously (a promise is
   * logged once and the default name stands).
   * @default `${method} ${route}`, or the method alone when no route matched
   */
  operationName?: ((info: OperationNameInfo<Req>) => string) | undefined;
  /** Called right after the server span starts. A throwing hook, or an async one that rejects, is logged, never fatal. @default none */
  onStart?: ((span: Span, request: Req) => void) | undefined;
  /** Called right before the server span finishes. A throwing hook, or an async one that rejects, is logged, never fatal. @default none */
  onFinish?: ((span: Span, request: Req, response: Res) => void) | undefined;
  /** Request headers to record as `http.request.header.<name>` tags (case-insensitive allow-list). @default [] */
  captureRequestHeaders?: readonly string[] | undefined;
  /** Response headers to record as `http.response.header.<name>` tags (case-insensitive allow-list). @default [] */
  captureResponseHeaders?: readonly string[] | undefined;
  /**
   * Credential headers (`authorization`, `proxy-authorization`, `cookie`,
   * `set-cookie`) are recorded as `[REDACTED]` even when listed in a capture
   * option; list them here to record their values.
   * @default []
   */
  allowSensitiveHeaders?: readonly string[] | undefined;
}
