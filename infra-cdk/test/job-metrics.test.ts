/** The job-count metric filters in the synthesized template, against the lines the worker writes. */
import { readFileSync } from 'fs';
import { join } from 'path';
import { METRIC_NAMESPACE, SCHEDULED_REGISTERED_MESSAGE, SKIPPED_OUTCOME } from '../lib/observability/job-metrics';
import { Json, resourcesOf } from './support/template';
import { PACKAGE_DIR } from './support/paths';

/** The one metric filter publishing `metricName`. */
function filterOf(metricName: string): Json {
  const found = resourcesOf('AWS::Logs::MetricFilter').filter(([, r]) =>
    r.Properties.MetricTransformations.some((t: Json) => t.MetricName === metricName),
  );
  expect(found).toHaveLength(1);
  return found[0][1].Properties;
}

describe('scheduled runs in the job metrics', () => {
  test('every registered scheduled run counts as submitted, skipped ones too', () => {
    const submitted = filterOf('JobsSubmittedScheduled');
    expect(submitted.FilterPattern).toBe(`{ $.log_processed.fields.message = "${SCHEDULED_REGISTERED_MESSAGE}" }`);
    expect(submitted.MetricTransformations[0]).toMatchObject({ MetricNamespace: METRIC_NAMESPACE, MetricValue: '1' });
  });

  test('skipped runs have their own metric', () => {
    const skipped = filterOf('JobsSkippedScheduled');
    expect(skipped.FilterPattern).toBe(
      `{ $.log_processed.fields.message = "${SCHEDULED_REGISTERED_MESSAGE}" && $.log_processed.fields.outcome = "${SKIPPED_OUTCOME}" }`,
    );
    expect(skipped.MetricTransformations[0]).toMatchObject({ MetricNamespace: METRIC_NAMESPACE, MetricValue: '1' });
  });

  test('the worker writes one such line per registration, with its outcome', () => {
    const constants = readFileSync(join(PACKAGE_DIR, '..', 'job-core', 'src', 'log_lines.rs'), 'utf8');
    expect(constants).toContain(`pub const SCHEDULED_REGISTERED_MESSAGE: &str = "${SCHEDULED_REGISTERED_MESSAGE}";`);
    const rust = readFileSync(join(PACKAGE_DIR, '..', 'job-core', 'src', 'application', 'scheduled_run.rs'), 'utf8');
    // Both outcomes log the message; the skipped one with outcome "skipped".
    const lines = rust.match(/info!\([^;()]*"\{SCHEDULED_REGISTERED_MESSAGE\}"\)/g) ?? [];
    expect(lines).toHaveLength(2);
    expect(lines.some((l) => l.includes(`outcome = "${SKIPPED_OUTCOME}"`))).toBe(true);
    expect(lines.some((l) => l.includes('outcome = "queued"'))).toBe(true);
  });
});
