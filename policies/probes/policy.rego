# Long-running workloads declare a readiness probe, so traffic waits until they are ready.
# A warning: it is recorded, and does not block the sync.
package driftless.probes

import data.driftless.lib.kubernetes.name
import data.driftless.lib.kubernetes.pod_spec

long_running := {"Deployment", "StatefulSet", "DaemonSet"}

warn contains msg if {
	input.kind in long_running
	some c in pod_spec.containers
	not c.readinessProbe
	msg := sprintf("%s: container %s has no readinessProbe", [name, c.name])
}
