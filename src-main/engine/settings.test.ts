import { describe, expect, it } from 'vitest';
import { BUS_KEYS, SECRET_KEYS, SETTINGS, SETTING_KEYS, defaultSettings, settingsPatch, type SettingKey, type Settings } from '../contract/settings-descriptor';
import { intakeKey, settingsView } from './settings';

const INSTALL_ID = '01234567-89ab-cdef-0123-456789abcdef';

/** What the engine compares to decide on a reconnect. */
const intake = (settings: Settings): string => intakeKey(settings, INSTALL_ID, 'sluice');

/** Another valid value of the setting, by its kind. */
function changed(key: SettingKey, settings: Settings): unknown {
  const value = settings[key];
  switch (SETTINGS[key].kind) {
    case 'integer':
      return (value as number) + 1;
    case 'boolean':
      return !(value as boolean);
    case 'list':
      return ['10.0.0.0/8'];
    case 'schedule':
      return [9];
    default:
      return key === 'natsUrl' ? 'ws://127.0.0.1:9333' : `${String(value)}x`;
  }
}

describe('the settings descriptors', () => {
  it('give defaults that their own schema accepts, each list a fresh copy', () => {
    const defaults = defaultSettings();
    expect(settingsPatch.check(defaults, 'patch')).toEqual({ ok: true, value: defaults });
    expect(defaultSettings().retrySchedule).not.toBe(defaults.retrySchedule);
  });

  it('mark as reconnecting the bus exactly the settings whose change the engine reconnects for', () => {
    // A user and a stream set, so the password and the durable name reach the connection.
    const base: Settings = { ...defaultSettings(), natsUser: 'u', jetstreamStream: 'EVENTS' };
    const reconnects = SETTING_KEYS.filter((key) => intake({ ...base, [key]: changed(key, base) }) !== intake(base));
    expect(reconnects).toEqual([...BUS_KEYS]);
  });

  it('keep the secrets out of the view, saying only whether each is set', () => {
    const view = settingsView({ ...defaultSettings(), natsPassword: 'pw' }, INSTALL_ID);
    for (const key of SECRET_KEYS) expect(view).not.toHaveProperty(key);
    expect(view).toMatchObject({ natsPasswordSet: true, natsTokenSet: false, jetstreamDurableDefault: 'sluice-0123456789ab' });
  });
});
