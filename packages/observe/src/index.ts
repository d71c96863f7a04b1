export {
  diagnose,
  type Diagnosis,
  type DiagnosisThresholds,
  type PartitionCondition,
  type PartitionFacts,
} from './diagnosis.js';
export {
  Monitor,
  observe,
  type DeadLetterEntry,
  type HandlerStatus,
  type Health,
  type MonitorOptions,
  type MonitorSink,
  type PartitionReport,
  type ServiceStatus,
  type Status,
  type WatchedSource,
} from './monitor.js';
export { prometheusMetrics, type PrometheusOptions } from './metrics.js';
export { serveStatus, type ServeStatusOptions, type StatusServer } from './status-server.js';
export { createLogger, recordLogger, type CreateLoggerOptions, type RecordLoggerOptions } from './logging.js';
export { formatTraceParent, parseTraceParent, type TraceParent } from './traceparent.js';
export { traceRecords, type RecordTracing, type TracingOptions } from './tracing.js';
