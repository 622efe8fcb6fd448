//! Kubernetes Events for an app's syncs, so that `kubectl get events -n driftless-system` (and
//! every tool that watches Events) sees what driftless did. An Event is about the app's state
//! ConfigMap `driftless-<app>`: the app's one object in the cluster.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, PostParams};

use crate::{Cluster, ClusterError, STATE_NAMESPACE, validate_app};

/// The longest message kept: the API server refuses longer notes on `events.k8s.io` Events,
/// and a message is a summary, not the record (the ledger has the record).
const MAX_MESSAGE: usize = 1024;

/// `Normal` or `Warning`, as Kubernetes Events have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Something went as asked.
    Normal,
    /// Something needs a person: a refusal, a failure, unhealthy objects.
    Warning,
}

/// One Event about an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppEvent {
    /// Normal or Warning.
    pub event_type: EventType,
    /// A short CamelCase reason, e.g. `Synced`, `SyncRefused`.
    pub reason: String,
    /// What happened, for people (cut at 1,024 bytes).
    pub message: String,
}

impl Cluster {
    /// Record `event` about `app` as a Kubernetes Event in [`STATE_NAMESPACE`]. Returns `false`
    /// without writing anything when that namespace does not exist yet (the app was never
    /// synced: nothing of it is in the cluster to be the Event's subject).
    ///
    /// # Errors
    /// [`ClusterError::InvalidApp`] or a request error.
    pub async fn record_event(&self, app: &str, event: &AppEvent) -> Result<bool, ClusterError> {
        validate_app(app)?;
        let subject = format!("driftless-{app}");
        let now = std::time::SystemTime::now();
        let nanos = now.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
        let time = timestamp(now);
        let body = Event {
            metadata: ObjectMeta {
                // As kubectl and client-go name them: the subject, a dot, a unique suffix.
                name: Some(format!("{subject}.{nanos:x}")),
                namespace: Some(STATE_NAMESPACE.to_owned()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("ConfigMap".into()),
                name: Some(subject.clone()),
                namespace: Some(STATE_NAMESPACE.to_owned()),
                ..ObjectReference::default()
            },
            reason: Some(event.reason.clone()),
            message: Some(truncate(&event.message, MAX_MESSAGE).to_owned()),
            type_: Some(
                match event.event_type {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .into(),
            ),
            source: Some(EventSource { component: Some(crate::FIELD_MANAGER.into()), host: None }),
            reporting_component: Some(crate::FIELD_MANAGER.into()),
            reporting_instance: Some(crate::FIELD_MANAGER.into()),
            action: Some("Sync".into()),
            count: Some(1),
            first_timestamp: Some(Time(time)),
            last_timestamp: Some(Time(time)),
            event_time: Some(MicroTime(time)),
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client().clone(), STATE_NAMESPACE);
        match api.create(&PostParams::default(), &body).await {
            Ok(_) => Ok(true),
            Err(e) if crate::error::is_not_found(&e) => Ok(false),
            Err(e) => Err(self.error(format_args!("v1 Event {STATE_NAMESPACE}/{subject}"), &e)),
        }
    }
}

fn timestamp(now: std::time::SystemTime) -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::try_from(now).unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc");
        // 'é' is two bytes: a cut inside it backs off before it.
        assert_eq!(truncate("aé", 2), "a");
    }
}
