import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MockTracer } from 'opentracing';
import type { Span, SpanContext } from 'opentracing';
import {
  beforeHttpRequest,
  beforeRequest,
  ClientInterceptors,
  configure,
  NodeRequestWrapper,
  resetConfig,
  runSuppressed,
  runWithSpan,
  setDebugLogger,
  splitHostAndPort,
} from '@otinst/core';
import { resolveOptions, startServerSpan } from '@otinst/core/adapter';
import type { ClientInterceptor, HttpClientRequest, RequestWrapper } from '@otinst/core';
import type { RecordingSpanContext } from '@otinst/recorder';
import { RecordingTracer } from '@otinst/recorder';
import { allTracers } from '../../../test/support/tracers';

const tracer = new RecordingTracer({ serviceName: 'client' });
const messages: string[] = [];

afterEach(() => {
  tracer.reset();
  resetConfig();
  ClientInterceptors.clear();
  configure({ tracer: null });
  messages.length = 0;
  setDebugLogger(undefined);
});

/** An HttpClientRequest over a plain header record, the way a hook adapts its library's request. */
function outgoing(url: string, method = 'GET', headers: Record<string, string> = {}) {
  const parsed = new URL(url);
  const { host, port } = splitHostAndPort(parsed.host, parsed.protocol);
  const set: [string, string][] = [];
  const request: HttpClientRequest & { headers: Record<string, string>; set: [string, string][] } = {
    method,
    fullUrl: url,
    host,
    port,
    headers,
    set,
    getHeader: (name) => headers[name],
    setHeader: (name, value) => {
      set.push([name, value]);
      headers[name] = value;
    },
  };
  return request;
}

const wrapper: RequestWrapper = { method: 'GET', fullUrl: 'http://s/', headers: {}, operation: 'GET', path: '/' };

function withParent<T>(fn: (parent: Span) => T): T {
  const parent = tracer.startSpan('parent');
  try {
    return runWithSpan(parent, () => fn(parent));
  } finally {
    parent.finish();
  }
}

function recorded(span: Span | null) {
  expect(span).not.toBeNull();
  span!.finish();
  return tracer.spans().find((s) => s.spanId === (span!.context() as RecordingSpanContext).spanId)!;
}

