/**
 * Batching (docs/design.md#formats): a Splunk HEC or Elasticsearch subscription sends up to
 * `batch` events per request, each still recorded on its own; a bulk answer's per-item
 * failures are retried (or end) for those items only. Real nats-server, engine and SQLite;
 * stand-ins on 127.0.0.1 that read the bodies as the products document them:
 * - HEC takes several event objects back to back in one body
 *   (https://docs.splunk.com/Documentation/Splunk/latest/Data/FormateventsforHTTPEventCollector);
 * - the bulk API takes NDJSON action/document line pairs and answers per item, with
 *   `errors: true` when any failed (https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-bulk.html).
 */
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { concatenatedObjects } from '../harness/hec';
import { startReceiver, type ReceivedRequest, type Receiver } from '../harness/receiver';

let t: TestEngine;
let receiver: Receiver | undefined;

afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
  await t?.cleanup();
});

/** The event ids in a HEC body. */
function hecIds(body: Buffer): string[] {
  return (concatenatedObjects(body.toString()) ?? []).map((e) => (e['event'] as { id: string }).id);
}

async function publish(n: number, prefix: string): Promise<void> {
  await t.engine.busReady();
  for (let i = 0; i < n; i++) t.publisher.publish('attacker.observed', new TextEncoder().encode(JSON.stringify(envelope('first_sighting', { i, ip: '203.0.113.7' }, `${prefix}-${i}`))));
  await t.publisher.flush();
}

describe('batching', () => {
  it('sends HEC events ten to a request, records each on its own, and shows a batch member the bytes sent', async () => {
    t = await startTestEngine();
    receiver = await startReceiver((_req: ReceivedRequest, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"text":"Success","code":0}');
    });
    unwrap(await t.api['subscriptions.create']({ name: 'hec', url: receiver.url, patterns: ['attacker.>'], format: 'splunk-hec', batch: 10, batchMs: 300 }));
    await publish(25, 'h');
    const finals = await t.waitForFinal(25, () => true, 15_000);
    expect(finals.every((d) => d.outcome === 'delivered')).toBe(true);
    const sent = receiver.requests.flatMap((r) => hecIds(r.body));
    expect(sent.sort()).toEqual(Array.from({ length: 25 }, (_, i) => `h-${i}`).sort());
    expect(receiver.requests.length).toBeLessThanOrEqual(6);
    expect(Math.max(...receiver.requests.map((r) => hecIds(r.body).length))).toBe(10);
    // Every member's detail shows the exact bytes of the request it went in.
    const log = unwrap(await t.api['deliveries.list']({ limit: 100 }));
    for (const d of log) {
      const detail = unwrap(await t.api['deliveries.get'](d.id));
      const request = receiver.requests.find((r) => hecIds(r.body).includes(d.eventId as string));
      expect(detail.requestBody).toBe(request?.body.toString());
    }
  });

  it("retries only the items a bulk answer refused for now, and ends the one it refused for good", async () => {
    t = await startTestEngine();
    const attempts = new Map<string, number>();
    receiver = await startReceiver((req: ReceivedRequest, res: ServerResponse) => {
      // One event alone goes to the index API, /<index>/_doc/<id>; several to /_bulk.
      const single = /^\/([^/]+)\/_doc\/([^/?]+)$/.exec(req.path);
      if (single) {
        const id = decodeURIComponent(single[2] as string);
        attempts.set(id, (attempts.get(id) ?? 0) + 1);
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ _index: single[1], _id: id, result: 'created' }));
        return;
      }
      const lines = req.body.toString().trim().split('\n');
      const items = [];
      for (let i = 0; i < lines.length; i += 2) {
        const id = (JSON.parse(lines[i] as string) as { index: { _id: string } }).index._id;
        const n = (attempts.get(id) ?? 0) + 1;
        attempts.set(id, n);
        if (id === 'b-1' && n === 1) items.push({ index: { _id: id, status: 429, error: { type: 'es_rejected_execution_exception', reason: 'rejected execution' } } });
        else if (id === 'b-2') items.push({ index: { _id: id, status: 400, error: { type: 'mapper_parsing_exception', reason: 'failed to parse field' } } });
        else items.push({ index: { _id: id, status: 201 } });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: items.some((i) => i.index.status >= 300), items }));
    });
    unwrap(
      await t.api['subscriptions.create']({ name: 'es', url: receiver.url.replace(/\/hook$/, ''), patterns: ['attacker.>'], format: 'elasticsearch', batch: 5, batchMs: 300 }),
    );
    await publish(5, 'b');
    const finals = await t.waitForFinal(5, () => true, 15_000);
    const by = Object.fromEntries(finals.map((d) => [d.eventId, d]));
    expect(by['b-2']).toMatchObject({ outcome: 'dead', error: expect.stringMatching(/400 mapper_parsing_exception: failed to parse field/) });
    expect(by['b-1']).toMatchObject({ outcome: 'delivered', attempts: 2 });
    for (const id of ['b-0', 'b-3', 'b-4']) expect(by[id]).toMatchObject({ outcome: 'delivered', attempts: 1 });
    // The retry carried the refused item alone; the delivered ones were not sent twice.
    expect(attempts.get('b-1')).toBe(2);
    expect(attempts.get('b-0')).toBe(1);
    expect(receiver.requests[0]?.path).toMatch(/^\/_bulk\?filter_path=/);
    // Its breaker counted one failure (the dead item), not the retried one.
    const [view] = unwrap(await t.api['subscriptions.list']());
    expect(view?.consecutiveFailures).toBeLessThanOrEqual(1);
  });

  it('refuses batching for a format whose product takes one event per request', async () => {
    t = await startTestEngine();
    const r = await t.api['subscriptions.create']({ name: 'hive', url: 'http://127.0.0.1:9/', patterns: ['a.>'], format: 'thehive', batch: 10 });
    expect(r).toMatchObject({ ok: false, error: { field: 'batch', message: expect.stringMatching(/splunk-hec and elasticsearch/) } });
  });
});
