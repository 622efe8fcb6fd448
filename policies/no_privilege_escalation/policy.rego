# Pod Security restricted: every container sets allowPrivilegeEscalation: false.
package driftless.no_privilege_escalation

import data.driftless.lib.kubernetes

deny contains msg if {
	some entry in kubernetes.containers
	not entry.container.securityContext.allowPrivilegeEscalation == false
	msg := sprintf("%s: container %s must set securityContext.allowPrivilegeEscalation: false", [kubernetes.name, entry.container.name])
}