describe('beforeHttpRequest', () => {
  it('starts a tagged child of the current span and injects its context', () => {
    const request = outgoing('http://user:pw@users.internal:8080/users/7?full=1');
    const [span, parent] = withParent((p) => [beforeHttpRequest(request), p] as const);
    const child = recorded(span);
    expect(child.operationName).toBe('GET');
    expect(child.parentId).toBe((parent.context() as RecordingSpanContext).spanId);
    expect(child.traceId).toBe((parent.context() as RecordingSpanContext).traceId);
    expect(child.tags).toEqual({
      'span.kind': 'client',
      component: 'http',
      'http.method': 'GET',
      'http.url': 'http://users.internal:8080/users/7?full=1',
      'peer.hostname': 'users.internal',
      'peer.port': 8080,
    });
    expect(request.set).toEqual([['traceparent', `00-${child.traceId}-${child.spanId}-01`]]);
  });

  it('tags peer.ipv4 / peer.ipv6 by the host, default ports by scheme, and the component given', () => {
    const v4 = withParent(() => beforeHttpRequest(outgoing('https://10.0.0.5/x', 'PUT'), 'fetch'));
    const v6 = withParent(() => beforeHttpRequest(outgoing('http://[::1]:9000/y')));
    expect(recorded(v4).tags).toMatchObject({
      component: 'fetch',
      'http.method': 'PUT',
      'peer.ipv4': '10.0.0.5',
      'peer.port': 443,
    });
    const six = recorded(v6).tags;
    expect(six).toMatchObject({ 'peer.ipv6': '::1', 'peer.port': 9000 });
    expect(six).not.toHaveProperty('peer.hostname');
  });

  it('no current span: nothing is traced by default; requireParent=false starts a root with the configured tracer', () => {
    const request = outgoing('http://a.example/');
    expect(beforeHttpRequest(request)).toBeNull();
    expect(request.set).toEqual([]);
    configure({ tracer });
    const root = recorded(beforeHttpRequest(request, 'http', false));
    expect(root.parentId).toBeUndefined();
    expect(request.set.map(([name]) => name)).toEqual(['traceparent']);
  });

  it('inside runSuppressed (an ignored request) nothing is traced, even with requireParent=false', () => {
    configure({ tracer });
    const request = outgoing('http://a.example/');
    const span = withParent(() => runSuppressed(() => beforeHttpRequest(request, 'http', false)));
    expect(span).toBeNull();
    expect(request.set).toEqual([]);
  });

  it('a parent already finished by otinst (a timer that outlived its request) gets no new child', () => {
    const options = resolveOptions('@otinst/express', 'express', { tracer, clientHooks: false });
    const handle = startServerSpan(options, wrapper, {})!;
    handle.finish(200, {});
    const request = outgoing('http://a.example/');
    expect(runWithSpan(handle.span, () => beforeHttpRequest(request))).toBeNull();
    expect(request.set).toEqual([]);
  });

  describe('callee headers from configure()', () => {
    it('peer.service from the first configured callee-name header present (case-insensitive)', () => {
      configure({ calleeNameHeaders: ['X-Target-Service', 'x-upstream'] });
      const both = outgoing('http://a.example/', 'GET', { 'x-upstream': 'second', 'x-target-service': 'users' });
      const second = outgoing('http://a.example/', 'GET', { 'x-target-service': '', 'x-upstream': 'second' });
      const none = outgoing('http://a.example/');
      expect(recorded(withParent(() => beforeHttpRequest(both))).tags['peer.service']).toBe('users');
      expect(recorded(withParent(() => beforeHttpRequest(second))).tags['peer.service']).toBe('second');
      expect(recorded(withParent(() => beforeHttpRequest(none))).tags).not.toHaveProperty('peer.service');
    });

    it('the operation is <METHOD>:<endpoint> from the callee-endpoint headers', () => {
      configure({ calleeEndpointHeaders: ['X-Endpoint'] });
      const named = outgoing('http://a.example/', 'POST', { 'x-endpoint': 'createUser' });
      const plain = outgoing('http://a.example/', 'POST');
      expect(recorded(withParent(() => beforeHttpRequest(named))).operationName).toBe('POST:createUser');
      expect(recorded(withParent(() => beforeHttpRequest(plain))).operationName).toBe('POST');
    });
  });

  describe('ClientInterceptors', () => {
    const tagging = (key: string, order: string[]): ClientInterceptor => ({
      process(request, span) {
        order.push(key);
        span.setTag(key, request.host);
      },
    });

    it('append, insert, getInterceptors and clear; they run in order, before injection', () => {
      const order: string[] = [];
      const first = tagging('first', order);
      const second = tagging('second', order);
      const zeroth = tagging('zeroth', order);
      const baggage: ClientInterceptor = {
        process: (_request, span) => void span.setBaggageItem('tenant', 'acme'),
      };
      ClientInterceptors.append(first);
      ClientInterceptors.append(second);
      ClientInterceptors.insert(0, zeroth);
      ClientInterceptors.append(baggage);
      expect(ClientInterceptors.getInterceptors()).toEqual([zeroth, first, second, baggage]);
      const request = outgoing('http://a.example/');
      const child = recorded(withParent(() => beforeHttpRequest(request)));
      expect(order).toEqual(['zeroth', 'first', 'second']);
      expect(child.tags).toMatchObject({ zeroth: 'a.example', first: 'a.example', second: 'a.example' });
      // the baggage item set by an interceptor travels with the injected context
      expect(request.headers['baggage']).toBe('tenant=acme');
      ClientInterceptors.clear();
      expect(ClientInterceptors.getInterceptors()).toEqual([]);
    });

    it('rejects something that is not an interceptor with a TypeError', () => {
      for (const bad of [null, {}, { process: 'x' }, () => {}]) {
        expect(() => ClientInterceptors.append(bad as never)).toThrow(TypeError);
        expect(() => ClientInterceptors.insert(0, bad as never)).toThrow(/@otinst\/core: an interceptor/);
      }
      expect(ClientInterceptors.getInterceptors()).toEqual([]);
    });

    it('a throwing interceptor is harmless: the others run, the header is injected, logged once', () => {
      setDebugLogger((message) => messages.push(message));
      const order: string[] = [];
      ClientInterceptors.append({
        process() {
          throw new Error('interceptor broke');
        },
      });
      ClientInterceptors.append(tagging('after', order));
      for (let i = 0; i < 2; i++) {
        const request = outgoing('http://a.example/');
        const child = recorded(withParent(() => beforeHttpRequest(request)));
        expect(child.tags['after']).toBe('a.example');
        expect(request.headers['traceparent']).toBe(`00-${child.traceId}-${child.spanId}-01`);
      }
      expect(messages).toEqual(['client interceptor failed']);
    });
  });

  describe('header validation of what the tracer injects', () => {
    class HostileTracer extends RecordingTracer {
      protected override _inject(context: SpanContext, format: string, carrier: unknown): void {
        super._inject(context, format, carrier);
        Object.assign(carrier as Record<string, unknown>, {
          'x-crlf': 'a\r\nInjected: yes',
          'x-lf': 'a\nb',
          'x-nul': 'a\u0000b',
          'bad name': 'v',
          'x-colon:': 'v',
          'x-número': 'v',
          'x-huge': 'h'.repeat(9000),
          'x-number': 5,
          'x-tab-is-fine': 'a\tb',
          'x-ok': 'fine',
        });
      }
    }

    it('only well-formed names with safe values are set', () => {
      const hostile = new HostileTracer();
      const parent = hostile.startSpan('parent');
      const request = outgoing('http://a.example/');
      runWithSpan(parent, () => beforeHttpRequest(request))!.finish();
      expect(request.set.map(([name]) => name)).toEqual(['traceparent', 'x-tab-is-fine', 'x-ok']);
    });

    it('over a real socket the request goes out intact', async () => {
      const hostile = new HostileTracer();
      const received = await new Promise<IncomingMessage['headers']>((resolve, reject) => {
        const server = createServer((req, res) => {
          res.end();
          server.close();
          resolve(req.headers);
        });
        server.listen(0, '127.0.0.1', () => {
          const { port } = server.address() as AddressInfo;
          const req = httpRequest({ host: '127.0.0.1', port, path: '/', agent: false });
          const parent = hostile.startSpan('parent');
          const span = runWithSpan(parent, () =>
            beforeHttpRequest({
              method: 'GET',
              fullUrl: `http://127.0.0.1:${port}/`,
              host: '127.0.0.1',
              port,
              getHeader: (name) => req.getHeader(name) as string | undefined,
              setHeader: (name, value) => req.setHeader(name, value),
            }),
          );
          req.on('response', (res) => {
            res.resume();
            span!.finish();
          });
          req.on('error', reject);
          req.end();
        });
      });
      expect(received['injected']).toBeUndefined();
      expect(received['x-ok']).toBe('fine');
      expect(received['traceparent']).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    });

    it('a setHeader that throws (headers already sent) is harmless', () => {
      setDebugLogger((message) => messages.push(message));
      const request = outgoing('http://a.example/');
      request.setHeader = () => {
        throw new Error('ERR_HTTP_HEADERS_SENT');
      };
      const span = withParent(() => beforeHttpRequest(request));
      expect(recorded(span).tags['span.kind']).toBe('client');
      expect(messages).toEqual(['setting a trace header failed']);
    });

    it("MockTracer's throwing inject leaves the request untouched, the span tagged, logged once", () => {
      setDebugLogger((message) => messages.push(message));
      const mock = new MockTracer();
      const parent = mock.startSpan('parent');
      for (let i = 0; i < 2; i++) {
        const request = outgoing('http://a.example/');
        const span = runWithSpan(parent, () => beforeHttpRequest(request));
        expect(span).not.toBeNull();
        span!.finish();
        expect(request.set).toEqual([]);
      }
      const client = mock.report().spans.filter((s) => s.operationName() === 'GET');
      expect(client).toHaveLength(2);
      expect(client[0]!.tags()).toMatchObject({ 'span.kind': 'client', 'http.url': 'http://a.example/' });
      expect(messages).toEqual(['tracer.inject(http_headers) failed']);
    });
  });
});

