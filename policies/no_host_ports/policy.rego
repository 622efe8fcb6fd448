# Pod Security baseline: containers do not bind ports on the node.
package driftless.no_host_ports

import data.driftless.lib.kubernetes

deny contains msg if {
	some entry in kubernetes.containers
	some port in entry.container.ports
	port.hostPort
	port.hostPort != 0
	msg := sprintf("%s: container %s binds host port %d", [kubernetes.name, entry.container.name, port.hostPort])
}
