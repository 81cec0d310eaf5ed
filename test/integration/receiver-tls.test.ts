import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../harness/tls';
import { checkReceiverTls, hasReceiverTls, loadReceiverTls } from '../../src-main/delivery/receiver-tls';

let pki: TestPki;

beforeAll(async () => {
  pki = await makeTestPki();
  await writeFile(join(pki.dir, 'not-pem.txt'), 'hello\n');
  await writeFile(join(pki.dir, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n');
  await mkdir(join(pki.dir, 'folder'));
});

afterAll(async () => {
  await pki?.cleanup();
});

const none = { caFile: '', clientCert: '', clientKey: '' };

describe('checkReceiverTls', () => {
  it('accepts nothing set, a CA alone, and a matching certificate and key', () => {
    expect(checkReceiverTls(none)).toBeNull();
    expect(checkReceiverTls({ ...none, caFile: pki.caFile })).toBeNull();
    expect(checkReceiverTls({ caFile: pki.caFile, clientCert: pki.clientCertFile, clientKey: pki.clientKeyFile })).toBeNull();
    expect(checkReceiverTls({ ...none, clientCert: pki.strangerCertFile, clientKey: pki.strangerKeyFile })).toBeNull();
  });

  it.each([
    ['a relative path', () => 'ca.pem', /^CA file "ca\.pem" must be an absolute path$/],
    ['a missing file', () => join(pki.dir, 'missing.pem'), /^CA file .*missing\.pem does not exist$/],
    ['a folder', () => join(pki.dir, 'folder'), /is not a regular file$/],
    ['a file that is not PEM', () => join(pki.dir, 'not-pem.txt'), /is not a PEM certificate file/],
    ['a PEM block that is no certificate', () => join(pki.dir, 'broken.pem'), /certificate 1 of 1 is not a valid X\.509 certificate/],
    ['a private key', () => pki.keyFile, /is not a PEM certificate file/],
  ])('names the CA file when it is %s', (_name, path, message) => {
    expect(checkReceiverTls({ ...none, caFile: path() })).toEqual({ field: 'caFile', message: expect.stringMatching(message) });
  });

  it('wants the certificate and the key together', () => {
    expect(checkReceiverTls({ ...none, clientCert: pki.clientCertFile })).toEqual({
      field: 'clientKey',
      message: `a client certificate needs its key: set the client key file for ${pki.clientCertFile}`,
    });
    expect(checkReceiverTls({ ...none, clientKey: pki.clientKeyFile })).toEqual({
      field: 'clientCert',
      message: `a client key needs its certificate: set the client certificate file for ${pki.clientKeyFile}`,
    });
  });

  it('names the file that is not what its field says', () => {
    expect(checkReceiverTls({ ...none, clientCert: pki.clientKeyFile, clientKey: pki.clientKeyFile })).toEqual({
      field: 'clientCert',
      message: expect.stringMatching(/^client certificate file .* is not a PEM certificate file/),
    });
    expect(checkReceiverTls({ ...none, clientCert: pki.clientCertFile, clientKey: pki.clientCertFile })).toEqual({
      field: 'clientKey',
      message: expect.stringMatching(/^client key file .* is not a PEM private key/),
    });
    expect(checkReceiverTls({ ...none, clientCert: pki.clientCertFile, clientKey: join(pki.dir, 'nope.key') })).toEqual({
      field: 'clientKey',
      message: expect.stringMatching(/^client key file .*nope\.key does not exist$/),
    });
  });

  it('names a key that is not the certificate’s', () => {
    expect(checkReceiverTls({ ...none, clientCert: pki.clientCertFile, clientKey: pki.strangerKeyFile })).toEqual({
      field: 'clientKey',
      message: `client key file ${pki.strangerKeyFile} is not the key of the client certificate ${pki.clientCertFile}`,
    });
  });
});

describe('loadReceiverTls', () => {
  it('reads what the connection uses', () => {
    const material = loadReceiverTls({ caFile: pki.caFile, clientCert: pki.clientCertFile, clientKey: pki.clientKeyFile });
    expect(material.ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(material.cert).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(material.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(loadReceiverTls(none)).toEqual({});
  });

  it('knows when any of it is set', () => {
    expect(hasReceiverTls(undefined)).toBe(false);
    expect(hasReceiverTls(none)).toBe(false);
    expect(hasReceiverTls({ ...none, caFile: '/x.pem' })).toBe(true);
  });
});
