/** The missed-runs metric filter and alarm in the synthesized template. */
import { readFileSync } from 'fs';
import { join } from 'path';
import { MISSED_RUNS_MESSAGE, MISSED_RUNS_METRIC } from '../lib/observability/missed-runs';
import { METRIC_NAMESPACE } from '../lib/observability/job-metrics';
import { one, refOf } from './support/template';
import { PACKAGE_DIR } from './support/paths';

describe('missed scheduled runs', () => {
  const [, filter] = one('AWS::Logs::MetricFilter', 'MissedRunsFilter');
  const [, alarm] = one('AWS::CloudWatch::Alarm', 'MissedRunsAlarm');

  test('a metric filter on the reconciler log reads the count each pass logs', () => {
    expect(refOf(filter.Properties.LogGroupName)).toMatch(/^ReconcilerFunctionLogs/);
    expect(filter.Properties.FilterPattern).toBe(`{ $.fields.message = "${MISSED_RUNS_MESSAGE}" }`);
    expect(filter.Properties.MetricTransformations).toEqual([
      { MetricNamespace: METRIC_NAMESPACE, MetricName: MISSED_RUNS_METRIC, MetricValue: '$.fields.missed', Unit: 'Count' },
    ]);
  });

  test('the message is the one the reconciler writes', () => {
    const rust = readFileSync(join(PACKAGE_DIR, '..', 'job-core', 'src', 'log_lines.rs'), 'utf8');
    expect(rust).toContain(`pub const MISSED_RUNS_MESSAGE: &str = "${MISSED_RUNS_MESSAGE}";`);
    const reconciler = readFileSync(join(PACKAGE_DIR, '..', 'lambdas', 'src', 'reconciler.rs'), 'utf8');
    expect(reconciler).toMatch(/missed = missed\.total,[\s\S]*"\{MISSED_RUNS_MESSAGE\}"/);
  });

  test('an alarm fires on one missed run and stays quiet without data', () => {
    expect(alarm.Properties).toMatchObject({
      Namespace: METRIC_NAMESPACE,
      MetricName: MISSED_RUNS_METRIC,
      Statistic: 'Maximum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
  });
});
