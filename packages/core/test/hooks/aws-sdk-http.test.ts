import { afterAll, describe, expect, it } from 'vitest';
import { installPatches, runWithSpan, uninstallPatches } from '@otinst/core';
import { RecordingTracer } from '@otinst/recorder';
import { S3_CREDENTIALS, startAwsServers } from '../fixtures/aws-servers';

// both hooks on before the SDK makes its first request (the SDK takes node:http's request function then)
installPatches(['aws-sdk', 'http']);
const { S3Client, CreateBucketCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');

const tracer = new RecordingTracer({ serviceName: 'aws-http-test' });
const servers = await startAwsServers();
const s3 = new S3Client({
  region: 'us-east-1',
  endpoint: servers.s3Endpoint,
  forcePathStyle: true,
  credentials: S3_CREDENTIALS,
});

afterAll(async () => {
  uninstallPatches();
  s3.destroy();
  await servers.close();
});

describe('aws-sdk hook with the http hook on', () => {
  it('makes the SDK HTTP span a child of the aws span, and propagates that span to AWS', async () => {
    const root = tracer.startSpan('root');
    await runWithSpan(root, async () => {
      await s3.send(new CreateBucketCommand({ Bucket: `otinst-http-${process.pid}` }));
      await s3.send(new PutObjectCommand({ Bucket: `otinst-http-${process.pid}`, Key: 'k', Body: 'v' }));
    });
    root.finish();
    const spans = tracer.spans();
    const rootSpan = spans.find((span) => span.operationName === 'root')!;
    const awsSpans = spans.filter((span) => span.operationName.startsWith('aws:'));
    const httpSpans = spans.filter((span) => span.tags['component'] === 'http');
    expect(awsSpans.map((span) => span.operationName)).toEqual(['aws:S3:CreateBucket', 'aws:S3:PutObject']);
    expect(httpSpans.map((span) => span.operationName)).toEqual(['PUT', 'PUT']);
    for (const [n, aws] of awsSpans.entries()) {
      expect(aws.parentId).toBe(rootSpan.spanId);
      const http = httpSpans[n]!;
      expect(http.parentId).toBe(aws.spanId);
      expect(http.traceId).toBe(rootSpan.traceId);
      expect(http.tags['http.status_code']).toBe(200);
      // the request S3 received carried the HTTP span's context (added after signing: the signature still holds)
      expect(servers.s3TraceParents.at(-2 + n)).toBe(`00-${http.traceId}-${http.spanId}-01`);
    }
    // nothing else hangs directly under the request's span
    expect(spans.filter((span) => span.parentId === rootSpan.spanId)).toEqual(awsSpans);
  });
});
