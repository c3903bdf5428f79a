import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { installPatches, runWithSpan, uninstallPatches } from '@otinst/core';
import { recorderTracer } from '../../../../test/support/tracers';
import { collect, startEchoServer, type EchoServer } from './http-support';

/** A self-signed certificate for 127.0.0.1 and localhost, made now with openssl; null without openssl. */
function selfSignedCertificate(): { key: string; cert: string } | null {
  const dir = mkdtempSync(join(tmpdir(), 'otinst-https-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    const args = 'req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost'.split(' ');
    args.push('-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert);
    execFileSync('openssl', args, { stdio: 'ignore' });
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
  } catch {
    console.warn('https tests skipped: openssl is not available to make a test certificate');
    return null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const certificate = selfSignedCertificate();
const rec = recorderTracer();

describe.skipIf(certificate === null)('http hook over https', () => {
  let server: https.Server;
  let port: number;
  let plain: EchoServer;
  const seen: Record<string, string | string[] | undefined>[] = [];

  beforeAll(async () => {
    installPatches(['http']);
    server = https.createServer(certificate!, (req, res) => {
      seen.push(req.headers);
      res.statusCode = req.url === '/fail' ? 502 : 200;
      res.end('secure');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    plain = await startEchoServer();
  });
  afterAll(async () => {
    uninstallPatches();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await plain.close();
  });
  beforeEach(() => {
    rec.reset();
    seen.length = 0;
  });

  async function underParent(send: () => ReturnType<typeof https.request>) {
    const parent = rec.tracer.startSpan('parent');
    const outcome = await runWithSpan(parent, () => collect(send()));
    parent.finish();
    const spans = rec.spans();
    const parentSpan = spans.find((s) => s.operationName === 'parent')!;
    return { outcome, parent: parentSpan, children: spans.filter((s) => s !== parentSpan) };
  }

  it('https.get(url, options): one span with the https URL, child of the current span, traceparent injected', async () => {
    const { outcome, parent, children } = await underParent(() =>
      https.get(`https://127.0.0.1:${port}/secure?x=1`, { ca: certificate!.cert }),
    );
    expect(outcome.error).toBeUndefined();
    expect(outcome.body).toBe('secure');
    expect(children).toHaveLength(1);
    const [child] = children;
    expect(child!.parentId).toBe(parent.spanId);
    expect(child!.traceId).toBe(parent.traceId);
    expect(child!.operationName).toBe('GET');
    expect(child!.tags).toEqual({
      'span.kind': 'client',
      component: 'http',
      'http.method': 'GET',
      'http.url': `https://127.0.0.1:${port}/secure?x=1`,
      'peer.ipv4': '127.0.0.1',
      'peer.port': port,
      'http.status_code': 200,
    });
    expect(seen[0]!['traceparent']).toBe(`00-${child!.traceId}-${child!.spanId}-01`);
  });

  it('https.request(options) by host name, a 502 is an error', async () => {
    const { outcome, children } = await underParent(() =>
      https
        .request({ hostname: 'localhost', port, path: '/fail', method: 'POST', ca: certificate!.cert, family: 4 })
        .end('x'),
    );
    expect(outcome.status).toBe(502);
    expect(children).toHaveLength(1);
    expect(children[0]!.tags).toMatchObject({
      'http.method': 'POST',
      'http.url': `https://localhost:${port}/fail`,
      'peer.hostname': 'localhost',
      'http.status_code': 502,
      error: true,
    });
  });

  it('an untrusted certificate: error span, and the caller gets the same TLS error', async () => {
    const { outcome, children } = await underParent(() => https.get(`https://127.0.0.1:${port}/`));
    expect(outcome.error?.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(children).toHaveLength(1);
    expect(children[0]!.tags['error']).toBe(true);
    expect(children[0]!.logs[0]!['error.object']).toBe(outcome.error);
    expect(seen).toHaveLength(0);
  });

  it('https to a plain http server: error span (a TLS failure), one span', async () => {
    const { outcome, children } = await underParent(() => https.get(`https://127.0.0.1:${plain.port}/`));
    expect(outcome.error).toBeDefined();
    expect(children).toHaveLength(1);
    expect(children[0]!.tags).toMatchObject({ 'http.url': `https://127.0.0.1:${plain.port}/`, error: true });
    expect(children[0]!.logs[0]!['error.object']).toBe(outcome.error);
  });
});
