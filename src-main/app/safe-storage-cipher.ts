/**
 * Subscription secrets at rest in the desktop app: Electron `safeStorage`, i.e. the OS
 * key store (Keychain on macOS, DPAPI on Windows, libsecret / KWallet on Linux). Stored
 * as `enc:os:<base64>` so it cannot be mistaken for a legacy plain-text value.
 *
 * On Linux without a key ring, safeStorage falls back to `basic_text`: a key hard-coded
 * in Chromium, which protects nothing. Then the app stores secrets as plain text, says
 * so (console banner, a confirmation before each secret is stored), and does not
 * pretend otherwise. Call after the app's `ready` event.
 */
import { safeStorage } from 'electron';
import { PLAINTEXT_CIPHER, type SecretCipher } from '../store/database';
import { OS_KEYCHAIN_PREFIX, SecretKeyError, isEncrypted } from '../store/secret-cipher';

interface OsCipherChoice {
  cipher: SecretCipher;
  /** Why secrets are stored unprotected, when they are. */
  reason: string | null;
}

function createSafeStorageCipher(): SecretCipher {
  return {
    kind: 'os-keychain',
    encrypt(secret) {
      return OS_KEYCHAIN_PREFIX + safeStorage.encryptString(secret).toString('base64');
    },
    decrypt(stored) {
      if (!isEncrypted(stored)) return stored;
      if (!stored.startsWith(OS_KEYCHAIN_PREFIX))
        throw new SecretKeyError('the secrets were encrypted by a headless run (sluice run, npm run serve) with its key, not by the OS key store of the desktop app');
      try {
        return safeStorage.decryptString(Buffer.from(stored.slice(OS_KEYCHAIN_PREFIX.length), 'base64'));
      } catch (error) {
        throw new SecretKeyError(`the OS key store cannot open them: ${(error as Error).message}`, { cause: error });
      }
    },
  };
}

/** The OS key store when it really protects something; else plain text, with the reason. */
export function chooseOsCipher(): OsCipherChoice {
  if (!safeStorage.isEncryptionAvailable())
    return { cipher: PLAINTEXT_CIPHER, reason: 'the OS key store is not available' };
  if (process.platform === 'linux') {
    const backend = safeStorage.getSelectedStorageBackend();
    if (backend === 'basic_text' || backend === 'unknown')
      return {
        cipher: PLAINTEXT_CIPHER,
        reason: `no key ring found (safeStorage backend "${backend}"); install and unlock GNOME Keyring or KWallet, or start with --password-store=gnome-libsecret`,
      };
  }
  return { cipher: createSafeStorageCipher(), reason: null };
}
