import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NatsServerMissing, findNatsServer, renderConfig } from './nats-server-process';

describe('renderConfig', () => {
  it('writes loopback client and WebSocket listeners, and nothing else unless asked', () => {
    expect(renderConfig({ port: 4222, wsPort: 8080 })).toBe(
      'listen: "127.0.0.1:4222"\nwebsocket {\n  listen: "127.0.0.1:8080"\n  no_tls: true\n}\n',
    );
  });

  it('adds JetStream, the payload cap and token authorization, quoting the strings', () => {
    const config = renderConfig({
      port: 1,
      wsPort: 2,
      jetstreamDir: 'C:\\tmp\\sluice "js"',
      maxPayload: 1048576,
      token: 'to"ken\\ #x',
      user: 'ignored when there is a token',
    });
    expect(config).toContain('jetstream {\n  store_dir: "C:\\\\tmp\\\\sluice \\"js\\""\n}');
    expect(config).toContain('max_payload: 1048576');
    expect(config).toContain('authorization {\n  token: "to\\"ken\\\\ #x"\n}');
    expect(config).not.toContain('user:');
  });

  it('writes user and password authorization, an empty password when none is given', () => {
    expect(renderConfig({ port: 1, wsPort: 2, user: 'sluice', password: 'p@ss word}' })).toContain(
      'authorization {\n  user: "sluice"\n  password: "p@ss word}"\n}',
    );
    expect(renderConfig({ port: 1, wsPort: 2, user: 'sluice' })).toContain('password: ""');
  });
});

describe.skipIf(process.platform === 'win32')('findNatsServer', () => {
  let dir: string;
  const file = (name: string, mode: number): string => {
    const path = join(dir, name);
    writeFileSync(path, '#!/bin/sh\n');
    chmodSync(path, mode);
    return path;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-find-nats-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds an executable nats-server on PATH', () => {
    mkdirSync(join(dir, 'bin'));
    const bin = file('bin/nats-server', 0o755);
    expect(findNatsServer({ PATH: `${join(dir, 'empty')}:${join(dir, 'bin')}` }, [])).toBe(bin);
  });

  it('passes over a nats-server that is not executable, or is a folder', () => {
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'b'));
    mkdirSync(join(dir, 'c'));
    file('a/nats-server', 0o644);
    mkdirSync(join(dir, 'b/nats-server'));
    const bin = file('c/nats-server', 0o755);
    const PATH = ['a', 'b', 'c'].map((d) => join(dir, d)).join(':');
    expect(findNatsServer({ PATH }, [])).toBe(bin);
    expect(() => findNatsServer({ PATH: join(dir, 'a') }, [join(dir, 'b')])).toThrow(NatsServerMissing);
  });

  it('looks in the extra folders after PATH', () => {
    const bin = file('nats-server', 0o755);
    expect(findNatsServer({ PATH: '' }, [dir])).toBe(bin);
    expect(() => findNatsServer({}, [])).toThrow(/not found on PATH/);
  });

  it('takes NATS_SERVER_BIN over PATH, and refuses one that is not executable', () => {
    const onPath = file('nats-server', 0o755);
    const chosen = file('my-nats', 0o755);
    expect(findNatsServer({ PATH: dir, NATS_SERVER_BIN: chosen }, [])).toBe(chosen);
    const plain = file('plain-nats', 0o644);
    expect(() => findNatsServer({ PATH: dir, NATS_SERVER_BIN: plain }, [])).toThrow(NatsServerMissing);
    expect(() => findNatsServer({ PATH: dir, NATS_SERVER_BIN: join(dir, 'missing') }, [])).toThrow(
      /NATS_SERVER_BIN is set to .*missing, which is not an executable file/,
    );
    expect(findNatsServer({ PATH: dir, NATS_SERVER_BIN: '' }, [])).toBe(onPath);
  });
});
