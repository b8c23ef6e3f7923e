/**
 * Public entry point: the JobWorkerChart and its parts, for the example app
 * (main.ts) and for the CDK app that applies the chart to the EKS cluster.
 */
export * from './job-worker-chart';
export * from './image';
export * from './labels';
export * from './namespace';
export * from './network-policy';
export * from './node-class';
export * from './node-pool';
export * from './quantity';
export * from './scaled-job';
export * from './local-chart';
export * from './service-account';
export * from './static-credentials';
export * from './trigger-authentication';
export * from './worker-settings';
