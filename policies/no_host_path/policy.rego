# Pod Security baseline: no hostPath volumes (they reach into the node's filesystem).
package driftless.no_host_path

import data.driftless.lib.kubernetes.name
import data.driftless.lib.kubernetes.pod_spec

deny contains msg if {
	some volume in pod_spec.volumes
	volume.hostPath
	msg := sprintf("%s: volume %s mounts the host path %s", [name, volume.name, volume.hostPath.path])
}
