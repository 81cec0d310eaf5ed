import { describe, expect, it } from 'vitest';
import { hostAndRest, middleEllipsis, shortServer, shortServers } from './format';

describe('middleEllipsis', () => {
  it('drops the scheme and keeps a URL that fits whole', () => {
    expect(middleEllipsis('http://127.0.0.1:38001/siem/events', 28)).toBe('127.0.0.1:38001/siem/events');
    expect(middleEllipsis('https://siem.example.org/', 28)).toBe('siem.example.org/');
    expect(middleEllipsis('ws://127.0.0.1:9222', 28)).toBe('127.0.0.1:9222');
  });

  it('keeps host, port and the end of the path, so two receivers on one host stay apart', () => {
    const a = middleEllipsis('http://127.0.0.1:38001/siem/events', 24);
    const b = middleEllipsis('http://127.0.0.1:38002/soar/hook', 24);
    expect(a).toBe('127.0.0.1:38001…/events');
    expect(b).toBe('127.0.0.1:38002…/hook');
    expect(a).not.toBe(b);
    expect(middleEllipsis('https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX', 32)).toBe('hooks.slack.com…/XXXXXXXXXXXX');
    // Two webhooks that differ only at the end of a long path.
    const tines = (id: string) => middleEllipsis(`https://acme.tines.com/webhook/8f1e0a2b3c4d5e6f/${id}`, 28);
    expect(tines('aaaa1111')).not.toBe(tines('bbbb2222'));
    expect(tines('aaaa1111')).toBe('acme.tines.com…/aaaa1111');
  });

  it('keeps the query end when there is one, and never exceeds the budget', () => {
    const urls = [
      'https://siem.corp.example.com:8443/api/v1/decnet/events?tenant=blue-team',
      'https://a-very-long-receiver-hostname.internal.corp.example.com:8443/hook',
      'http://[2001:db8::1]:8080/siem/events',
      'https://example.org/🦊/🦊/🦊/🦊/🦊/🦊/🦊/🦊/🦊/🦊/🦊/🦊/🦊/🦊',
    ];
    for (const max of [12, 20, 28, 40]) {
      for (const url of urls) expect([...middleEllipsis(url, max)].length, `${url} in ${max}`).toBeLessThanOrEqual(max);
    }
    expect(middleEllipsis(urls[0]!, 40)).toBe('siem.corp.example.com:8443…ant=blue-team');
    expect(middleEllipsis('http://[2001:db8::1]:8080/siem/events', 28)).toBe('[2001:db8::1]:8080…/events');
  });

  it('cuts the middle of a host too long to keep whole, keeping the port', () => {
    const short = middleEllipsis('https://a-very-long-receiver-hostname.internal.corp.example.com:8443/hook', 28);
    expect(short).toBe('a-very-long-re…com:8443/hook');
    expect([...short].length).toBe(28);
  });

  it('never splits a character in two', () => {
    const short = middleEllipsis('https://example.org/🦊/🦊/🦊/🦊/🦊/🦊/🦊/🦊/🦊/🦊/🦊/🦊/🦊/🦊', 24);
    expect(short).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
  });
});

describe('shortServer, shortServers', () => {
  it('keeps the scheme of a bus URL: ws:// or wss:// says whether the bus is encrypted', () => {
    expect(shortServer('ws://127.0.0.1:9222', 28)).toBe('ws://127.0.0.1:9222');
    expect(shortServer('wss://nats.a-long-cluster-name.corp.example.com:443/', 28)).toBe('wss://nats.a-long-cl…mple.com:443/');
  });

  it('names the first server and how many more', () => {
    expect(shortServers('ws://127.0.0.1:9222', 28)).toBe('ws://127.0.0.1:9222');
    expect(shortServers('wss://nats-1.corp.example:443, wss://nats-2.corp.example:443', 28)).toBe('wss://nats-1.corp.example:443 +1');
  });
});

describe('hostAndRest', () => {
  it('splits a shortened URL after its host and port', () => {
    expect(hostAndRest('127.0.0.1:38001/siem/events')).toEqual(['127.0.0.1:38001', '/siem/events']);
    expect(hostAndRest('127.0.0.1:38001…/events')).toEqual(['127.0.0.1:38001', '…/events']);
    expect(hostAndRest('[2001:db8::1]:8080')).toEqual(['[2001:db8::1]:8080', '']);
    expect(hostAndRest('siem.example.org?x=1')).toEqual(['siem.example.org', '?x=1']);
  });
});
