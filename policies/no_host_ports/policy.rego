# Pod Security baseline: containers do not bind ports on the node.
package driftless.no_host_ports

import data.driftless.lib.kubernetes.containers
import data.driftless.lib.kubernetes.name

deny contains msg if {
	some entry in containers
	some port in entry.container.ports
	port.hostPort
	port.hostPort != 0
	msg := sprintf("%s: container %s binds host port %d", [name, entry.container.name, port.hostPort])
}
