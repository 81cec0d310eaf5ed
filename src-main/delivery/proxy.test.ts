import { describe, expect, it } from 'vitest';
import { bypassesProxy, parseNoProxy, parseNoProxyEntry, parseProxyUrl } from './proxy';

describe('parseProxyUrl', () => {
  it.each([
    ['', null],
    ['  ', null],
    ['http://proxy.corp.example:3128', { host: 'proxy.corp.example', port: 3128, text: 'proxy.corp.example:3128' }],
    [' http://10.0.0.5:8080/ ', { host: '10.0.0.5', port: 8080, text: '10.0.0.5:8080' }],
    ['http://[fd00::5]:3128', { host: 'fd00::5', port: 3128, text: '[fd00::5]:3128' }],
    ['http://proxy.corp.example', { host: 'proxy.corp.example', port: 80, text: 'proxy.corp.example:80' }],
  ])('reads %j', (text, proxy) => {
    expect(parseProxyUrl(text)).toEqual({ ok: true, proxy });
  });

  it.each([
    ['proxy.corp.example:3128', '"proxy.corp.example:3128" is not a URL: use http://host:port'],
    ['http//proxy:3128', '"http//proxy:3128" is not a URL: use http://host:port'],
    ['https://proxy:3128', /^https:\/\/ proxies are not supported/],
    ['socks5://proxy:1080', /^socks5:\/\/ proxies are not supported/],
    ['http://user:secret@proxy:3128', /credentials \(user:password@\) is not supported/],
    ['http://proxy:3128/path', /without a path/],
    ['http://proxy:3128/?x=1', /without a path/],
    ['http://proxy:0', 'port 0 is not a valid proxy port'],
  ])('refuses %j', (text, reason) => {
    const parsed = parseProxyUrl(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(reason);
  });
});

describe('noProxy', () => {
  it.each([
    ['*', { kind: 'all' }],
    ['Example.COM', { kind: 'domain', name: 'example.com', subdomainsOnly: false }],
    ['.example.com', { kind: 'domain', name: 'example.com', subdomainsOnly: true }],
    ['*.example.com', { kind: 'domain', name: 'example.com', subdomainsOnly: true }],
    ['siem', { kind: 'domain', name: 'siem', subdomainsOnly: false }],
  ])('reads %j', (text, entry) => {
    expect(parseNoProxyEntry(text)).toEqual({ ok: true, entry });
  });

  it('reads addresses and ranges with the allowlist parser', () => {
    expect(parseNoProxyEntry('10.0.0.0/8')).toMatchObject({ ok: true, entry: { kind: 'cidr', cidr: { family: 4, prefix: 8 } } });
    expect(parseNoProxyEntry('10.1.2.3')).toMatchObject({ ok: true, entry: { kind: 'cidr', cidr: { family: 4, prefix: 32 } } });
    expect(parseNoProxyEntry('[fd00::1]')).toMatchObject({ ok: true, entry: { kind: 'cidr', cidr: { family: 6, prefix: 128 } } });
  });

  it.each([
    ['example.com:443', /without a port/],
    ['10.0.0.1/8', /host bits are set/],
    ['bad host', /is not a host name/],
    ['-x.example', /is not a host name/],
    ['', /empty/],
  ])('refuses %j', (text, reason) => {
    const parsed = parseNoProxyEntry(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(reason);
  });

  it('matches names, subdomains, literal addresses and resolved addresses', () => {
    const entries = parseNoProxy(['example.com', '.corp.example', '10.0.0.0/8', 'fd00::/8', 'not valid!']);
    expect(entries).toHaveLength(4);
    expect(bypassesProxy('example.com', [], entries)).toBe(true);
    expect(bypassesProxy('hooks.example.com', [], entries)).toBe(true);
    expect(bypassesProxy('EXAMPLE.com.', [], entries)).toBe(true);
    expect(bypassesProxy('badexample.com', [], entries)).toBe(false);
    expect(bypassesProxy('corp.example', [], entries)).toBe(false);
    expect(bypassesProxy('siem.corp.example', [], entries)).toBe(true);
    expect(bypassesProxy('10.1.2.3', ['10.1.2.3'], entries)).toBe(true);
    expect(bypassesProxy('[fd00::7]', ['fd00::7'], entries)).toBe(true);
    expect(bypassesProxy('siem.lan', ['10.20.0.4'], entries)).toBe(true);
    expect(bypassesProxy('hooks.vendor.example', ['93.184.215.14'], entries)).toBe(false);
    expect(bypassesProxy('anything', [], parseNoProxy(['*']))).toBe(true);
    expect(bypassesProxy('anything', [], [])).toBe(false);
  });
});
