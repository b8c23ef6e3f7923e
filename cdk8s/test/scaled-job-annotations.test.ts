/**
 * The ScaledJob's KEDA annotations: which of its labels KEDA must not copy
 * onto the Jobs it creates, and pausing.
 */
import { only, synthManifests, testProps } from './support/synth';

const EXCLUDED = 'scaledjob.keda.sh/job-excluded-labels';
const PAUSED = 'autoscaling.keda.sh/paused';

const annotationsOf = (props = testProps()) => only(synthManifests(props), 'ScaledJob').metadata.annotations;

describe('ScaledJob annotations', () => {
  test('managed-by is never copied onto Jobs, so they keep KEDA\'s keda-operator', () => {
    expect(annotationsOf()[EXCLUDED]).toBe('app.kubernetes.io/managed-by');
  });

  test('extra excluded label keys are listed once each, comma-separated', () => {
    const keys = ['aws.cdk.eks/prune-c8abc', 'example.com/team', 'aws.cdk.eks/prune-c8abc'];
    expect(annotationsOf(testProps({ jobExcludedLabels: keys }))[EXCLUDED]).toBe(
      'app.kubernetes.io/managed-by,aws.cdk.eks/prune-c8abc,example.com/team',
    );
  });

  test('a key with a comma or an empty key is refused', () => {
    expect(() => synthManifests(testProps({ jobExcludedLabels: ['a,b'] }))).toThrow(/commas/);
    expect(() => synthManifests(testProps({ jobExcludedLabels: [''] }))).toThrow(/jobExcludedLabels/);
  });

  test('not paused unless asked', () => {
    expect(annotationsOf()).not.toHaveProperty(PAUSED);
    expect(annotationsOf(testProps({ paused: true }))[PAUSED]).toBe('true');
  });
});
