import { createRequire } from 'node:module';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { configure, installPatches, runWithSpan, uninstallPatches } from '@otinst/core';
import { RecordingTracer } from '@otinst/recorder';
import type { RecordedSpan } from '@otinst/recorder';
import type * as SmithyClientModule from '@smithy/core/client';
import type * as LibStorageModule from '@aws-sdk/lib-storage';
import { isWrapped, originalOf } from '../../src/hooks/wrap';
import { DYNAMO_CREDENTIALS, S3_CREDENTIALS, startAwsServers, type AwsServers } from '../fixtures/aws-servers';
import { jaegerTracer, otelTracer } from '../../../../test/support/tracers';
import { runFixture, type PrintedSpan } from '../fixtures/run-fixture';

// installed before the SDK is loaded: the hook must find it when it loads
installPatches(['aws-sdk']);
const s3Sdk = await import('@aws-sdk/client-s3');
const dynamoSdk = await import('@aws-sdk/client-dynamodb');
const { Upload } = await import('@aws-sdk/lib-storage');
const { S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand, ListObjectsV2Command, DeleteObjectCommand } =
  s3Sdk;
const { DynamoDBClient, CreateTableCommand, PutItemCommand, GetItemCommand } = dynamoSdk;

const require = createRequire(import.meta.url);
const smithyClient = require('@smithy/core/client') as typeof SmithyClientModule;
const libStorage = require('@aws-sdk/lib-storage') as typeof LibStorageModule;
const wrappedSend = smithyClient.Client.prototype.send;
const wrappedDone = libStorage.Upload.prototype.done;

const tracer = new RecordingTracer({ serviceName: 'aws-test' });
const bucket = `otinst-${process.pid}`;
const tableName = `otinst-${process.pid}`;
let servers: AwsServers;
let s3: InstanceType<typeof S3Client>;
let dynamo: InstanceType<typeof DynamoDBClient>;

function newS3() {
  return new S3Client({
    region: 'us-east-1',
    endpoint: servers.s3Endpoint,
    forcePathStyle: true,
    credentials: S3_CREDENTIALS,
  });
}

function newDynamo() {
  return new DynamoDBClient({ region: 'eu-west-1', endpoint: servers.dynamoEndpoint, credentials: DYNAMO_CREDENTIALS });
}

async function inRoot<T>(fn: () => Promise<T>): Promise<{ root: RecordedSpan; result: T }> {
  const span = tracer.startSpan('root');
  const result = await runWithSpan(span, fn);
  span.finish();
  return { root: tracer.spans().find((s) => s.operationName === 'root')!, result };
}

function awsSpans(): RecordedSpan[] {
  return tracer.spans().filter((span) => span.operationName.startsWith('aws:'));
}

function s3Tags(operation: string, requestId: string, status: number) {
  return {
    'span.kind': 'client',
    component: 'aws-sdk',
    'aws.service': 'S3',
    'aws.operation': operation,
    'aws.region': 'us-east-1',
    'aws.request_id': requestId,
    'http.status_code': status,
  };
}

