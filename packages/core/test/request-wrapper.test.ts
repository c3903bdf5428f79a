import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, IncomingMessage } from 'node:http';
import type { Server } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configure, NodeRequestWrapper, resetConfig, splitHostAndPort } from '@otinst/core';
import { sanitiseUrl, stripCredentials } from '@otinst/core/adapter';

/** What the server saw, read through the wrapper inside the request handler. */
interface Seen {
  method: string;
  fullUrl: string;
  path: string;
  operation: string;
  remoteIp: string | undefined;
  remotePort: number | undefined;
  serverPort: number | undefined;
}

let seen: Seen | undefined;

function record(req: IncomingMessage): void {
  const wrapper = NodeRequestWrapper.fromIncomingMessage(req);
  seen = {
    method: wrapper.method,
    fullUrl: wrapper.fullUrl,
    path: wrapper.path,
    operation: wrapper.operation,
    remoteIp: wrapper.remoteIp,
    remotePort: wrapper.remotePort,
    serverPort: wrapper.serverPort,
  };
}

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)));
}

/** Writes `head` on a raw socket and resolves with what the server's wrapper saw. */
function raw(port: number, head: string, host = '127.0.0.1'): Promise<Seen & { clientPort: number }> {
  return new Promise((resolve, reject) => {
    seen = undefined;
    let clientPort = 0;
    const socket = connect({ host, port }, () => {
      clientPort = socket.localPort!;
      socket.write(`${head}\r\n\r\n`);
    });
    socket.resume();
    socket.on('end', () =>
      seen === undefined ? reject(new Error('no request seen')) : resolve({ ...seen, clientPort }),
    );
    socket.on('error', reject);
  });
}

const server = createServer((req, res) => {
  record(req);
  res.setHeader('connection', 'close');
  res.end();
});
// listening on the dual-stack wildcard: an IPv4 client shows up as ::ffff:127.0.0.1
const dualStack = createServer((req, res) => {
  record(req);
  res.setHeader('connection', 'close');
  res.end();
});
let port = 0;
let dualPort = 0;

beforeAll(async () => {
  port = await listen(server, '127.0.0.1');
  dualPort = await listen(dualStack, '::');
});
afterAll(() => {
  server.close();
  dualStack.close();
});

