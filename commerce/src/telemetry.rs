//! OpenTelemetry traces over OTLP/HTTP, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the
//! collector's base URL; spans go to `{endpoint}/v1/traces`). `OTEL_EXPORTER_OTLP_PROTOCOL` is
//! `http/protobuf` (default) or `http/json`; `OTEL_SERVICE_NAME` names the service (default
//! `commerce`), and the standard `OTEL_BSP_*` variables tune the batching. Each role is a
//! resource attribute (`commerce.role`).
//!
//! What a trace holds: the `http` span of a request (a child of the caller's `traceparent`
//! when it sends one), its `command` and `append` spans, and, in whichever process projects
//! the events, the `projection_batch` span that applied them, linked to each event's trace
//! through the `traceparent` its metadata and Kafka record carry ([`events::trace`]).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

/// The tracer provider, when traces are configured; `None` otherwise.
pub fn provider(role: &str) -> anyhow::Result<Option<SdkTracerProvider>> {
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_default();
    if endpoint.trim().is_empty() {
        return Ok(None);
    }
    let protocol = match std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref() {
        Err(_) | Ok("") | Ok("http/protobuf") => Protocol::HttpBinary,
        Ok("http/json") => Protocol::HttpJson,
        Ok(other) => anyhow::bail!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={other:?} is not supported: use http/protobuf or http/json"
        ),
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .build()?;
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "commerce".into());
    let resource = Resource::builder()
        .with_service_name(service)
        .with_attribute(opentelemetry::KeyValue::new(
            "commerce.role",
            role.to_owned(),
        ))
        .build();
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build(),
    ))
}

/// The `tracing` layer exporting spans through `provider`.
pub fn layer<S>(
    provider: &SdkTracerProvider,
) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer("commerce"))
}

/// Which spans are exported: the engine's, from `info` up; never the HTTP clients' and the
/// exporter's own (which would trace their own exports).
pub fn filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::new(
        "info,sqlx=off,rdkafka=off,reqwest=off,hyper=off,hyper_util=off,h2=off,tower=off,\
         opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off,opentelemetry_http=off",
    )
}
