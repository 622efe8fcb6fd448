# Pod Security: baseline allows adding only the default capabilities; restricted requires
# dropping ALL and adding at most NET_BIND_SERVICE. This policy enforces restricted.
package driftless.capabilities

import data.driftless.lib.kubernetes

allowed_add := {"NET_BIND_SERVICE"}

deny contains msg if {
	some entry in kubernetes.containers
	not "ALL" in entry.container.securityContext.capabilities.drop
	msg := sprintf("%s: container %s must drop ALL capabilities", [kubernetes.name, entry.container.name])
}

deny contains msg if {
	some entry in kubernetes.containers
	some cap in entry.container.securityContext.capabilities.add
	not cap in allowed_add
	msg := sprintf("%s: container %s adds capability %s", [kubernetes.name, entry.container.name, cap])
}
