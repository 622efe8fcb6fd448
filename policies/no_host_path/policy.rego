# Pod Security baseline: no hostPath volumes (they reach into the node's filesystem).
package driftless.no_host_path

import data.driftless.lib.kubernetes

deny contains msg if {
	some volume in kubernetes.pod_spec.volumes
	volume.hostPath
	msg := sprintf("%s: volume %s mounts the host path %s", [kubernetes.name, volume.name, volume.hostPath.path])
}
