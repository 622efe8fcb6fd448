# Pod Security restricted: a seccomp profile of RuntimeDefault or Localhost, on the pod or on
# every container; never Unconfined.
package driftless.seccomp_profile

import data.driftless.lib.kubernetes

allowed := {"RuntimeDefault", "Localhost"}

deny contains msg if {
	some entry in kubernetes.containers
	not profile(entry.container) in allowed
	msg := sprintf("%s: container %s needs seccompProfile RuntimeDefault or Localhost", [kubernetes.name, entry.container.name])
}

profile(c) := c.securityContext.seccompProfile.type

profile(c) := kubernetes.pod_spec.securityContext.seccompProfile.type if not c.securityContext.seccompProfile.type
