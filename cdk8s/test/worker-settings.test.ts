/** The worker contract's defaults and the timings derived from it, and the quantity parser. */
import {
  jobActiveDeadlineSecs,
  maxRetryDelaySecs,
  parseQuantity,
  podTerminationGraceSecs,
  resolveWorkerSettings,
  WORKER_DEFAULTS,
} from '../src';

describe('worker settings', () => {
  test('defaults match the worker binary', () => {
    expect(resolveWorkerSettings()).toEqual({
      maxAttempts: 3,
      retryBaseDelayMs: 1000,
      retryMaxDelayMs: 30000,
      attemptTimeoutSecs: 300,
      visibilityTimeoutSecs: 30,
      shutdownGraceSecs: 25,
      rustLog: 'info',
      counting: 'inline',
    });
  });

  test('counting is inline or stream', () => {
    expect(resolveWorkerSettings({ counting: 'stream' }).counting).toBe('stream');
    expect(() => resolveWorkerSettings({ counting: 'later' as 'stream' })).toThrow(/worker.counting must be 'inline' or 'stream'/);
  });

  test('explicit undefined keeps the default', () => {
    expect(resolveWorkerSettings({ maxAttempts: undefined })).toEqual(WORKER_DEFAULTS);
  });

  test('retry delays: doubling from the base, capped, at most twice that with jitter', () => {
    // Retries 1 and 2 wait up to 2 x 1 s and 2 x 2 s.
    expect(maxRetryDelaySecs(resolveWorkerSettings())).toBe(6);
    expect(maxRetryDelaySecs(resolveWorkerSettings({ maxAttempts: 1 }))).toBe(0);
    // Second delay capped at 1.5 s: 2 x (1 + 1.5).
    expect(maxRetryDelaySecs(resolveWorkerSettings({ retryMaxDelayMs: 1500 }))).toBe(5);
    // Ten attempts: 1, 2, 4, 8, 16 s, then 30 s four times; doubled.
    expect(maxRetryDelaySecs(resolveWorkerSettings({ maxAttempts: 10 }))).toBe(2 * (1 + 2 + 4 + 8 + 16 + 4 * 30));
    // Rounded up to whole seconds.
    expect(maxRetryDelaySecs(resolveWorkerSettings({ maxAttempts: 2, retryBaseDelayMs: 100, retryMaxDelayMs: 100 }))).toBe(1);
  });

  test('deadline and termination grace', () => {
    const s = resolveWorkerSettings();
    expect(jobActiveDeadlineSecs(s, 0)).toBe(906);
    expect(jobActiveDeadlineSecs(s, 180)).toBe(1086);
    expect(podTerminationGraceSecs(s)).toBe(30);
    expect(podTerminationGraceSecs(resolveWorkerSettings({ shutdownGraceSecs: 0 }))).toBe(5);
  });

  test.each([
    [{ maxAttempts: 2.5 }, /maxAttempts/],
    [{ maxAttempts: 101 }, /maxAttempts must be an integer in \[1, 100\]/],
    [{ attemptTimeoutSecs: 0 }, /attemptTimeoutSecs/],
    [{ visibilityTimeoutSecs: 2 }, /visibilityTimeoutSecs must be an integer in \[3, 43200\]/],
    [{ visibilityTimeoutSecs: 43201 }, /visibilityTimeoutSecs/],
    [{ shutdownGraceSecs: 3601 }, /shutdownGraceSecs/],
    [{ shutdownGraceSecs: -1 }, /shutdownGraceSecs/],
    [{ rustLog: ' ' }, /rustLog/],
  ])('rejects %p', (settings, message) => {
    expect(() => resolveWorkerSettings(settings)).toThrow(message);
  });
});

describe('parseQuantity', () => {
  test.each([
    ['250m', 0.25],
    ['1', 1],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['512Mi', 512 * 2 ** 20],
    ['2Gi', 2 * 2 ** 30],
    ['1G', 1e9],
    ['64k', 64000],
  ])('%s', (text, value) => {
    expect(parseQuantity(text)).toBeCloseTo(value);
  });

  test('numbers pass through', () => {
    expect(parseQuantity(4)).toBe(4);
  });

  test.each(['', 'abc', '1Xi', '${Token[TOKEN.1]}', '-1'])('%p is not a literal quantity', (text) => {
    expect(parseQuantity(text)).toBeUndefined();
  });
});
