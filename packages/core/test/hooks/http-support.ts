import http from 'node:http';
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, Server } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Span, SpanContext, Tracer } from 'opentracing';

/** What the echo server saw of one request. */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
}

export interface EchoServer {
  port: number;
  /** Requests in arrival order. */
  seen: Seen[];
  close(): Promise<void>;
}

/**
 * A real HTTP server on 127.0.0.1, port 0. It answers every request with the
 * JSON of what it saw, except:
 * `/status/<code>` answers with that status; `/hang` never answers;
 * `/slow` answers after 150 ms; `/partial` sends half a body and drops the connection.
 */
export async function startEchoServer(
  listener?: (req: IncomingMessage, res: http.ServerResponse) => boolean,
): Promise<EchoServer> {
  const seen: Seen[] = [];
  const server: Server = http.createServer((req, res) => {
    const record: Seen = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
    };
    seen.push(record);
    if (listener?.(req, res) === true) return;
    const status = /^\/status\/(\d{3})/.exec(req.url ?? '');
    if (req.url === '/hang') return;
    if (req.url === '/partial') {
      res.writeHead(200, { 'content-length': '100' });
      res.write('x'.repeat(10), () => res.socket?.destroy());
      return;
    }
    const answer = () => {
      res.statusCode = status === null ? 200 : Number(status[1]);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(record));
    };
    if (req.url === '/slow') setTimeout(answer, 150);
    else req.resume().on('end', answer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 that nobody listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** How one request ended, as its caller saw it. */
export interface Outcome {
  status: number | undefined;
  body: string;
  error: (Error & { code?: string }) | undefined;
}

/**
 * Reads the response (if any) and resolves on the request's `close`: the
 * event on which the hook finishes the span (its listener was added first).
 */
export function collect(req: ClientRequest): Promise<Outcome> {
  return new Promise((resolve) => {
    const outcome: Outcome = { status: undefined, body: '', error: undefined };
    req.on('response', (res: IncomingMessage) => {
      outcome.status = res.statusCode;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (outcome.body += chunk));
      res.on('error', () => {});
    });
    req.on('error', (error) => (outcome.error = error));
    req.on('close', () => resolve(outcome));
  });
}

/** The echo server's JSON answer. */
export function echoed(outcome: Outcome): Seen {
  return JSON.parse(outcome.body) as Seen;
}

const fail = (what: string) => () => {
  throw new Error(`hostile tracer: ${what}`);
};

class HostileSpan extends Span {
  constructor(readonly owner: HostileTracer) {
    super();
  }
  protected override _context(): SpanContext {
    return new SpanContext();
  }
  protected override _tracer(): Tracer {
    return this.owner;
  }
  protected override _setOperationName = fail('setOperationName');
  protected override _addTags = fail('addTags');
  protected override _log = fail('log');
  protected override _finish = fail('finish');
}

/**
 * A tracer that throws from everything: `startSpan` itself (when
 * `failStart`), or every method of the spans it makes, and `inject`.
 */
export class HostileTracer extends Tracer {
  constructor(readonly failStart: boolean) {
    super();
  }
  /** A span of this tracer, made without calling `startSpan` (for the parent). */
  parent(): Span {
    return new HostileSpan(this);
  }
  protected override _startSpan(): Span {
    if (this.failStart) throw new Error('hostile tracer: startSpan');
    return new HostileSpan(this);
  }
  protected override _inject = fail('inject');
  protected override _extract = fail('extract');
}
