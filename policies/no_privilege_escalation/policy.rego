# Pod Security restricted: every container sets allowPrivilegeEscalation: false.
package driftless.no_privilege_escalation

import data.driftless.lib.kubernetes.containers
import data.driftless.lib.kubernetes.name

deny contains msg if {
	some entry in containers
	not entry.container.securityContext.allowPrivilegeEscalation == false
	msg := sprintf("%s: container %s must set securityContext.allowPrivilegeEscalation: false", [name, entry.container.name])
}
