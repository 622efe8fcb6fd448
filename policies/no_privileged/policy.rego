# Pod Security baseline: no privileged containers.
package driftless.no_privileged

import data.driftless.lib.kubernetes

deny contains msg if {
	some entry in kubernetes.containers
	entry.container.securityContext.privileged == true
	msg := sprintf("%s: container %s is privileged", [kubernetes.name, entry.container.name])
}
