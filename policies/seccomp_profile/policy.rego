# Pod Security restricted: a seccomp profile of RuntimeDefault or Localhost, on the pod or on
# every container; never Unconfined.
package driftless.seccomp_profile

import data.driftless.lib.kubernetes.containers
import data.driftless.lib.kubernetes.name
import data.driftless.lib.kubernetes.pod_spec

allowed := {"RuntimeDefault", "Localhost"}

deny contains msg if {
	some entry in containers
	not profile(entry.container) in allowed
	msg := sprintf("%s: container %s needs seccompProfile RuntimeDefault or Localhost", [name, entry.container.name])
}

profile(c) := c.securityContext.seccompProfile.type

profile(c) := pod_spec.securityContext.seccompProfile.type if not c.securityContext.seccompProfile.type
