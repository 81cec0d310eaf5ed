/** Engine settings: defaults (SPEC §6 reference numbers) and the rules a change must meet. */
import type { Settings, SettingsView } from '../contract/views';
import { CaFileError, readCaBundle, type BusOptions } from '../bus/nats-bus';
import { BridgeFailure } from '../contract/bridge';
import { DEFAULT_RETRY_SCHEDULE_S } from '../delivery/retry-policy';
import { parseCidr } from '../delivery/ssrf';
import { DEFAULT_CIRCUIT_THRESHOLD } from './breaker';

export const DEFAULT_SETTINGS: Settings = {
  natsUrl: 'ws://127.0.0.1:9222',
  natsUser: '',
  natsPassword: '',
  natsToken: '',
  natsCredsFile: '',
  natsCaFile: '',
  allowPrivate: false,
  allowedCidrs: [],
  circuitThreshold: DEFAULT_CIRCUIT_THRESHOLD,
  concurrency: 10,
  timeoutMs: 10_000,
  retrySchedule: [...DEFAULT_RETRY_SCHEDULE_S],
  heldMaxCount: 10_000,
  heldMaxAgeHours: 72,
  retentionDays: 30,
  retentionMaxRows: 1_000_000,
  jetstreamStream: '',
};

export const SETTING_KEYS = Object.keys(DEFAULT_SETTINGS) as (keyof Settings)[];

export function splitNatsUrls(natsUrl: string): string[] {
  return natsUrl
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
}

/** Semantic checks beyond the schema; throws a BridgeFailure naming the field. */
export function validateSettingsPatch(patch: Partial<Settings>): void {
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
  if (patch.natsCaFile) {
    // Checked here so a wrong path is refused (and nothing saved) instead of showing
    // up later as a bus that never connects; the bus re-reads the file at each connection.
    try {
      readCaBundle(patch.natsCaFile);
    } catch (error) {
      if (error instanceof CaFileError) throw new BridgeFailure('invalid_argument', error.message, 'natsCaFile');
      throw error;
    }
  }
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
}

export function settingsView(settings: Settings): SettingsView {
  const { natsPassword, natsToken, ...rest } = settings;
  return { ...rest, natsPasswordSet: natsPassword.length > 0, natsTokenSet: natsToken.length > 0 };
}

/** How to reach the bus, from the settings: one place for the engine and the CLI. */
export function busOptionsFrom(settings: Settings, name: string): BusOptions {
  return {
    servers: splitNatsUrls(settings.natsUrl),
    ...(settings.natsToken ? { token: settings.natsToken } : {}),
    ...(settings.natsUser ? { user: settings.natsUser, pass: settings.natsPassword } : {}),
    ...(settings.natsCredsFile ? { credsFile: settings.natsCredsFile } : {}),
    ...(settings.natsCaFile ? { caFile: settings.natsCaFile } : {}),
    name,
  };
}
