/**
 * The worker's default visibility timeout is the queue's, from the settings file the
 * CDK app and local provisioning (local-dev) also read (settings/queue.json at the repository
 * root), so the three cannot drift apart silently.
 */
import { readFileSync } from 'fs';
import { join } from 'path';
import { WORKER_DEFAULTS } from '../src';

const settings = JSON.parse(readFileSync(join(__dirname, '..', '..', 'settings', 'queue.json'), 'utf8'));

test('the default visibility timeout is the shared queue setting', () => {
  expect(typeof settings.visibilityTimeoutSecs).toBe('number');
  expect(WORKER_DEFAULTS.visibilityTimeoutSecs).toBe(settings.visibilityTimeoutSecs);
});
