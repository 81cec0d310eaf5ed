import { describe, expect, it } from 'vitest';
import { BusAuthError, BusDialError, BusTlsError, combineDiagnoses, diagnoseAuthRefusal, diagnoseSocketFailure, isTlsError } from './dial-diagnosis';

const socketError = (url: string, code: string | undefined, message: string, rawPacket?: string) => ({
  url,
  error: { code, message, ...(rawPacket === undefined ? {} : { rawPacket: Buffer.from(rawPacket, 'latin1') }) },
});

describe('diagnoseSocketFailure', () => {
  it('nothing listening: says so and names the websocket block, the README nats.conf and npm run demo', () => {
    const d = diagnoseSocketFailure(socketError('ws://127.0.0.1:9222', 'ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9222'));
    expect(d).toBeInstanceOf(BusDialError);
    expect(d).not.toBeInstanceOf(BusTlsError);
    expect(d.message).toContain('ws://127.0.0.1:9222: nothing is listening at 127.0.0.1:9222 (connection refused)');
    expect(d.message).toContain('`websocket { listen: "127.0.0.1:9222", no_tls: true }`');
    expect(d.message).toContain("README's nats.conf");
    expect(d.message).toContain('npm run demo');
  });

  it('nothing listening at a wss:// URL: the block it needs has TLS', () => {
    const d = diagnoseSocketFailure(socketError('wss://bus.example:443/', 'ECONNREFUSED', 'connect ECONNREFUSED'));
    expect(d.message).toContain('wss://bus.example:443: nothing is listening at bus.example:443');
    expect(d.message).toContain('tls { cert_file: …, key_file: … }');
    expect(d.message).not.toContain('no_tls');
  });

  it('a plain NATS port (INFO before any HTTP): the client port, not the WebSocket listener', () => {
    const d = diagnoseSocketFailure(
      socketError('ws://127.0.0.1:4222', 'HPE_INVALID_CONSTANT', 'Parse Error: Expected HTTP/, RTSP/ or ICE/', 'INFO {"server_id":"N"}\r\n'),
    );
    expect(d.message).toContain("127.0.0.1:4222 answers with the NATS client protocol: it is nats-server's plain client port");
    expect(d.message).toContain("`websocket { listen: … }` block (9222 in the README's nats.conf)");
  });

  it('another non-HTTP service: answers, but not with HTTP', () => {
    const d = diagnoseSocketFailure(socketError('ws://127.0.0.1:22', 'HPE_INVALID_CONSTANT', 'Parse Error', 'SSH-2.0-OpenSSH\r\n'));
    expect(d.message).toContain('127.0.0.1:22 answers, but not with HTTP (HPE_INVALID_CONSTANT): it is not a NATS WebSocket listener');
    expect(diagnoseSocketFailure(socketError('ws://127.0.0.1:22', 'HPE_INVALID_CONSTANT', 'Parse Error')).message).toContain(
      'not with HTTP',
    );
  });

  it('an HTTP server that is not NATS: names the status and the listener to use', () => {
    const d = diagnoseSocketFailure({ url: 'ws://127.0.0.1:8080', response: { status: 404, body: 'Not Found' } });
    expect(d.message).toBe(
      "ws://127.0.0.1:8080: an HTTP server answered at 127.0.0.1:8080 (HTTP 404) but it is not a NATS WebSocket listener: " +
        "point the URL at the port of the server's `websocket { listen: … }` block (9222 in the README's nats.conf)",
    );
  });

  it('ws:// to a TLS listener: use wss://', () => {
    const d = diagnoseSocketFailure({
      url: 'ws://127.0.0.1:9443',
      response: { status: 400, body: 'Client sent an HTTP request to an HTTPS server.\n' },
    });
    expect(d).toBeInstanceOf(BusTlsError);
    expect(d.message).toContain('TLS: ws://127.0.0.1:9443: the listener at 127.0.0.1:9443 expects TLS');
    expect(d.message).toContain('use wss://127.0.0.1:9443, with natsCaFile if a private CA signed its certificate');
    const withCa = diagnoseSocketFailure(
      { url: 'ws://127.0.0.1:9443', response: { status: 400, body: 'Client sent an HTTP request to an HTTPS server.' } },
      { caFile: '/etc/ca.pem' },
    );
    expect(withCa.message).not.toContain('natsCaFile');
  });

  it('wss:// to a listener without TLS: use ws://, or give it a tls block', () => {
    const message =
      'write EPROTO 800CA5435E7F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n';
    for (const code of ['EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER']) {
      const d = diagnoseSocketFailure(socketError('wss://127.0.0.1:9222', code, message));
      expect(d).toBeInstanceOf(BusTlsError);
      expect(d.message).toContain('TLS: wss://127.0.0.1:9222: the server at 127.0.0.1:9222 does not speak TLS (wrong version number');
      expect(d.message).toContain('Use ws://127.0.0.1:9222, or give the listener a `tls { cert_file: …, key_file: … }` block');
    }
  });

  it('certificates: an untrusted chain names natsCaFile, a refused client certificate names natsClientCertFile', () => {
    const untrusted = diagnoseSocketFailure(socketError('wss://bus:443', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'));
    expect(untrusted.message).toBe(
      "TLS: wss://bus:443: server certificate not trusted: unable to verify the first certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE); if a private CA signed it, set natsCaFile to that CA's PEM file",
    );
    const wrongCa = diagnoseSocketFailure(socketError('wss://bus:443', 'SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'), {
      caFile: '/ca.pem',
    });
    expect(wrongCa.message).toContain('the CA file /ca.pem (natsCaFile) does not hold the CA that signed it');
    const clientRefused = diagnoseSocketFailure(
      socketError('wss://bus:443', 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', '80:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:x'),
    );
    expect(clientRefused.message).toBe(
      'TLS: wss://bus:443: client certificate refused by the server: tlsv13 alert certificate required (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED); the server asks for a client certificate: set natsClientCertFile and natsClientKeyFile',
    );
  });

  it('names a host that does not resolve, an unreachable one and a reset', () => {
    expect(diagnoseSocketFailure(socketError('ws://bus.invalid:9222', 'ENOTFOUND', 'getaddrinfo ENOTFOUND bus.invalid')).message).toBe(
      'ws://bus.invalid:9222: the host "bus.invalid" was not found (ENOTFOUND): check the host name in the bus URL',
    );
    expect(diagnoseSocketFailure(socketError('ws://bus:9222', 'EAI_AGAIN', 'getaddrinfo EAI_AGAIN bus')).message).toContain(
      'could not be resolved now (EAI_AGAIN',
    );
    expect(diagnoseSocketFailure(socketError('ws://10.9.9.9:9222', 'EHOSTUNREACH', 'connect EHOSTUNREACH')).message).toContain(
      '10.9.9.9:9222 cannot be reached (EHOSTUNREACH)',
    );
    expect(diagnoseSocketFailure(socketError('ws://[::1]:9222', 'ECONNRESET', 'socket hang up')).message).toContain(
      '[::1]:9222 closed the connection during the WebSocket handshake',
    );
  });

  it('anything else: the server and the first line of the error', () => {
    expect(diagnoseSocketFailure(socketError('ws://h:1', undefined, 'something odd\nstack')).message).toBe('ws://h:1: something odd');
  });
});

describe('isTlsError', () => {
  it('knows TLS codes and EPROTO from OpenSSL, not plain socket errors', () => {
    expect(isTlsError({ code: 'ERR_SSL_WRONG_VERSION_NUMBER', message: '' })).toBe(true);
    expect(isTlsError({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT', message: '' })).toBe(true);
    expect(isTlsError({ code: 'EPROTO', message: 'write EPROTO …:SSL routines:…' })).toBe(true);
    expect(isTlsError({ code: 'EPROTO', message: 'protocol error' })).toBe(false);
    expect(isTlsError({ code: 'ECONNREFUSED', message: '' })).toBe(false);
  });
});

describe('diagnoseAuthRefusal', () => {
  it('says what was sent and which settings fix it', () => {
    const none = diagnoseAuthRefusal("'Authorization Violation'");
    expect(none).toBeInstanceOf(BusAuthError);
    expect(none.message).toBe(
      "the bus server requires authentication (Authorization Violation) and none is configured: set natsToken, or natsUser and natsPassword, or natsCredsFile to what the server's authorization block expects",
    );
    expect(diagnoseAuthRefusal("'Authorization Violation'", { token: 't' }).message).toContain(
      'the bus server refused the token (natsToken) (Authorization Violation)',
    );
    expect(diagnoseAuthRefusal('Authorization Violation', { user: 'ops' }).message).toContain(
      'refused user "ops" and its password (natsUser, natsPassword)',
    );
    expect(diagnoseAuthRefusal('Authorization Violation', { credsFile: '/s.creds' }).message).toContain(
      'refused the credentials in /s.creds (natsCredsFile)',
    );
  });
});

describe('combineDiagnoses', () => {
  it('keeps one as it is, and joins several in order', () => {
    const a = new BusDialError('ws://a:1: x');
    expect(combineDiagnoses([a])).toBe(a);
    const both = combineDiagnoses([a, new BusTlsError('TLS: wss://b:2: y')]);
    expect(both.message).toBe('ws://a:1: x | TLS: wss://b:2: y');
    expect(both).not.toBeInstanceOf(BusTlsError);
    expect(combineDiagnoses([new BusTlsError('TLS: 1'), new BusTlsError('TLS: 2')])).toBeInstanceOf(BusTlsError);
  });
});
