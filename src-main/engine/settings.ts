/**
 * Engine settings: the rules a change must meet, this run's overrides, and how to reach
 * the bus from them. The defaults are the store's (store/settings.ts), which reads them
 * without the bus client.
 */
import { isAbsolute } from 'node:path';
import type { SettingOverrides, Settings, SettingsView } from '../contract/views';
import type { BusOptions } from '../bus/nats-bus';
import { TlsFileError, checkClientPair, readCaBundle, readClientCertificate, readClientKey } from '../tls/pem-files';
import { BridgeFailure } from '../contract/bridge';
import { SECRET_KEYS } from '../contract/settings-descriptor';
import { parseNoProxyEntry, parseProxyUrl } from '../delivery/proxy';
import { parseCidr } from '../delivery/ssrf';
import { defaultDurableName, durableNameFrom } from '../store/settings';

function splitNatsUrls(natsUrl: string): string[] {
  return natsUrl
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
}

/** Semantic checks beyond the schema; throws a BridgeFailure naming the field. `current`: the stored settings the patch applies to. */
export function validateSettingsPatch(patch: Partial<Settings>, current?: Settings): void {
  if (patch.natsUrl !== undefined) {
    const urls = splitNatsUrls(patch.natsUrl);
    if (urls.length === 0) throw new BridgeFailure('invalid_argument', 'at least one bus URL is required', 'natsUrl');
    for (const u of urls) {
      let parsed: URL;
      try {
        parsed = new URL(u);
      } catch {
        throw new BridgeFailure('invalid_argument', `"${u}" is not a URL`, 'natsUrl');
      }
      if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')
        throw new BridgeFailure('invalid_argument', `"${u}": the bus is reached over WebSocket (ws:// or wss://)`, 'natsUrl');
    }
  }
  validateTlsFiles(patch, current);
  if (patch.retrySchedule !== undefined) {
    if (patch.retrySchedule.some((d) => !Number.isFinite(d) || d < 0))
      throw new BridgeFailure('invalid_argument', 'retry delays must be zero or more seconds', 'retrySchedule');
  }
  if (patch.allowedCidrs !== undefined) {
    // The same parser the SSRF guard uses, so what is saved is what is enforced.
    patch.allowedCidrs.forEach((entry, index) => {
      const parsed = parseCidr(entry);
      if (!parsed.ok) throw new BridgeFailure('invalid_argument', `allowedCidrs entry ${index + 1}: ${parsed.reason}`, 'allowedCidrs');
    });
  }
  // The same parsers the delivery client uses, so what is saved is what is enforced.
  if (patch.egressProxy !== undefined) {
    const parsed = parseProxyUrl(patch.egressProxy);
    if (!parsed.ok) throw new BridgeFailure('invalid_argument', parsed.reason, 'egressProxy');
  }
  if (patch.noProxy !== undefined) {
    patch.noProxy.forEach((entry, index) => {
      const parsed = parseNoProxyEntry(entry);
      if (!parsed.ok) throw new BridgeFailure('invalid_argument', `noProxy entry ${index + 1}: ${parsed.reason}`, 'noProxy');
    });
  }
  validateTeam(patch, current);
}

/** A team needs its key: both set, or neither (the key file itself is read when the engine joins). */
function validateTeam(patch: Partial<Settings>, current?: Settings): void {
  if (patch.teamBucket === undefined && patch.teamKeyFile === undefined) return;
  const bucket = patch.teamBucket ?? current?.teamBucket ?? '';
  const keyFile = patch.teamKeyFile ?? current?.teamKeyFile ?? '';
  if (keyFile !== '' && !isAbsolute(keyFile)) throw new BridgeFailure('invalid_argument', 'the team key file must be an absolute path', 'teamKeyFile');
  if (bucket !== '' && keyFile === '') throw new BridgeFailure('invalid_argument', "a team needs its key: set teamKeyFile too (the file sluice team create --key-out wrote)", 'teamKeyFile');
}

/**
 * The bus TLS files are checked when saved, so a wrong path is refused (and nothing saved)
 * instead of showing up later as a bus that never connects; the bus re-reads them at each
 * connection. A client certificate and key may be saved one at a time (the CLI sets one
 * key per command); once both are known they must belong together.
 */