describe('NodeRequestWrapper over a real HTTP server', () => {
  it('uses the Host header, keeps path and query, and reads the socket', async () => {
    const result = await raw(
      port,
      ['GET /a/b?x=1&y=%20z HTTP/1.1', 'Host: example.com:8080', 'Connection: close'].join('\r\n'),
    );
    expect(result).toEqual({
      method: 'GET',
      fullUrl: 'http://example.com:8080/a/b?x=1&y=%20z',
      path: '/a/b',
      operation: 'GET',
      remoteIp: '127.0.0.1',
      remotePort: result.clientPort,
      serverPort: port,
      clientPort: result.clientPort,
    });
  });

  // issue 11: the Host header was copied as it came, so a path or query in it made a misleading URL
  it.each([
    ['admin.internal/admin/delete?x=', 'a path and query'],
    ['evil.example#frag', 'a fragment'],
    ['a b', 'a space'],
    ['host:port', 'a non-numeric port'],
    ['[::1', 'an unclosed IPv6 literal'],
    ['[:::]', 'an invalid IPv6 literal'],
    ['0', 'a number (0.0.0.0 to a URL parser)'],
    ['svc.0', 'a name ending in a number (no URL at all to a URL parser)'],
    ['1.2.3', 'a short IPv4'],
    ['', 'nothing'],
  ])('a Host header with %s (%s) is not used: the local address stands in', async (host) => {
    const result = await raw(port, ['GET /x?y=1 HTTP/1.1', `Host: ${host}`, 'Connection: close'].join('\r\n'));
    expect(result.fullUrl).toBe(`http://127.0.0.1:${port}/x?y=1`);
  });

  it.each([
    ['svc.internal', 'http://svc.internal/p'],
    ['svc.internal.:8080', 'http://svc.internal.:8080/p'],
    ['10.0.0.7:81', 'http://10.0.0.7:81/p'],
    ['[::1]:8080', 'http://[::1]:8080/p'],
    ['my_host', 'http://my_host/p'],
  ])('a well-formed Host header %s is used', async (host, url) => {
    const result = await raw(port, ['GET /p HTTP/1.1', `Host: ${host}`, 'Connection: close'].join('\r\n'));
    expect(result.fullUrl).toBe(url);
  });

  it('OPTIONS * (asterisk form) gives the server URL, not http://host*', async () => {
    const result = await raw(port, ['OPTIONS * HTTP/1.1', 'Host: svc.internal', 'Connection: close'].join('\r\n'));
    expect(result.fullUrl).toBe('http://svc.internal');
    expect(result.path).toBe('*');
  });

  // issue 12: an upper-case scheme was not recognised: `http://127.0.0.1HTTP://user:pw@…`
  it.each(['HTTP', 'Http', 'hTTp'])('an absolute-form target with scheme %s loses its credentials', async (scheme) => {
    const result = await raw(
      port,
      [`GET ${scheme}://user:pw@svc.internal/x?y=1 HTTP/1.1`, 'Host: svc.internal', 'Connection: close'].join('\r\n'),
    );
    expect(result.fullUrl).toBe('http://svc.internal/x?y=1');
    expect(result.path).toBe('/x');
  });

  it('a Host header carrying credentials is not a host: the local address stands in', async () => {
    const result = await raw(
      port,
      ['GET / HTTP/1.1', 'Host: user:secret@example.com', 'Connection: close'].join('\r\n'),
    );
    expect(result.fullUrl).toBe(`http://127.0.0.1:${port}/`);
  });

  it('without a Host header (HTTP/1.0) uses the local address and port', async () => {
    const result = await raw(port, 'POST /submit?id=3 HTTP/1.0');
    expect(result.fullUrl).toBe(`http://127.0.0.1:${port}/submit?id=3`);
    expect(result.method).toBe('POST');
  });

  it('an absolute-form target (as sent to a proxy) is used as sent, credentials stripped, query kept', async () => {
    const result = await raw(
      port,
      [
        'GET http://user:pa%40ss@upstream.example:8080/p/q?token=1 HTTP/1.1',
        'Host: ignored.example',
        'Connection: close',
      ].join('\r\n'),
    );
    expect(result.fullUrl).toBe('http://upstream.example:8080/p/q?token=1');
    // ignore rules see the path, not the absolute URL
    expect(result.path).toBe('/p/q');
  });

  it('an absolute-form target without a path has the path "/"', async () => {
    const result = await raw(
      port,
      ['GET http://upstream.example?x=1 HTTP/1.1', 'Host: h', 'Connection: close'].join('\r\n'),
    );
    expect(result.fullUrl).toBe('http://upstream.example?x=1');
    expect(result.path).toBe('/');
  });

  it('reports an IPv4 client of a dual-stack socket as plain IPv4', async () => {
    const result = await raw(dualPort, ['GET / HTTP/1.1', 'Host: h', 'Connection: close'].join('\r\n'));
    expect(result.remoteIp).toBe('127.0.0.1');
  });

  it('an IPv6 local address is bracketed when there is no Host header', async () => {
    const result = await raw(dualPort, 'GET /v6 HTTP/1.0', '::1');
    expect(result.remoteIp).toBe('::1');
    expect(result.fullUrl).toBe(`http://[::1]:${dualPort}/v6`);
  });

  it('prefers express-style originalUrl (mounted routers rewrite req.url)', async () => {
    const mounted = createServer((req, res) => {
      (req as IncomingMessage & { originalUrl?: string }).originalUrl = req.url;
      req.url = '/inner';
      record(req);
      res.setHeader('connection', 'close');
      res.end();
    });
    const mountedPort = await listen(mounted, '127.0.0.1');
    try {
      const result = await raw(mountedPort, ['GET /api/inner?q HTTP/1.1', 'Host: h', 'Connection: close'].join('\r\n'));
      expect(result.fullUrl).toBe('http://h/api/inner?q');
      expect(result.path).toBe('/api/inner');
    } finally {
      mounted.close();
    }
  });
});

