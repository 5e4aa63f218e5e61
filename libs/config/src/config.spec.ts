import { z } from 'zod';
import { ConfigError, baseSettings, busSettings, loadConfig, parseBytes, setting } from './config';

describe('loadConfig', () => {
  const shape = { ...baseSettings, ...busSettings, MAX: setting.bytes.default('1GiB') };

  it('parses and applies defaults', () => {
    const cfg = loadConfig(shape, { ADMIN_API_KEY: 'x'.repeat(32), NATS_URL: 'nats://127.0.0.1:4222' });
    expect(cfg.HTTP_PORT).toBe(3000);
    expect(cfg.OUTBOX_RELAY_ENABLED).toBe(true);
    expect(cfg.MAX).toBe(1024 ** 3);
  });

  it('names every missing or malformed setting', () => {
    let error: unknown;
    try {
      loadConfig(shape, { HTTP_PORT: 'eighty', NATS_URL: 'http://x' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const settings = (error as ConfigError).issues.map((i) => i.setting).sort();
    expect(settings).toEqual(['ADMIN_API_KEY', 'HTTP_PORT', 'NATS_URL']);
    expect((error as Error).message).toContain('ADMIN_API_KEY: is required but not set');
    expect((error as Error).message).toContain('NATS_URL: must be one or more nats:// URLs');
  });

  it('refuses a bad boolean', () => {
    expect(() => loadConfig({ X: setting.bool }, { X: 'maybe' })).toThrow('X: must be true or false');
  });

  it('accepts extra schema types', () => {
    expect(loadConfig({ N: z.string().default('a') }, {}).N).toBe('a');
  });
});

describe('parseBytes', () => {
  it.each([
    ['512', 512],
    ['2KiB', 2048],
    ['1.5GiB', 1.5 * 1024 ** 3],
    ['10MB', 10_000_000],
  ])('%s', (text, bytes) => expect(parseBytes(text)).toBe(bytes));
});
