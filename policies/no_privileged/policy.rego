# Pod Security baseline: no privileged containers.
package driftless.no_privileged

import data.driftless.lib.kubernetes.containers
import data.driftless.lib.kubernetes.name

deny contains msg if {
	some entry in containers
	entry.container.securityContext.privileged == true
	msg := sprintf("%s: container %s is privileged", [name, entry.container.name])
}