describe('NodeRequestWrapper over https (a TLSSocket is encrypted)', () => {
  let dir = '';
  let tls: Server;
  let tlsPort = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'otinst-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    tls = createHttpsServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      (req, res) => {
        record(req);
        res.end();
      },
    );
    tlsPort = await listen(tls, '127.0.0.1');
  });
  afterAll(() => {
    tls.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reconstructs an https URL', async () => {
    seen = undefined;
    await new Promise<void>((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port: tlsPort, path: '/secure?x=1', rejectUnauthorized: false, agent: false },
        (res) => {
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(seen!.fullUrl).toBe(`https://127.0.0.1:${tlsPort}/secure?x=1`);
  });
});

/** An IncomingMessage over a socket-shaped object: for the default ports, which need no privileged listen. */
function messageOn(
  socket: Partial<Socket> & { encrypted?: boolean },
  url: string,
  headers: Record<string, string> = {},
) {
  const message = new IncomingMessage(socket as Socket);
  message.url = url;
  message.method = 'GET';
  message.headers = headers;
  return NodeRequestWrapper.fromIncomingMessage(message);
}

describe('NodeRequestWrapper default ports', () => {
  it('omits port 80 for http and 443 for https, keeps any other', () => {
    expect(messageOn({ localAddress: '10.0.0.1', localPort: 80 }, '/x').fullUrl).toBe('http://10.0.0.1/x');
    expect(messageOn({ localAddress: '10.0.0.1', localPort: 443, encrypted: true }, '/x').fullUrl).toBe(
      'https://10.0.0.1/x',
    );
    expect(messageOn({ localAddress: '10.0.0.1', localPort: 443 }, '/x').fullUrl).toBe('http://10.0.0.1:443/x');
    expect(messageOn({ localAddress: '10.0.0.1', localPort: 80, encrypted: true }, '/x').fullUrl).toBe(
      'https://10.0.0.1:80/x',
    );
    expect(messageOn({ localAddress: '::1', localPort: 80 }, '/x').fullUrl).toBe('http://[::1]/x');
  });

  it('an https request with a Host header uses it as sent', () => {
    expect(messageOn({ encrypted: true, localPort: 8443 }, '/y?z', { host: 'shop.example' }).fullUrl).toBe(
      'https://shop.example/y?z',
    );
  });

  it('a message without a socket still gives a URL', () => {
    const message = new IncomingMessage(undefined as unknown as Socket);
    message.url = '/no-socket';
    const wrapper = NodeRequestWrapper.fromIncomingMessage(message);
    expect(wrapper.fullUrl).toBe('http://localhost/no-socket');
    expect(wrapper.remoteIp).toBeUndefined();
    expect(wrapper.method).toBe('GET');
  });
});

describe('stripCredentials', () => {
  it.each([
    ['http://user:pass@example.com/x?y=1', 'http://example.com/x?y=1'],
    ['https://user@example.com:8443/', 'https://example.com:8443/'],
    ['http://user:pass@example.com', 'http://example.com'],
    ['http://a@b@example.com/p', 'http://example.com/p'],
    ['http://user:pass@example.com?q=a@b', 'http://example.com?q=a@b'],
    ['http://user:pass@example.com#frag@x', 'http://example.com#frag@x'],
    ['http://example.com/path@not-credentials', 'http://example.com/path@not-credentials'],
    ['http://example.com/?email=a@b.c', 'http://example.com/?email=a@b.c'],
    ['/relative@path', '/relative@path'],
    ['', ''],
    ['postgres://root:pw@127.0.0.1:5432/test', 'postgres://127.0.0.1:5432/test'],
    ['HTTP://user:pw@example.com/x', 'http://example.com/x'],
    ['HttpS://user@example.com', 'https://example.com'],
    ['HTTP://example.com/X', 'http://example.com/X'],
  ])('%s → %s', (input, output) => {
    expect(stripCredentials(input)).toBe(output);
  });
});

