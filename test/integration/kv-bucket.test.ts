/**
 * The key-value bucket on the JetStream API (src-main/team/kv-bucket.ts) against a real
 * nats-server: ADR-8's stream layout, compare-and-set, deletes, reading every key,
 * watching from another connection, age limits, and a server without JetStream.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KvBucket, KvConflictError, type KvEntry } from '../../src-main/team/kv-bucket';
import { startNatsServer, type NatsServer } from '../harness/nats-server';

const servers: NatsServer[] = [];
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (entry: KvEntry | null | undefined): string | null => (entry ? decoder.decode(entry.value) : null);

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.cleanup()));
});

async function server(options: { jetstream?: boolean } = {}): Promise<NatsServer> {
  const started = await startNatsServer(options);
  servers.push(started);
  return started;
}

describe('a KV bucket', () => {
  it('is the stream ADR-8 describes, made once however often it is ensured', async () => {
    const nats = await server();
    const nc = await nats.client();
    const [a, b] = await Promise.all([KvBucket.ensure(nc, 'cfg'), KvBucket.ensure(await nats.client(), 'cfg')]);
    expect(a.stream).toBe('KV_cfg');
    expect(b.stream).toBe('KV_cfg');
    const info = await (await jetstreamManager(nc)).streams.info('KV_cfg');
    expect(info.config).toMatchObject({
      subjects: ['$KV.cfg.>'],
      max_msgs_per_subject: 1,
      max_age: 0,
      discard: 'new',
      allow_rollup_hdrs: true,
      deny_delete: true,
      allow_direct: true,
    });
    expect(await KvBucket.bind(nc, 'missing')).toBeNull();
    await expect(KvBucket.ensure(nc, 'bad name')).rejects.toThrow('"bad name" is not a valid bucket name');
  });

  it('puts, gets and deletes, with the revision as compare-and-set', async () => {
    const nats = await server();
    const kv = await KvBucket.ensure(await nats.client(), 'cfg');
    expect(await kv.get('a.b')).toBeNull();
    const r1 = await kv.put('a.b', encoder.encode('one'), 0);
    await expect(kv.put('a.b', encoder.encode('again'), 0)).rejects.toBeInstanceOf(KvConflictError);
    const r2 = await kv.put('a.b', encoder.encode('two'), r1);
    await expect(kv.put('a.b', encoder.encode('stale'), r1)).rejects.toThrow(`a.b changed since revision ${r1}`);
    expect(text(await kv.get('a.b'))).toBe('two');
    expect((await kv.get('a.b'))?.revision).toBe(r2);
    const r3 = await kv.delete('a.b', r2);
    const deleted = await kv.get('a.b');
    expect(deleted).toMatchObject({ key: 'a.b', revision: r3, operation: 'DEL' });
    expect(deleted?.value.length).toBe(0);
    await expect(kv.put('.a', encoder.encode('x'))).rejects.toThrow('".a" is not a valid key');
    await expect(kv.put('a.*', encoder.encode('x'))).rejects.toThrow('is not a valid key');
  });

  it('reads the latest write of every key, leaving no consumer behind', async () => {
    const nats = await server();
    const nc = await nats.client();
    const kv = await KvBucket.ensure(nc, 'cfg');
    expect(await kv.entries()).toEqual([]);
    await kv.put('x', encoder.encode('1'));
    await kv.put('y', encoder.encode('1'));
    await kv.put('x', encoder.encode('2'));
    await kv.delete('y');
    await kv.put('z', encoder.encode('1'));
    const entries = await kv.entries();
    expect(entries.map((e) => [e.key, e.operation, text(e)])).toEqual([
      ['x', 'PUT', '2'],
      ['y', 'DEL', ''],
      ['z', 'PUT', '1'],
    ]);
    const jsm = await jetstreamManager(nc);
    await vi.waitFor(async () => expect((await jsm.streams.info('KV_cfg')).state.consumer_count).toBe(0));
  });

  it('watches: the current values, then what another connection writes', async () => {
    const nats = await server();
    const kv = await KvBucket.ensure(await nats.client(), 'cfg');
    const other = await KvBucket.ensure(await nats.client(), 'cfg');
    await kv.put('before', encoder.encode('1'));
    const seen: { key: string; value: string | null; initial: boolean; revision: number }[] = [];
    const watch = kv.watch((entry, initial) => seen.push({ key: entry.key, value: text(entry), initial, revision: entry.revision }));
    await watch.ready;
    expect(seen).toEqual([{ key: 'before', value: '1', initial: true, revision: 1 }]);
    const revision = await other.put('after', encoder.encode('2'));
    await vi.waitFor(() => expect(seen).toContainEqual({ key: 'after', value: '2', initial: false, revision }));
    await watch.stop();
    expect(await watch.ended).toBeNull();
  });

  it('is ready at once when empty, and ends with an error when its connection closes', async () => {
    const nats = await server();
    const nc = await nats.client();
    const kv = await KvBucket.ensure(nc, 'cfg');
    const watch = kv.watch(() => undefined);
    await watch.ready;
    await nc.close();
    expect(await watch.ended).toBeInstanceOf(Error);
  });

  it('forgets values older than its age limit', async () => {
    const nats = await server();
    const kv = await KvBucket.ensure(await nats.client(), 'beats', { maxAgeMs: 1_000 });
    await kv.put('m1', encoder.encode('alive'));
    expect(text(await kv.get('m1'))).toBe('alive');
    await vi.waitFor(async () => expect(await kv.get('m1')).toBeNull(), { timeout: 5_000, interval: 200 });
  });

  it('says that JetStream is off', async () => {
    const nats = await server({ jetstream: false });
    await expect(KvBucket.ensure(await nats.client(), 'cfg')).rejects.toThrow(
      /^JetStream is not available on this NATS server \(.*\); a team keeps its configuration in JetStream: enable it/,
    );
  });
});
