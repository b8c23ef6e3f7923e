/**
 * The two TypeScript packages stay aligned: the cdk8s chart is built with the
 * same cdk8s and constructs versions the CDK app uses, installed once (a
 * second copy would make the chart's constructs foreign to the app's), and
 * the shared queue settings load.
 */
import { existsSync, readFileSync } from 'fs';
import { join } from 'path';
import { loadQueueSettings, QUEUE_SETTINGS_PATH } from '../lib/queue-settings';
import { PACKAGE_DIR, REPO_DIR } from './support/paths';

const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const app = json(join(PACKAGE_DIR, 'package.json'));
const chart = json(join(REPO_DIR, 'cdk8s', 'package.json'));

test.each(['cdk8s', 'constructs'])('%s is pinned to the same exact version in both packages', (name) => {
  expect(app.dependencies[name]).toMatch(/^\d+\.\d+\.\d+$/);
  expect(app.dependencies[name]).toBe(chart.dependencies[name]);
});

test('the chart package is installed as a copy with no nested cdk8s or constructs', () => {
  expect(app.dependencies['jobs-cdk8s']).toBe('file:../cdk8s');
  for (const name of ['cdk8s', 'constructs']) {
    expect(existsSync(join(PACKAGE_DIR, 'node_modules', 'jobs-cdk8s', 'node_modules', name))).toBe(false);
    expect(json(join(PACKAGE_DIR, 'node_modules', name, 'package.json')).version).toBe(chart.dependencies[name]);
  }
});

test('every dependency is pinned exactly', () => {
  for (const [name, version] of Object.entries({ ...app.dependencies, ...app.devDependencies })) {
    expect({ name, version }).toEqual({ name, version: expect.stringMatching(/^(\d+\.\d+\.\d+|file:\.\.\/cdk8s)$/) });
  }
});

test('the shared queue settings load and are in range', () => {
  expect(QUEUE_SETTINGS_PATH).toBe(join(REPO_DIR, 'settings', 'queue.json'));
  const settings = loadQueueSettings();
  expect(settings.maxReceiveCount).toBeGreaterThan(0);
  expect(settings.visibilityTimeoutSecs).toBeGreaterThan(0);
});