describe('beforeHttpRequest → real HTTP → beforeRequest, with each real tracer', () => {
  for (const t of allTracers()) {
    describe(t.name, () => {
      let server: ReturnType<typeof createServer>;
      let port = 0;
      beforeAll(async () => {
        server = createServer((req, res) => {
          beforeRequest(NodeRequestWrapper.fromIncomingMessage(req), t.tracer).finish();
          res.end();
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        port = (server.address() as AddressInfo).port;
      });
      afterAll(() => server.close());

      it('the server span is a child of the client span, in the same trace', async () => {
        t.reset();
        const parent = t.tracer.startSpan('caller');
        await runWithSpan(parent, async () => {
          const req = httpRequest({ host: '127.0.0.1', port, path: '/hop?x=1', method: 'POST', agent: false });
          const span = beforeHttpRequest({
            method: 'POST',
            fullUrl: `http://127.0.0.1:${port}/hop?x=1`,
            host: '127.0.0.1',
            port,
            getHeader: (name) => req.getHeader(name) as string | undefined,
            setHeader: (name, value) => req.setHeader(name, value),
          });
          await new Promise<void>((resolve, reject) => {
            req.on('response', (res) => {
              span!.setTag('http.status_code', res.statusCode);
              res.resume();
              res.on('end', resolve);
            });
            req.on('error', reject);
            req.end();
          });
          span!.finish();
        });
        parent.finish();
        const spans = t.spans();
        const caller = spans.find((s) => s.operationName === 'caller')!;
        const client = spans.find((s) => s.tags['span.kind'] === 'client')!;
        const serverSpan = spans.find((s) => s.tags['span.kind'] === 'server')!;
        expect(client.operationName).toBe('POST');
        expect(client.parentId).toBe(caller.spanId);
        expect(serverSpan.parentId).toBe(client.spanId);
        expect(new Set([caller.traceId, client.traceId, serverSpan.traceId]).size).toBe(1);
        expect(serverSpan.tags['http.url']).toBe(`http://127.0.0.1:${port}/hop?x=1`);
        expect(client.tags['http.status_code']).toBe(200);
      });
    });
  }
});
