# Images come only from the registries the platform trusts (data.json beside this file:
# data.allowed_registries.prefixes).
package driftless.allowed_registries

import data.driftless.lib.kubernetes

deny contains msg if {
	some entry in kubernetes.containers
	image := entry.container.image
	not strings.any_prefix_match(image, data.allowed_registries.prefixes)
	msg := sprintf("%s: container %s image %s is not from an allowed registry (%s)", [kubernetes.name, entry.container.name, image, concat(", ", data.allowed_registries.prefixes)])
}