beforeAll(async () => {
  servers = await startAwsServers();
  s3 = newS3();
  dynamo = newDynamo();
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

afterAll(async () => {
  uninstallPatches();
  s3?.destroy();
  dynamo?.destroy();
  await servers?.close();
});

beforeEach(() => {
  installPatches(['aws-sdk']);
  tracer.reset();
});

afterEach(() => {
  configure({ requireParentSpan: true });
  configure({ tracer: null });
});

describe('aws-sdk hook, S3 (s3rver)', () => {
  it('puts, gets, lists and deletes an object: one child span per command, with the request id', async () => {
    const { root } = await inRoot(async () => {
      const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'a.txt', Body: 'hello' }));
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'a.txt' }));
      expect(await got.Body!.transformToString()).toBe('hello');
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
      expect(listed.Contents!.map((object) => object.Key)).toEqual(['a.txt']);
      const deleted = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'a.txt' }));
      return [put, got, listed, deleted].map((output) => output.$metadata.requestId);
    });
    const ids = servers.s3RequestIds.slice(-4);
    const spans = awsSpans();
    expect(spans.map((span) => span.operationName)).toEqual([
      'aws:S3:PutObject',
      'aws:S3:GetObject',
      'aws:S3:ListObjectsV2',
      'aws:S3:DeleteObject',
    ]);
    expect(spans.map((span) => span.tags)).toEqual([
      s3Tags('PutObject', ids[0]!, 200),
      s3Tags('GetObject', ids[1]!, 200),
      s3Tags('ListObjectsV2', ids[2]!, 200),
      s3Tags('DeleteObject', ids[3]!, 204),
    ]);
    for (const span of spans) {
      expect(span.parentId).toBe(root.spanId);
      expect(span.traceId).toBe(root.traceId);
      expect(span.finishCount).toBe(1);
      expect(span.logs).toEqual([]);
    }
  });

  it('marks a missing bucket as an error, with status 404 and the request id of the failed call', async () => {
    const { root, result: error } = await inRoot(() =>
      s3.send(new GetObjectCommand({ Bucket: 'otinst-no-such-bucket', Key: 'k' })).catch((e: unknown) => e),
    );
    expect((error as Error).name).toBe('NoSuchBucket');
    const requestId = (error as { $metadata: { requestId: string } }).$metadata.requestId;
    expect(requestId).toBe(servers.s3RequestIds.at(-1));
    const [span] = awsSpans();
    expect(span!.operationName).toBe('aws:S3:GetObject');
    expect(span!.parentId).toBe(root.spanId);
    expect(span!.tags).toEqual({ ...s3Tags('GetObject', requestId, 404), error: true });
    expect(span!.logs.map((log) => log.fields)).toEqual([
      {
        event: 'error',
        'error.kind': 'NoSuchBucket',
        'error.object': error,
        message: (error as Error).message,
        stack: (error as Error).stack,
      },
    ]);
  });

  it('shows the part uploads of a multipart Upload as children of one aws:S3:Upload span', async () => {
    const body = Buffer.alloc(10 * 1024 * 1024, 7);
    const { root } = await inRoot(() =>
      new Upload({ client: s3, params: { Bucket: bucket, Key: 'big.bin', Body: body }, queueSize: 2 }).done(),
    );
    const upload = tracer.spans().find((span) => span.operationName === 'aws:S3:Upload')!;
    expect(upload.parentId).toBe(root.spanId);
    expect(upload.tags).toEqual({
      'span.kind': 'client',
      component: 'aws-sdk',
      'aws.service': 'S3',
      'aws.operation': 'Upload',
      'aws.region': 'us-east-1',
    });
    const parts = awsSpans().filter((span) => span !== upload);
    expect(parts.map((span) => span.operationName).sort()).toEqual([
      'aws:S3:CompleteMultipartUpload',
      'aws:S3:CreateMultipartUpload',
      'aws:S3:UploadPart',
      'aws:S3:UploadPart',
    ]);
    for (const part of parts) {
      expect(part.parentId).toBe(upload.spanId);
      expect(part.traceId).toBe(root.traceId);
      expect(part.tags['error']).toBeUndefined();
    }
    // the Upload span covers its parts
    expect(upload.finishTime).toBeGreaterThanOrEqual(Math.max(...parts.map((part) => part.finishTime)));
  });

  it('traces the callback form of send', async () => {
    const { root } = await inRoot(
      () =>
        new Promise<void>((resolve, reject) => {
          s3.send(new ListObjectsV2Command({ Bucket: bucket }), (error: unknown) =>
            error ? reject(error) : resolve(),
          );
        }),
    );
    const [span] = awsSpans();
    expect(span!.operationName).toBe('aws:S3:ListObjectsV2');
    expect(span!.parentId).toBe(root.spanId);
  });
});

