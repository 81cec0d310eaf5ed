import { describe, expect, it } from 'vitest';
import {
  checkDestination,
  classifyAddress,
  createGuardedResolver,
  judgeAddress,
  parseCidr,
  parseCidrs,
  parseDestination,
  type DestinationPolicy,
} from './ssrf';

function reasonFor(ip: string): string {
  const verdict = classifyAddress(ip);
  if (verdict.allowed) throw new Error(`expected ${ip} to be refused`);
  return verdict.reason;
}

function hostOf(url: string): string {
  const parsed = parseDestination(url);
  if (!parsed.ok) throw new Error(`expected ${url} to parse: ${parsed.reason}`);
  return parsed.host;
}

const fixed =
  (...answers: string[][]) =>
  async (): Promise<string[]> =>
    answers.shift() ?? [];

describe('classifyAddress: IPv4', () => {
  it.each([
    ['10.0.0.1', 'private address 10.0.0.1'],
    ['172.16.0.1', 'private address 172.16.0.1'],
    ['172.31.255.255', 'private address 172.31.255.255'],
    ['192.168.1.10', 'private address 192.168.1.10'],
    ['100.64.0.1', 'private (carrier-grade NAT) address 100.64.0.1'],
    ['100.127.255.254', 'private (carrier-grade NAT) address 100.127.255.254'],
    ['127.0.0.1', 'loopback address 127.0.0.1'],
    ['127.255.0.9', 'loopback address 127.255.0.9'],
    ['169.254.1.1', 'link-local address 169.254.1.1'],
    ['169.254.169.254', 'cloud metadata address 169.254.169.254'],
    ['0.0.0.0', 'unspecified address 0.0.0.0'],
    ['0.1.2.3', 'unspecified address 0.1.2.3'],
    ['192.0.0.8', 'reserved address 192.0.0.8'],
    ['192.0.2.55', 'documentation address 192.0.2.55'],
    ['198.18.0.1', 'benchmarking address 198.18.0.1'],
    ['198.19.255.255', 'benchmarking address 198.19.255.255'],
    ['198.51.100.7', 'documentation address 198.51.100.7'],
    ['203.0.113.9', 'documentation address 203.0.113.9'],
    ['224.0.0.251', 'multicast address 224.0.0.251'],
    ['239.255.255.250', 'multicast address 239.255.255.250'],
    ['240.0.0.1', 'reserved address 240.0.0.1'],
    ['255.255.255.255', 'broadcast address 255.255.255.255'],
  ])('refuses %s', (ip, reason) => {
    expect(reasonFor(ip)).toBe(reason);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.15.255.255', '172.32.0.0', '100.63.255.255', '100.128.0.0', '198.20.0.0', '223.255.255.255', '192.0.1.1', '169.253.0.1'])(
    'allows public %s',
    (ip) => {
      expect(classifyAddress(ip)).toEqual({ allowed: true });
    },
  );
});

describe('classifyAddress: IPv6', () => {
  it.each([
    ['::', 'unspecified address ::'],
    ['::1', 'loopback address ::1'],
    ['0:0:0:0:0:0:0:1', 'loopback address 0:0:0:0:0:0:0:1'],
    ['[::1]', 'loopback address ::1'],
    ['fc00::1', 'private (unique local) address fc00::1'],
    ['fd12:3456::1', 'private (unique local) address fd12:3456::1'],
    ['fd00:ec2::254', 'cloud metadata address fd00:ec2::254'],
    ['fe80::1', 'link-local address fe80::1'],
    ['fe80::1%eth0', 'link-local address fe80::1'],
    ['febf::1', 'link-local address febf::1'],
    ['fec0::1', 'site-local address fec0::1'],
    ['ff02::1', 'multicast address ff02::1'],
    ['FF05::1:3', 'multicast address FF05::1:3'],
    ['100::1', 'discard-only address 100::1'],
    ['2001:db8::1', 'documentation address 2001:db8::1'],
    ['3fff::1', 'documentation address 3fff::1'],
    ['64:ff9b:1::1', 'reserved (local NAT64) address 64:ff9b:1::1'],
    ['2001:2::1', 'reserved (IETF protocol assignment) address 2001:2::1'],
    ['4000::1', 'reserved address 4000::1'],
  ])('refuses %s', (ip, reason) => {
    expect(reasonFor(ip)).toBe(reason);
  });

  it.each(['2606:4700:4700::1111', '2001:4860:4860::8888', '2a00:1450:4001::1'])('allows public %s', (ip) => {
    expect(classifyAddress(ip)).toEqual({ allowed: true });
  });
});

describe('classifyAddress: IPv6 carrying an IPv4 address is judged by the IPv4', () => {
  it.each([
    ['::ffff:127.0.0.1', 'loopback address 127.0.0.1 (embedded in ::ffff:127.0.0.1)'],
    ['::ffff:7f00:1', 'loopback address 127.0.0.1 (embedded in ::ffff:7f00:1)'],
    ['::FFFF:7F00:0001', 'loopback address 127.0.0.1 (embedded in ::FFFF:7F00:0001)'],
    ['0:0:0:0:0:ffff:127.0.0.1', 'loopback address 127.0.0.1 (embedded in 0:0:0:0:0:ffff:127.0.0.1)'],
    ['0000:0000:0000:0000:0000:ffff:a9fe:a9fe', 'cloud metadata address 169.254.169.254 (embedded in 0000:0000:0000:0000:0000:ffff:a9fe:a9fe)'],
    ['::ffff:10.1.2.3', 'private address 10.1.2.3 (embedded in ::ffff:10.1.2.3)'],
    ['::ffff:0:127.0.0.1', 'loopback address 127.0.0.1 (embedded in ::ffff:0:127.0.0.1)'],
    ['::127.0.0.1', 'loopback address 127.0.0.1 (embedded in ::127.0.0.1)'],
    ['::7f00:1', 'loopback address 127.0.0.1 (embedded in ::7f00:1)'],
    ['::192.168.0.1', 'private address 192.168.0.1 (embedded in ::192.168.0.1)'],
    ['64:ff9b::127.0.0.1', 'loopback address 127.0.0.1 (embedded in 64:ff9b::127.0.0.1)'],
    ['64:ff9b::a9fe:a9fe', 'cloud metadata address 169.254.169.254 (embedded in 64:ff9b::a9fe:a9fe)'],
    ['2002:7f00:1::', 'loopback address 127.0.0.1 (embedded in 2002:7f00:1::)'],
    ['2002:c0a8:101::1', 'private address 192.168.1.1 (embedded in 2002:c0a8:101::1)'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'loopback address 127.0.0.1 (embedded in 2001:0:4136:e378:8000:63bf:80ff:fffe)'],
  ])('refuses %s', (ip, reason) => {
    expect(reasonFor(ip)).toBe(reason);
  });

  it.each(['::ffff:8.8.8.8', '::ffff:808:808', '64:ff9b::8.8.8.8', '2002:808:808::1'])('allows %s (public IPv4 inside)', (ip) => {
    expect(classifyAddress(ip)).toEqual({ allowed: true });
  });
});

describe('classifyAddress: input that is not an address', () => {
  it.each(['', 'localhost', '127.1', '1.2.3.4.5', '::g'])('refuses %j', (input) => {
    expect(reasonFor(input)).toMatch(/^not an IP address/);
  });

  it('marks which refusals the private-targets setting may lift', () => {
    expect(classifyAddress('10.0.0.1')).toMatchObject({ allowed: false, privateNetwork: true });
    expect(classifyAddress('::1')).toMatchObject({ allowed: false, privateNetwork: true });
    expect(classifyAddress('169.254.169.254')).toMatchObject({ allowed: false, privateNetwork: false });
    expect(classifyAddress('0.0.0.0')).toMatchObject({ allowed: false, privateNetwork: false });
    expect(classifyAddress('ff02::1')).toMatchObject({ allowed: false, privateNetwork: false });
  });
});

describe('parseDestination', () => {
  it('accepts http and https and fills in the port', () => {
    expect(parseDestination('https://siem.example.com/hook')).toMatchObject({
      ok: true,
      host: 'siem.example.com',
      port: 443,
      isIpLiteral: false,
    });
    expect(parseDestination('http://siem.example.com:8080/x')).toMatchObject({ ok: true, port: 8080 });
    expect(parseDestination('http://siem.example.com/x')).toMatchObject({ ok: true, port: 80 });
  });

  it('reports IP literals, with IPv6 brackets removed', () => {
    expect(parseDestination('http://[::1]:9000/')).toMatchObject({ ok: true, host: '::1', port: 9000, isIpLiteral: true });
    expect(parseDestination('http://10.0.0.1/')).toMatchObject({ ok: true, host: '10.0.0.1', isIpLiteral: true });
  });

  it.each([
    ['http://2130706433/', '127.0.0.1'],
    ['http://0x7f000001/', '127.0.0.1'],
    ['http://0x7f.1/', '127.0.0.1'],
    ['http://0177.0.0.1/', '127.0.0.1'],
    ['http://127.1/', '127.0.0.1'],
    ['http://127.0.1/', '127.0.0.1'],
    ['http://0/', '0.0.0.0'],
    ['http://[::ffff:127.0.0.1]/', '::ffff:7f00:1'],
    ['http://[0:0:0:0:0:ffff:a9fe:a9fe]/', '::ffff:a9fe:a9fe'],
  ])('normalises the obfuscated address in %s to %s', (url, host) => {
    expect(hostOf(url)).toBe(host);
    expect(classifyAddress(host).allowed).toBe(false);
  });

  it.each([
    ['ftp://example.com/', /unsupported scheme "ftp"/],
    ['file:///etc/passwd', /unsupported scheme "file"/],
    ['gopher://example.com/', /unsupported scheme "gopher"/],
    ['javascript:alert(1)', /unsupported scheme "javascript"/],
    ['not a url', /not a valid URL/],
    ['', /not a valid URL/],
    ['http://', /not a valid URL/],
    ['http://user:pw@example.com/', /must not contain credentials/],
    ['https://token@example.com/', /must not contain credentials/],
    ['http://example.com:0/', /port 0/],
  ])('refuses %j', (url, reason) => {
    const parsed = parseDestination(url);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(reason);
  });
});

describe('createGuardedResolver', () => {
  it('answers public addresses', async () => {
    const resolver = createGuardedResolver({ allowPrivate: () => false, lookup: fixed(['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c']) });
    await expect(resolver.resolve('siem.example.com')).resolves.toEqual({
      ok: true,
      addresses: ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
    });
  });

  it('refuses a host when any of its addresses is forbidden', async () => {
    const resolver = createGuardedResolver({ allowPrivate: () => false, lookup: fixed(['93.184.215.14', '10.0.0.5']) });
    await expect(resolver.resolve('mixed.example.com')).resolves.toEqual({
      ok: false,
      code: 'forbidden_destination',
      reason: 'mixed.example.com resolves to private address 10.0.0.5',
    });
  });

  it('judges IP literals without a lookup', async () => {
    let calls = 0;
    const resolver = createGuardedResolver({
      allowPrivate: () => false,
      lookup: async () => {
        calls += 1;
        return ['8.8.8.8'];
      },
    });
    await expect(resolver.resolve('127.0.0.1')).resolves.toMatchObject({ ok: false, reason: 'loopback address 127.0.0.1' });
    await expect(resolver.resolve('[::1]')).resolves.toMatchObject({ ok: false, reason: 'loopback address ::1' });
    await expect(resolver.resolve('8.8.4.4')).resolves.toEqual({ ok: true, addresses: ['8.8.4.4'] });
    expect(calls).toBe(0);
  });

  it('lifts private-network refusals when private targets are allowed, but never metadata', async () => {
    let allowPrivate = false;
    const resolver = createGuardedResolver({ allowPrivate: () => allowPrivate, lookup: fixed(['127.0.0.1']) });
    await expect(resolver.resolve('local.test')).resolves.toMatchObject({ ok: false, code: 'forbidden_destination' });
    allowPrivate = true;
    await expect(resolver.resolve('local.test')).resolves.toEqual({ ok: true, addresses: ['127.0.0.1'] });
    await expect(resolver.resolve('10.1.2.3')).resolves.toMatchObject({ ok: true });
    await expect(resolver.resolve('169.254.169.254')).resolves.toMatchObject({ ok: false, code: 'forbidden_destination' });
  });

  it('reuses a cached answer within the TTL, so a rebinding answer is never seen', async () => {
    let calls = 0;
    const answers = [['93.184.215.14'], ['127.0.0.1']];
    const resolver = createGuardedResolver({
      allowPrivate: () => false,
      lookup: async () => {
        calls += 1;
        return answers.shift() ?? [];
      },
    });
    const first = await resolver.resolve('rebind.example.com');
    const second = await resolver.resolve('REBIND.example.com');
    expect(first).toEqual({ ok: true, addresses: ['93.184.215.14'] });
    expect(second).toEqual(first);
    expect(calls).toBe(1);
  });

  it('looks up again after the TTL and judges the new answer', async () => {
    const resolver = createGuardedResolver({ allowPrivate: () => false, ttlMs: 0, lookup: fixed(['93.184.215.14'], ['127.0.0.1']) });
    await expect(resolver.resolve('rebind.example.com')).resolves.toMatchObject({ ok: true });
    await expect(resolver.resolve('rebind.example.com')).resolves.toEqual({
      ok: false,
      code: 'forbidden_destination',
      reason: 'rebind.example.com resolves to loopback address 127.0.0.1',
    });
  });

  it('shares one lookup between concurrent callers', async () => {
    let calls = 0;
    const resolver = createGuardedResolver({
      allowPrivate: () => false,
      lookup: async () => {
        calls += 1;
        return ['8.8.8.8'];
      },
    });
    const results = await Promise.all([resolver.resolve('a.example.com'), resolver.resolve('a.example.com')]);
    expect(results).toEqual([
      { ok: true, addresses: ['8.8.8.8'] },
      { ok: true, addresses: ['8.8.8.8'] },
    ]);
    expect(calls).toBe(1);
  });

  it('reports lookup failures and empty answers as unresolvable, and does not cache them', async () => {
    let calls = 0;
    const resolver = createGuardedResolver({
      allowPrivate: () => false,
      lookup: async () => {
        calls += 1;
        if (calls === 1) throw Object.assign(new Error('getaddrinfo ENOTFOUND nope.invalid'), { code: 'ENOTFOUND' });
        return [];
      },
    });
    await expect(resolver.resolve('nope.invalid')).resolves.toEqual({
      ok: false,
      code: 'unresolvable',
      reason: 'cannot resolve nope.invalid: ENOTFOUND',
    });
    await expect(resolver.resolve('nope.invalid')).resolves.toEqual({
      ok: false,
      code: 'unresolvable',
      reason: 'cannot resolve nope.invalid: no addresses',
    });
    expect(calls).toBe(2);
  });

  it('uses the system resolver by default', async () => {
    const resolver = createGuardedResolver({ allowPrivate: () => false });
    await expect(resolver.resolve('localhost')).resolves.toMatchObject({ ok: false, code: 'forbidden_destination' });
  });
});

describe('checkDestination', () => {
  const publicResolver = createGuardedResolver({ allowPrivate: () => false, lookup: fixed(['93.184.215.14']) });

  it('passes a public destination with its addresses', async () => {
    await expect(checkDestination('https://siem.example.com/hook', publicResolver)).resolves.toEqual({
      ok: true,
      addresses: ['93.184.215.14'],
    });
  });

  it('classifies each failure', async () => {
    const resolver = createGuardedResolver({ allowPrivate: () => false, lookup: fixed() });
    await expect(checkDestination('ftp://x.example.com/', resolver)).resolves.toMatchObject({ ok: false, code: 'invalid_url' });
    await expect(checkDestination('http://0x7f.1/', resolver)).resolves.toEqual({
      ok: false,
      code: 'forbidden_destination',
      reason: 'loopback address 127.0.0.1',
    });
    await expect(checkDestination('http://[::ffff:169.254.169.254]/', resolver)).resolves.toMatchObject({
      ok: false,
      code: 'forbidden_destination',
      reason: 'cloud metadata address 169.254.169.254 (embedded in ::ffff:a9fe:a9fe)',
    });
    await expect(checkDestination('http://gone.example.com/', resolver)).resolves.toMatchObject({ ok: false, code: 'unresolvable' });
  });
});

describe('parseCidr: the allowlist entries (Settings.allowedCidrs)', () => {
  it.each([
    ['10.0.0.0/8', { family: 4, prefix: 8 }],
    ['192.168.10.0/24', { family: 4, prefix: 24 }],
    ['10.20.1.5', { family: 4, prefix: 32 }],
    ['0.0.0.0/0', { family: 4, prefix: 0 }],
    ['fd12:3456::/48', { family: 6, prefix: 48 }],
    ['fd12:3456::7', { family: 6, prefix: 128 }],
    ['::/0', { family: 6, prefix: 0 }],
    // An IPv4-mapped range is the IPv4 range it maps.
    ['::ffff:10.0.0.0/104', { family: 4, prefix: 8 }],
  ])('accepts %s', (text, shape) => {
    const parsed = parseCidr(text);
    expect(parsed).toMatchObject({ ok: true, cidr: { ...shape, text } });
  });

  it.each([
    ['', /"" is not a CIDR: "" is not an IPv4 or IPv6 address/],
    ['10.0.0.0/33', /"10.0.0.0\/33" is not a CIDR: an IPv4 prefix length is 0 to 32/],
    ['fd00::/129', /an IPv6 prefix length is 0 to 128/],
    ['10.0.0.0/', /prefix length after "\/" must be a number/],
    ['10.0.0.0/-1', /must be a number/],
    ['10.0.0.0/8/8', /must be a number/],
    ['10.1.2.0/8', /"10.1.2.0\/8" is not a CIDR: host bits are set \(the network is 10.0.0.0\/8\)/],
    ['fd12:3456::1/48', /host bits are set \(the network is fd12:3456::\/48\)/],
    ['10.0.0/8', /"10.0.0" is not an IPv4 or IPv6 address/],
    ['010.0.0.0/8', /is not an IPv4 or IPv6 address/],
    ['siem.example.com/32', /is not an IPv4 or IPv6 address/],
    [' 10.0.0.0/8', /contains spaces/],
    ['fe80::%eth0/64', /zone/],
  ])('refuses %j, naming it', (text, reason) => {
    const parsed = parseCidr(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(reason);
  });

  it('drops entries that do not parse when reading a stored list (fails closed)', () => {
    expect(parseCidrs(['10.0.0.0/8', 'junk', 7 as unknown as string]).map((c) => c.text)).toEqual(['10.0.0.0/8']);
  });
});

describe('judgeAddress: the allowlist', () => {
  const policy = (allowedCidrs: string[], allowPrivate = false): DestinationPolicy => ({
    allowPrivate,
    allowedCidrs: parseCidrs(allowedCidrs),
  });
  const siems = policy(['10.20.0.0/16', '192.168.50.7', 'fd12:3456::/48', '169.254.0.0/16']);

  it.each([
    '10.20.0.1',
    '10.20.255.254',
    '192.168.50.7',
    'fd12:3456::99',
    // IPv6 carrying an allowlisted IPv4 is matched by that IPv4, as it is judged by it.
    '::ffff:10.20.3.4',
    '::ffff:0a14:0304',
    '64:ff9b::10.20.3.4',
    // Link-local other than the metadata address may be listed.
    '169.254.10.10',
  ])('allows %s inside an allowed CIDR', (ip) => {
    expect(judgeAddress(ip, siems)).toEqual({ allowed: true });
  });

  it.each([
    ['10.21.0.1', 'private address 10.21.0.1'],
    ['192.168.50.8', 'private address 192.168.50.8'],
    ['fd12:3457::1', 'private (unique local) address fd12:3457::1'],
    ['::ffff:10.21.0.1', 'private address 10.21.0.1 (embedded in ::ffff:10.21.0.1)'],
  ])('still refuses %s just outside them', (ip, reason) => {
    expect(judgeAddress(ip, siems)).toMatchObject({ allowed: false, reason });
  });

  const everything = policy(['0.0.0.0/0', '127.0.0.0/8', '::/0', '169.254.169.254/32', 'fd00:ec2::254']);

  it.each([
    ['127.0.0.1', 'loopback address 127.0.0.1 (listed in allowedCidrs 0.0.0.0/0, but only allowPrivate opens loopback)'],
    ['127.3.2.1', 'loopback address 127.3.2.1 (listed in allowedCidrs 0.0.0.0/0, but only allowPrivate opens loopback)'],
    ['::1', 'loopback address ::1 (listed in allowedCidrs ::/0, but only allowPrivate opens loopback)'],
    ['::ffff:127.0.0.1', 'loopback address 127.0.0.1 (embedded in ::ffff:127.0.0.1) (listed in allowedCidrs 0.0.0.0/0, but only allowPrivate opens loopback)'],
    ['0.0.0.0', 'unspecified address 0.0.0.0 (listed in allowedCidrs 0.0.0.0/0, but never allowed)'],
    ['0.1.2.3', 'unspecified address 0.1.2.3 (listed in allowedCidrs 0.0.0.0/0, but never allowed)'],
    ['::', 'unspecified address :: (listed in allowedCidrs ::/0, but never allowed)'],
    ['169.254.169.254', 'cloud metadata address 169.254.169.254 (listed in allowedCidrs 0.0.0.0/0, but never allowed)'],
    ['::ffff:169.254.169.254', 'cloud metadata address 169.254.169.254 (embedded in ::ffff:169.254.169.254) (listed in allowedCidrs 0.0.0.0/0, but never allowed)'],
    ['fd00:ec2::254', 'cloud metadata address fd00:ec2::254 (listed in allowedCidrs ::/0, but never allowed)'],
    ['224.0.0.251', 'multicast address 224.0.0.251 (listed in allowedCidrs 0.0.0.0/0, but never allowed)'],
    ['255.255.255.255', 'broadcast address 255.255.255.255 (listed in allowedCidrs 0.0.0.0/0, but never allowed)'],
  ])('never opens %s, whatever the allowlist', (ip, reason) => {
    expect(judgeAddress(ip, everything)).toMatchObject({ allowed: false, reason });
  });

  it('opens every other private range under 0.0.0.0/0 and ::/0', () => {
    for (const ip of ['10.0.0.1', '172.16.0.1', '192.168.1.1', '100.64.0.1', '169.254.1.1', '192.0.2.2', 'fc00::1', 'fe80::1']) {
      expect(judgeAddress(ip, everything), ip).toEqual({ allowed: true });
    }
  });

  it('lifts loopback only with allowPrivate, and never metadata or unspecified', () => {
    const open = policy([], true);
    expect(judgeAddress('127.0.0.1', open)).toEqual({ allowed: true });
    expect(judgeAddress('::1', open)).toEqual({ allowed: true });
    expect(judgeAddress('10.0.0.1', open)).toEqual({ allowed: true });
    expect(judgeAddress('169.254.169.254', open)).toMatchObject({ allowed: false, label: 'cloud metadata' });
    expect(judgeAddress('0.0.0.0', open)).toMatchObject({ allowed: false, label: 'unspecified' });
    expect(judgeAddress('fd00:ec2::254', open)).toMatchObject({ allowed: false, label: 'cloud metadata' });
  });

  it('is the classification itself with no allowlist and allowPrivate off', () => {
    for (const ip of ['8.8.8.8', '10.0.0.1', '127.0.0.1', '169.254.169.254', '::ffff:10.0.0.1', '2606:4700::1']) {
      expect(judgeAddress(ip, policy([]))).toEqual(classifyAddress(ip));
    }
  });
});

describe('createGuardedResolver: the allowlist', () => {
  it('reads the allowlist at every check, so a change applies at once', async () => {
    let cidrs: string[] = [];
    const resolver = createGuardedResolver({ allowPrivate: () => false, allowedCidrs: () => cidrs, lookup: async () => ['10.20.0.5'] });
    await expect(resolver.resolve('siem.corp.test')).resolves.toMatchObject({ ok: false, reason: 'siem.corp.test resolves to private address 10.20.0.5' });
    cidrs = ['10.20.0.0/16'];
    await expect(resolver.resolve('siem.corp.test')).resolves.toEqual({ ok: true, addresses: ['10.20.0.5'] });
    await expect(resolver.resolve('10.20.9.9')).resolves.toEqual({ ok: true, addresses: ['10.20.9.9'] });
    cidrs = [];
    await expect(resolver.resolve('siem.corp.test')).resolves.toMatchObject({ ok: false, code: 'forbidden_destination' });
  });

  it('refuses a host when one of its addresses is outside the allowlist', async () => {
    const resolver = createGuardedResolver({
      allowPrivate: () => false,
      allowedCidrs: () => ['10.20.0.0/16'],
      lookup: async () => ['10.20.0.5', '127.0.0.1'],
    });
    await expect(resolver.resolve('siem.corp.test')).resolves.toEqual({
      ok: false,
      code: 'forbidden_destination',
      reason: 'siem.corp.test resolves to loopback address 127.0.0.1',
    });
  });

  it('keeps loopback, unspecified and metadata refused under 0.0.0.0/0', async () => {
    const resolver = createGuardedResolver({
      allowPrivate: () => false,
      allowedCidrs: () => ['0.0.0.0/0', '::/0', '127.0.0.0/8'],
      lookup: async (host) => (host === 'meta.test' ? ['169.254.169.254'] : ['127.0.0.1']),
    });
    for (const host of ['127.0.0.1', '::1', '[::ffff:127.0.0.1]', '0.0.0.0', '169.254.169.254', 'fd00:ec2::254', 'meta.test', 'local.test']) {
      await expect(resolver.resolve(host), host).resolves.toMatchObject({ ok: false, code: 'forbidden_destination' });
    }
    await expect(resolver.resolve('10.9.9.9')).resolves.toMatchObject({ ok: true });
  });

  it('checks save-time URLs by the same rule', async () => {
    const resolver = createGuardedResolver({ allowPrivate: () => false, allowedCidrs: () => ['172.20.0.0/16'], lookup: fixed() });
    await expect(checkDestination('https://172.20.1.1/hook', resolver)).resolves.toEqual({ ok: true, addresses: ['172.20.1.1'] });
    await expect(checkDestination('https://172.21.1.1/hook', resolver)).resolves.toMatchObject({ ok: false, code: 'forbidden_destination' });
    await expect(checkDestination('http://127.0.0.1/hook', resolver)).resolves.toMatchObject({ ok: false, code: 'forbidden_destination' });
  });

  it('changes its policy key when either setting changes', () => {
    let allowPrivate = false;
    let cidrs = ['10.0.0.0/8'];
    const resolver = createGuardedResolver({ allowPrivate: () => allowPrivate, allowedCidrs: () => cidrs, lookup: fixed() });
    const first = resolver.policyKey();
    expect(resolver.policyKey()).toBe(first);
    cidrs = ['10.0.0.0/8', '192.168.0.0/16'];
    const second = resolver.policyKey();
    expect(second).not.toBe(first);
    allowPrivate = true;
    expect(resolver.policyKey()).not.toBe(second);
  });
});
