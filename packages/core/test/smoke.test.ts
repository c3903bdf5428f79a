import { describe, expect, it } from 'vitest';
import { getCurrentSpan, runWithSpan, startChildSpan } from '@otinst/core';
import { allTracers } from '../../../test/support/tracers';

describe('smoke', () => {
  for (const t of allTracers()) {
    it(`child span under ${t.name}`, async () => {
      const parent = t.tracer.startSpan('parent');
      await runWithSpan(parent, async () => {
        await new Promise((r) => setTimeout(r, 1));
        expect(getCurrentSpan()).toBe(parent);
        startChildSpan('child').finish();
      });
      parent.finish();
      const spans = t.spans();
      const child = spans.find((s) => s.operationName === 'child')!;
      const p = spans.find((s) => s.operationName === 'parent')!;
      expect(child.parentId).toBe(p.spanId);
      expect(child.traceId).toBe(p.traceId);
    });
  }
});
