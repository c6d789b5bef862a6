//! W3C trace context (`traceparent`) carried by events, so one trace runs from the HTTP
//! request through the command and the append to the projection batch that applies the
//! event, across processes and Kafka.
//!
//! The engine records spans with `tracing`; when the process exports them to OpenTelemetry
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`), each span has an OpenTelemetry context, and the command's
//! is written into every event's metadata (`metadata.traceparent`) and every Kafka record's
//! `traceparent` header. Without an exporter there is no context and nothing is written.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `traceparent` of the current span, when it is exported to OpenTelemetry.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// The OpenTelemetry context a `traceparent` names (a remote parent), when it is valid.
pub fn context_of(traceparent: &str) -> Option<opentelemetry::Context> {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    context.span().span_context().is_valid().then_some(context)
}

/// The span a `traceparent` names, to link a batch's span to each event's trace.
pub fn span_context_of(traceparent: &str) -> Option<SpanContext> {
    context_of(traceparent).map(|c| c.span().span_context().clone())
}

/// Links `span` to the traces of `events` (each once): a batch serves many requests, so it
/// links to their traces rather than joining one of them.
pub fn link_events<'a>(
    span: &tracing::Span,
    events: impl IntoIterator<Item = &'a crate::RecordedEvent>,
) {
    let mut linked = std::collections::HashSet::new();
    for event in events {
        if let Some(traceparent) = event.metadata.traceparent.as_deref() {
            if linked.insert(traceparent) {
                if let Some(context) = span_context_of(traceparent) {
                    span.add_link(context);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_parses_and_nonsense_does_not() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = span_context_of(parent).expect("valid");
        assert_eq!(
            context.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(span_context_of("00-nonsense").is_none());
        assert!(span_context_of("").is_none());
        assert_eq!(current_traceparent(), None, "no exporter, no context");
    }
}
