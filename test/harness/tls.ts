/**
 * TLS for bus and receiver tests: a private CA, server certificates for 127.0.0.1 and for
 * a receiver host name, and client certificates made with the `openssl` program, and a real nats-server whose WebSocket
 * listener serves that certificate (`wss://`), optionally verifying clients. The server is started on random ports (`-1`) and is ready
 * when its log names the WebSocket port; it is stopped by its PID.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { wsconnect, type NatsConnection } from '@nats-io/nats-core';
import WebSocket from 'ws';
import { findNatsServer } from '../../src-main/bus/nats-server-process';

const run = promisify(execFile);
const READY_TIMEOUT_MS = 15_000;

/** The host name of `TestPki.namedCertFile`; tests resolve it to 127.0.0.1 with a scripted lookup. */
export const RECEIVER_HOST = 'receiver.sluice.test';

// Node 20 has no global WebSocket; without one nats-core's wsconnect hangs silently.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

export interface TestPki {
  dir: string;
  /** PEM of the CA that signed the server certificate. */
  caFile: string;
  /** PEM of another CA, which signed nothing here. */
  otherCaFile: string;
  /** Server certificate (SAN IP:127.0.0.1) and its key. */
  certFile: string;
  keyFile: string;
  /** Server certificate for `RECEIVER_HOST` only (SAN DNS), signed by the CA, and its key. */
  namedCertFile: string;
  namedKeyFile: string;
  /** A client certificate signed by the CA, and its key. */
  clientCertFile: string;
  clientKeyFile: string;
  /** A client certificate signed by the other CA, and its key. */
  strangerCertFile: string;
  strangerKeyFile: string;
  cleanup(): Promise<void>;
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir });
}

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=Sluice test ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
}

export async function makeTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-pki-'));
  try {
    await Promise.all([makeCa(dir, 'ca'), makeCa(dir, 'other-ca')]);
    await openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
    await writeFile(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
    await openssl(dir, 'x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
    await openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', 'named.key', '-out', 'named.csr', '-subj', `/CN=${RECEIVER_HOST}`);
    await writeFile(join(dir, 'named.ext'), `subjectAltName=DNS:${RECEIVER_HOST}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
    await openssl(dir, 'x509', '-req', '-in', 'named.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', 'named.pem', '-days', '2', '-extfile', 'named.ext');
    await writeFile(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n');
    for (const [name, ca] of [['client', 'ca'], ['stranger', 'other-ca']] as const) {
      await openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=sluice ${name}`);
      await openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial',
        '-out', `${name}.pem`, '-days', '2', '-extfile', 'client.ext');
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    otherCaFile: join(dir, 'other-ca.pem'),
    certFile: join(dir, 'server.pem'),
    keyFile: join(dir, 'server.key'),
    namedCertFile: join(dir, 'named.pem'),
    namedKeyFile: join(dir, 'named.key'),
    clientCertFile: join(dir, 'client.pem'),
    clientKeyFile: join(dir, 'client.key'),
    strangerCertFile: join(dir, 'stranger.pem'),
    strangerKeyFile: join(dir, 'stranger.key'),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export interface TlsNatsServer {
  /** wss://127.0.0.1:<port> */
  wsUrl: string;
  /** A test-side publisher over wss://, trusting the test CA (with the client certificate); closed by stop(). */
  client(): Promise<NatsConnection>;
  stop(): Promise<void>;
}

/**
 * A nats-server whose WebSocket listener serves `pki`'s server certificate; with
 * `verifyClients`, it also requires a client certificate signed by `pki`'s CA.
 */
export async function startTlsNatsServer(pki: TestPki, options: { verifyClients?: boolean } = {}): Promise<TlsNatsServer> {
  const verify = options.verifyClients ? `, ca_file: ${JSON.stringify(pki.caFile)}, verify: true` : '';
  const configPath = join(pki.dir, `nats-${process.pid}-${Date.now()}.conf`);
  await writeFile(
    configPath,
    [
      'host: "127.0.0.1"',
      'port: -1',
      'websocket {',
      '  host: "127.0.0.1"',
      '  port: -1',
      `  tls { cert_file: ${JSON.stringify(pki.certFile)}, key_file: ${JSON.stringify(pki.keyFile)}${verify} }`,
      '}',
      '',
    ].join('\n'),
  );
  const child = spawn(findNatsServer(), ['-c', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let log = '';
    let settled = false;
    const settle = (why: string | null, port = 0): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (why === null) return resolve(port);
      child.kill('SIGKILL');
      reject(new Error(`TLS nats-server ${why}; log:\n${log}`));
    };
    const timer = setTimeout(() => settle(`not ready within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
    child.once('error', (error) => settle(`did not start: ${error.message}`));
    child.once('exit', (code) => settle(`exited with ${code}`));
    // Its log names the random WebSocket port once the listener is up.
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      if (settled) return;
      log += chunk;
      const found = /Listening for websocket clients on wss:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (found) settle(null, Number(found[1]));
    });
  });
  const wsUrl = `wss://127.0.0.1:${port}`;
  const clients = new Set<NatsConnection>();
  const tlsOptions = {
    ca: readFileSync(pki.caFile, 'utf8'),
    ...(options.verifyClients ? { cert: readFileSync(pki.clientCertFile, 'utf8'), key: readFileSync(pki.clientKeyFile, 'utf8') } : {}),
  };
  return {
    wsUrl,
    async client() {
      const nc = await wsconnect({
        servers: wsUrl,
        name: 'sluice-tls-test-client',
        wsFactory: async (url) => ({ socket: new WebSocket(url, tlsOptions) as never, encrypted: true }),
      });
      clients.add(nc);
      return nc;
    },
    async stop() {
      await Promise.allSettled([...clients].map((nc) => nc.close()));
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
