# Pod Security baseline: pods do not share the node's network, PID or IPC namespaces.
package driftless.no_host_namespaces

import data.driftless.lib.kubernetes.name
import data.driftless.lib.kubernetes.pod_spec

deny contains msg if {
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	pod_spec[field] == true
	msg := sprintf("%s: %s is not allowed", [name, field])
}
