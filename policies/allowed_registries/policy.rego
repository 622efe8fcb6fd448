# Images come only from the registries the platform trusts (data.json beside this file:
# data.allowed_registries.prefixes).
package driftless.allowed_registries

import data.driftless.lib.kubernetes.containers
import data.driftless.lib.kubernetes.name

deny contains msg if {
	some entry in containers
	image := entry.container.image
	not strings.any_prefix_match(image, data.allowed_registries.prefixes)
	msg := sprintf("%s: container %s image %s is not from an allowed registry (%s)", [name, entry.container.name, image, concat(", ", data.allowed_registries.prefixes)])
}
