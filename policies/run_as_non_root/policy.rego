# Pod Security restricted: containers run as a non-root user. runAsNonRoot must be true on the
# pod or on every container, and no runAsUser may be 0.
package driftless.run_as_non_root

import data.driftless.lib.kubernetes

deny contains msg if {
	some entry in kubernetes.containers
	not non_root(entry.container)
	msg := sprintf("%s: container %s must run with runAsNonRoot: true", [kubernetes.name, entry.container.name])
}

deny contains msg if {
	kubernetes.pod_spec.securityContext.runAsUser == 0
	msg := sprintf("%s: the pod runs as user 0 (root)", [kubernetes.name])
}

deny contains msg if {
	some entry in kubernetes.containers
	entry.container.securityContext.runAsUser == 0
	msg := sprintf("%s: container %s runs as user 0 (root)", [kubernetes.name, entry.container.name])
}

non_root(c) if c.securityContext.runAsNonRoot == true

non_root(c) if {
	kubernetes.pod_spec.securityContext.runAsNonRoot == true
	not c.securityContext.runAsNonRoot == false
}
