# Pod Security: baseline allows adding only the default capabilities; restricted requires
# dropping ALL and adding at most NET_BIND_SERVICE. This policy enforces restricted.
package driftless.capabilities

import data.driftless.lib.kubernetes.containers
import data.driftless.lib.kubernetes.name

allowed_add := {"NET_BIND_SERVICE"}

deny contains msg if {
	some entry in containers
	not "ALL" in entry.container.securityContext.capabilities.drop
	msg := sprintf("%s: container %s must drop ALL capabilities", [name, entry.container.name])
}

deny contains msg if {
	some entry in containers
	some cap in entry.container.securityContext.capabilities.add
	not cap in allowed_add
	msg := sprintf("%s: container %s adds capability %s", [name, entry.container.name, cap])
}
