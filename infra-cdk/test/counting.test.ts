/**
 * Counting is the table's property: the `counting` context value (default
 * stream) decides the table's stream and its tag `jobs:counting`, which every
 * Rust process reads at start; the tag's name is the one job-core reads.
 */
import { readFileSync } from 'fs';
import { join } from 'path';
import { App } from 'aws-cdk-lib';
import { readAppConfig } from '../lib/app-config';
import { COUNTING_TAG } from '../lib/data/job-table';
import { REPO_DIR } from './support/paths';
import { one } from './support/template';

const config = (context: Record<string, unknown>) => readAppConfig(new App({ context }).node);

test('the counting context value: stream by default, inline on request, anything else refused by name', () => {
  expect(config({}).props.counting).toBe('stream');
  expect(config({ counting: 'inline' }).props.counting).toBe('inline');
  expect(() => config({ counting: 'later' })).toThrow(/context value counting: expected stream or inline, got later/);
});

test('the table records its counting mode under the tag job-core reads, and has the stream it needs', () => {
  const rust = readFileSync(join(REPO_DIR, 'job-core', 'src', 'counting', 'mode.rs'), 'utf8');
  expect(rust).toContain(`pub const COUNTING_TAG: &str = "${COUNTING_TAG}";`);
  const [, table] = one('AWS::DynamoDB::Table', 'JobsTable');
  expect(table.Properties.Tags).toContainEqual({ Key: COUNTING_TAG, Value: 'stream' });
  expect(table.Properties.StreamSpecification).toEqual({ StreamViewType: 'NEW_AND_OLD_IMAGES' });
});
