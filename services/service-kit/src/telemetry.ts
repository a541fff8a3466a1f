import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK, tracing } from '@opentelemetry/sdk-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/**
 * Starts the OpenTelemetry SDK. Must run before the app's modules load so that
 * instrumentation and the W3C propagator are in place. Spans are exported over
 * OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise trace context is
 * still created and propagated (through Kafka headers too), just not exported.
 */
let sdk: NodeSDK | undefined;

export function startTelemetry(serviceName: string): NodeSDK {
  if (sdk) return sdk;
  const exporting = Boolean(
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
  );
  if (!exporting) {
    // Nothing to export to: keep the SDK from defaulting to an OTLP endpoint on localhost.
    process.env.OTEL_METRICS_EXPORTER ??= 'none';
    process.env.OTEL_LOGS_EXPORTER ??= 'none';
  }
  sdk = new NodeSDK({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }),
    // A tracer provider is always registered so spans get real ids and
    // traceparent propagates; only the exporting is optional.
    spanProcessors: exporting
      ? [new tracing.BatchSpanProcessor(new OTLPTraceExporter())]
      : [new tracing.NoopSpanProcessor()],
  });
  sdk.start();
  return sdk;
}

export async function stopTelemetry(): Promise<void> {
  await sdk?.shutdown().catch(() => undefined);
  sdk = undefined;
}
