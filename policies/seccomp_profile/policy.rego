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

# The container's own profile, else the pod's (null when neither has one). One definition, no
# `else`: see docs/policy.md on the VM.
profile(c) := object.get(c, ["securityContext", "seccompProfile", "type"], pod_profile)

pod_profile := object.get(pod_spec, ["securityContext", "seccompProfile", "type"], null)
