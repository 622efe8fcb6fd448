# Containers must request CPU and memory and set a memory limit, so the scheduler can place
# them and a leak cannot take a node down.
package driftless.resources_required

import data.driftless.lib.kubernetes.main_containers
import data.driftless.lib.kubernetes.name

deny contains msg if {
	some entry in main_containers
	some field in ["requests.cpu", "requests.memory", "limits.memory"]
	[section, resource] := split(field, ".")
	not entry.container.resources[section][resource]
	msg := sprintf("%s: container %s sets no resources.%s", [name, entry.container.name, field])
}