function validateTlsFiles(patch: Partial<Settings>, current: Settings | undefined): void {
  const check = <T>(field: keyof Settings, read: () => T): T => {
    try {
      return read();
    } catch (error) {
      if (error instanceof TlsFileError) throw new BridgeFailure('invalid_argument', error.message, field);
      throw error;
    }
  };
  const { natsCaFile, natsClientCertFile, natsClientKeyFile } = patch;
  if (natsCaFile) check('natsCaFile', () => readCaBundle(natsCaFile));
  const cert = natsClientCertFile ? check('natsClientCertFile', () => readClientCertificate(natsClientCertFile)) : undefined;
  const key = natsClientKeyFile ? check('natsClientKeyFile', () => readClientKey(natsClientKeyFile)) : undefined;
  if (cert === undefined && key === undefined) return;
  const certPath = natsClientCertFile ?? current?.natsClientCertFile ?? '';
  const keyPath = natsClientKeyFile ?? current?.natsClientKeyFile ?? '';
  if (!certPath || !keyPath) return;
  // The stored half may have gone since it was saved: the connection reports that, not this save.
  let certPem: string, keyPem: string;
  try {
    certPem = cert ?? readClientCertificate(certPath);
    keyPem = key ?? readClientKey(keyPath);
  } catch {
    return;
  }
  check(natsClientKeyFile ? 'natsClientKeyFile' : 'natsClientCertFile', () => checkClientPair(certPem, keyPem, certPath, keyPath));
}

export function settingsView(settings: Settings, installId: string, overrides: SettingOverrides = {}): SettingsView {
  const view: Record<string, unknown> = { ...settings };
  // Write-only: only whether each secret is set leaves the engine.
  for (const key of SECRET_KEYS) {
    delete view[key];
    view[`${key}Set`] = settings[key].length > 0;
  }
  return {
    ...(view as Omit<SettingsView, 'jetstreamDurableDefault' | 'overrides'>),
    jetstreamDurableDefault: defaultDurableName(installId),
    overrides,
  };
}

/** The settings a command-line flag can override for one run, and that flag. */
interface RunOverrideOptions {
  natsUrl?: string | undefined;
  allowPrivate?: boolean | undefined;
  /** What to name as their source instead of the flags (e.g. `npm run demo`). */
  overriddenBy?: string | undefined;
}

/** The command-line flag that overrides each setting it can, for one run (`sluice run`, `npm run serve`). */
const RUN_OVERRIDE_FLAGS = { natsUrl: '--nats', allowPrivate: '--allow-private' } as const;

/**
 * This run's overrides, each with what set it: one place for the flags, so every one
 * that changes a setting is shown with that setting (the Settings screen, `settings.get`).
 */
export function runOverrides(options: RunOverrideOptions): SettingOverrides {
  const overrides: SettingOverrides = {};
  if (options.natsUrl !== undefined)
    overrides.natsUrl = { value: options.natsUrl, by: options.overriddenBy ?? RUN_OVERRIDE_FLAGS.natsUrl };
  if (options.allowPrivate !== undefined)
    overrides.allowPrivate = { value: options.allowPrivate, by: options.overriddenBy ?? RUN_OVERRIDE_FLAGS.allowPrivate };
  return overrides;
}

/**
 * `applyOverrides` with fixed overrides, built again only for other stored settings: the
 * engine asks for its settings several times per delivery.
 */
export function overridesApplier(overrides: SettingOverrides): (settings: Settings) => Settings {
  let from: Settings | null = null;
  let effective: Settings | null = null;
  return (settings) => {
    if (settings !== from) {
      from = settings;
      effective = applyOverrides(settings, overrides);
    }
    return effective as Settings;
  };
}

/** Stored settings with the overrides applied: what this run uses. */
export function applyOverrides(settings: Settings, overrides: SettingOverrides): Settings {
  const effective = { ...settings };
  for (const [key, override] of Object.entries(overrides) as [keyof Settings, { value: unknown }][])
    (effective as Record<keyof Settings, unknown>)[key] = override.value;
  return effective;
}

/** How to reach the bus, from the settings: one place for the engine and the CLI. */
export function busOptionsFrom(settings: Settings, name: string): BusOptions {
  return {
    servers: splitNatsUrls(settings.natsUrl),
    ...(settings.natsToken ? { token: settings.natsToken } : {}),
    ...(settings.natsUser ? { user: settings.natsUser, pass: settings.natsPassword } : {}),
    ...(settings.natsCredsFile ? { credsFile: settings.natsCredsFile } : {}),
    ...(settings.natsCaFile ? { caFile: settings.natsCaFile } : {}),
    ...(settings.natsClientCertFile ? { clientCertFile: settings.natsClientCertFile } : {}),
    ...(settings.natsClientKeyFile ? { clientKeyFile: settings.natsClientKeyFile } : {}),
    name,
  };
}

/**
 * What a change of requires a new bus connection: the bus itself, the intake mode (stream
 * and durable) and the team (its bucket and key). The Engine reconnects when it changes;
 * the descriptors' `reconnectsBus` must say exactly these (a test holds them together).
 */
export function intakeKey(settings: Settings, installId: string, client: string): string {
  const stream = settings.jetstreamStream;
  return JSON.stringify([busOptionsFrom(settings, client), stream, stream ? durableNameFrom(settings, installId) : '', settings.teamBucket, settings.teamKeyFile]);
}

