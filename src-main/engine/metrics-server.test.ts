import { describe, expect, it } from 'vitest';
import { isLoopbackHost, parseListenAddress } from './metrics-server';

describe('metrics address (--metrics HOST:PORT)', () => {
  it.each([
    ['127.0.0.1:9464', { host: '127.0.0.1', port: 9464 }],
    ['127.1.2.3:0', { host: '127.1.2.3', port: 0 }],
    ['localhost:9464', { host: 'localhost', port: 9464 }],
    ['LOCALHOST:80', { host: 'LOCALHOST', port: 80 }],
    ['[::1]:9464', { host: '::1', port: 9464 }],
    ['[0:0:0:0:0:0:0:1]:65535', { host: '0:0:0:0:0:0:0:1', port: 65535 }],
    [' 127.0.0.1:9464 ', { host: '127.0.0.1', port: 9464 }],
  ])('%s is accepted', (raw, address) => {
    expect(parseListenAddress(raw)).toEqual({ ok: true, address });
  });

  it.each([
    ['0.0.0.0:9464', 'is not a loopback address'],
    ['192.168.1.10:9464', 'is not a loopback address'],
    ['[::]:9464', 'is not a loopback address'],
    ['[::ffff:10.0.0.1]:9464', 'is not a loopback address'],
    ['example.com:9464', 'is not a loopback address'],
    ['127.0.0.1.nip.io:9464', 'is not a loopback address'],
    ['9464', 'is not HOST:PORT, e.g. 127.0.0.1:9464'],
    ['', 'is not HOST:PORT'],
    ['::1:9464', 'write an IPv6 address in brackets, e.g. [::1]:9464'],
    ['::1', 'write an IPv6 address in brackets'],
    ['[127.0.0.1]:9464', '"127.0.0.1" in brackets is not an IPv6 address'],
    [':9464', 'has no host'],
    ['127.0.0.1:', 'has no valid port'],
    ['127.0.0.1:65536', 'has no valid port'],
    ['127.0.0.1:94a', 'is not HOST:PORT'],
    ['127.0.0.1:-1', 'is not HOST:PORT'],
  ])('%s is refused: %s', (raw, why) => {
    const parsed = parseListenAddress(raw);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem).toContain(why);
  });

  it('says why a non-loopback address is refused: there is no authentication', () => {
    const parsed = parseListenAddress('0.0.0.0:9464');
    expect(parsed).toEqual({
      ok: false,
      problem: '"0.0.0.0:9464" is not a loopback address: the metrics endpoint has no authentication, so it listens on a loopback address only: 127.0.0.0/8, ::1 or localhost',
    });
  });

  it.each([
    ['127.0.0.1', true],
    ['127.255.255.254', true],
    ['::1', true],
    ['0:0:0:0:0:0:0:1', true],
    ['localhost', true],
    ['128.0.0.1', false],
    ['0177.0.0.1', false],
    ['::', false],
    ['localhost.example', false],
    ['', false],
  ])('isLoopbackHost(%s) is %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });
});
