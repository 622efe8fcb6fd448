# Pod Security restricted: containers run as a non-root user. runAsNonRoot must be true on the
# pod or on every container, and no runAsUser may be 0.
package driftless.run_as_non_root

import data.driftless.lib.kubernetes.containers
import data.driftless.lib.kubernetes.name
import data.driftless.lib.kubernetes.pod_spec

deny contains msg if {
	some entry in containers
	not non_root(entry.container)
	msg := sprintf("%s: container %s must run with runAsNonRoot: true", [name, entry.container.name])
}

deny contains msg if {
	pod_spec.securityContext.runAsUser == 0
	msg := sprintf("%s: the pod runs as user 0 (root)", [name])
}

deny contains msg if {
	some entry in containers
	entry.container.securityContext.runAsUser == 0
	msg := sprintf("%s: container %s runs as user 0 (root)", [name, entry.container.name])
}

non_root(c) if c.securityContext.runAsNonRoot == true

non_root(c) if {
	pod_spec.securityContext.runAsNonRoot == true
	not c.securityContext.runAsNonRoot == false
}