describe('sanitiseUrl', () => {
  it.each([
    ['/plain/path', '/plain/path'],
    ['/p?a=1&b=2', '/p?a=1&b=2'],
    ['/login?user=ann&password=hunter2', '/login?user=ann&password=REDACTED'],
    [
      '/p?PassWord=x&Access_Token=y&CLIENT_SECRET=z',
      '/p?PassWord=REDACTED&Access_Token=REDACTED&CLIENT_SECRET=REDACTED',
    ],
    [
      'https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F1&X-Amz-Security-Token=tok&X-Amz-Signature=abc&X-Amz-Expires=60',
      'https://b.s3.amazonaws.com/k?X-Amz-Credential=REDACTED&X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Expires=60',
    ],
    [
      '/p?AWSAccessKeyId=a&Signature=b&sig=c&X-Goog-Signature=d',
      '/p?AWSAccessKeyId=REDACTED&Signature=REDACTED&sig=REDACTED&X-Goog-Signature=REDACTED',
    ],
    ['/p?pass%77ord=encoded-name', '/p?pass%77ord=REDACTED'],
    ['/p?token=', '/p?token='],
    ['/p?token', '/p?token'],
    ['/p?a=1&token=t&token=u', '/p?a=1&token=REDACTED&token=REDACTED'],
    ['/cb#access_token=abc&state=1', '/cb#access_token=REDACTED&state=1'],
    ['/cb?x=1#id_token=abc', '/cb?x=1#id_token=REDACTED'],
    ['HTTP://u:p@h/x?api_key=k', 'http://h/x?api_key=REDACTED'],
    ['/p?bad=%E0%A4%A&pwd=1', '/p?bad=%E0%A4%A&pwd=REDACTED'],
  ])('%s → %s', (input, output) => {
    expect(sanitiseUrl(input)).toBe(output);
  });

  it('configure({ sensitiveQueryParameters }) adds names; dropQueryString drops query and fragment', () => {
    try {
      configure({ sensitiveQueryParameters: ['X-Session'] });
      expect(sanitiseUrl('/p?x-session=s&password=p&q=1')).toBe('/p?x-session=REDACTED&password=REDACTED&q=1');
      configure({ dropQueryString: true });
      expect(sanitiseUrl('http://h/p?q=1#f')).toBe('http://h/p');
      expect(sanitiseUrl('http://h/p#f')).toBe('http://h/p');
      expect(sanitiseUrl('http://u:p@h/p')).toBe('http://h/p');
    } finally {
      resetConfig();
    }
    expect(sanitiseUrl('/p?x-session=s')).toBe('/p?x-session=s');
  });
});

describe('splitHostAndPort', () => {
  it.each([
    ['example.com:8080', 'http', 'example.com', 8080],
    ['example.com:8443', 'https', 'example.com', 8443],
    ['example.com', 'http', 'example.com', 80],
    ['example.com', 'https', 'example.com', 443],
    ['example.com', 'https:', 'example.com', 443],
    ['example.com', 'HTTPS', 'example.com', 443],
    ['example.com', 'ftp', 'example.com', 80],
    ['127.0.0.1:5432', 'http', '127.0.0.1', 5432],
    ['[::1]:8080', 'http', '::1', 8080],
    ['[::1]', 'https', '::1', 443],
    ['::1', 'http', '::1', 80],
    ['[2001:db8::7]:443', 'http', '2001:db8::7', 443],
  ] as const)('%s (%s) → %s port %i', (input, scheme, host, portNumber) => {
    expect(splitHostAndPort(input, scheme)).toEqual({ host, port: portNumber });
  });
});
