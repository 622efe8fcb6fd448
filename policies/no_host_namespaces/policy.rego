# Pod Security baseline: pods do not share the node's network, PID or IPC namespaces.
package driftless.no_host_namespaces

import data.driftless.lib.kubernetes

deny contains msg if {
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	kubernetes.pod_spec[field] == true
	msg := sprintf("%s: %s is not allowed", [kubernetes.name, field])
}