describe('aws-sdk hook, DynamoDB (dynalite)', () => {
  it('creates a table, puts and gets an item, and records a conditional-check failure', async () => {
    const { root, result: failure } = await inRoot(async () => {
      await dynamo.send(
        new CreateTableCommand({
          TableName: tableName,
          KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
          AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      await dynamo.send(new PutItemCommand({ TableName: tableName, Item: { id: { S: '1' }, secret: { S: 'v-1' } } }));
      const got = await dynamo.send(new GetItemCommand({ TableName: tableName, Key: { id: { S: '1' } } }));
      expect(got.Item).toEqual({ id: { S: '1' }, secret: { S: 'v-1' } });
      return dynamo
        .send(
          new PutItemCommand({
            TableName: tableName,
            Item: { id: { S: '1' } },
            ConditionExpression: 'attribute_not_exists(id)',
          }),
        )
        .catch((e: unknown) => e);
    });
    expect((failure as Error).name).toBe('ConditionalCheckFailedException');
    const spans = awsSpans();
    expect(spans.map((span) => span.operationName)).toEqual([
      'aws:DynamoDB:CreateTable',
      'aws:DynamoDB:PutItem',
      'aws:DynamoDB:GetItem',
      'aws:DynamoDB:PutItem',
    ]);
    for (const span of spans) {
      expect(span.parentId).toBe(root.spanId);
      expect(span.tags).toMatchObject({
        'span.kind': 'client',
        component: 'aws-sdk',
        'aws.service': 'DynamoDB',
        'aws.operation': span.operationName.split(':')[2],
        'aws.region': 'eu-west-1',
      });
      // dynalite makes up a 52-character request id per request
      expect(span.tags['aws.request_id']).toMatch(/^[A-Z0-9]{52}$/);
    }
    expect(new Set(spans.map((span) => span.tags['aws.request_id'])).size).toBe(4);
    expect(spans.slice(0, 3).map((span) => span.tags['http.status_code'])).toEqual([200, 200, 200]);
    const failed = spans[3]!;
    expect(failed.tags['error']).toBe(true);
    expect(failed.tags['http.status_code']).toBe(400);
    expect(failed.tags['aws.request_id']).toBe((failure as { $metadata: { requestId: string } }).$metadata.requestId);
    expect(failed.logs[0]!.fields['error.kind']).toBe('ConditionalCheckFailedException');
    // neither credentials nor item values end up in a span
    const recorded = JSON.stringify(spans.map((span) => span.tags));
    expect(recorded).not.toContain(DYNAMO_CREDENTIALS.secretAccessKey);
    expect(recorded).not.toContain(DYNAMO_CREDENTIALS.accessKeyId);
    expect(recorded).not.toContain('v-1');
    expect(recorded).not.toContain('Signature');
  });
});

describe('aws-sdk hook, policy', () => {
  it('makes no span without a current span, and a root span when requireParentSpan is false', async () => {
    configure({ tracer });
    await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(tracer.spans()).toEqual([]);
    configure({ requireParentSpan: false });
    await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    const [span] = awsSpans();
    expect(span!.operationName).toBe('aws:S3:ListObjectsV2');
    expect(span!.parentId).toBeUndefined();
  });

  it('adds the middleware once per client, also across reinstalls, and uninstalls to the exact originals', async () => {
    const client = newS3();
    try {
      installPatches(['aws-sdk']);
      await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      uninstallPatches();
      expect(smithyClient.Client.prototype.send).toBe(originalOf(wrappedSend));
      expect(smithyClient.Client.prototype.send).not.toBe(wrappedSend);
      expect(libStorage.Upload.prototype.done).toBe(originalOf(wrappedDone));
      expect(isWrapped(libStorage.Upload.prototype.done)).toBe(false);
      // the middleware left on the client passes through: no span
      await inRoot(() => client.send(new ListObjectsV2Command({ Bucket: bucket })));
      expect(awsSpans()).toEqual([]);
      installPatches(['aws-sdk']);
      installPatches(['aws-sdk']);
      expect(smithyClient.Client.prototype.send).not.toBe(originalOf(wrappedSend));
      await inRoot(() => client.send(new ListObjectsV2Command({ Bucket: bucket })));
      expect(awsSpans().map((span) => span.operationName)).toEqual(['aws:S3:ListObjectsV2']);
      expect(client.middlewareStack.identify().filter((entry) => entry.startsWith('otinstMiddleware'))).toEqual([
        'otinstMiddleware - initialize',
      ]);
    } finally {
      client.destroy();
    }
  });

  it('patches the one Client class that both import and require() see', async () => {
    const imported = await import('@smithy/core/client');
    expect(imported.Client).toBe(smithyClient.Client);
    expect(isWrapped(imported.Client.prototype.send)).toBe(true);
    expect(Object.getPrototypeOf(S3Client)).toBe(smithyClient.Client);
  });

  it('traces an ES-module application that imports the SDK after installing the hook', async () => {
    const spans = await runFixture<PrintedSpan[]>('esm-app.mjs', ['aws-sdk']);
    const root = spans.find((span) => span.operationName === 'root')!;
    const command = spans.find((span) => span.operationName === 'aws:DynamoDB:ListTables')!;
    expect(command.parentId).toBe(root.spanId);
    expect(command.tags).toMatchObject({
      'aws.service': 'DynamoDB',
      'aws.operation': 'ListTables',
      'http.status_code': 200,
    });
  });

  it('keeps going when the tracer throws', async () => {
    const parent = tracer.startSpan('root');
    const broken = {
      startSpan() {
        throw new Error('tracer down');
      },
    };
    configure({ tracer: broken as never });
    // a parent whose tracer() fails falls back to the configured tracer, which throws on startSpan
    Object.defineProperty(parent, 'tracer', { value: () => broken });
    const listed = await runWithSpan(parent, () => s3.send(new ListObjectsV2Command({ Bucket: bucket })));
    expect(listed.$metadata.httpStatusCode).toBe(200);
    parent.finish();
    expect(awsSpans()).toEqual([]);
  });
});

describe('aws-sdk hook with the other tracers', () => {
  for (const make of [jaegerTracer, otelTracer]) {
    it(`links command spans to their parent under ${make.name}`, async () => {
      const t = make();
      const root = t.tracer.startSpan('root');
      const failure = await runWithSpan(root, async () => {
        await dynamo.send(new GetItemCommand({ TableName: tableName, Key: { id: { S: '1' } } })).catch(() => undefined);
        return s3.send(new GetObjectCommand({ Bucket: 'otinst-no-such-bucket', Key: 'k' })).catch((e: unknown) => e);
      });
      root.finish();
      const spans = t.spans();
      const parent = spans.find((span) => span.operationName === 'root')!;
      const [get, missing] = spans.filter((span) => span.operationName.startsWith('aws:'));
      expect(get!.operationName).toBe('aws:DynamoDB:GetItem');
      expect(missing!.operationName).toBe('aws:S3:GetObject');
      for (const span of [get!, missing!]) {
        expect(span.parentId).toBe(parent.spanId);
        expect(span.traceId).toBe(parent.traceId);
      }
      expect(missing!.tags).toMatchObject({
        'span.kind': 'client',
        component: 'aws-sdk',
        'aws.service': 'S3',
        'aws.operation': 'GetObject',
        'aws.region': 'us-east-1',
        'aws.request_id': (failure as { $metadata: { requestId: string } }).$metadata.requestId,
        'http.status_code': 404,
        error: true,
      });
    });
  }
});
