# Images must be pinned: a tag other than `latest`, or a digest.
package driftless.no_latest_tag

import data.driftless.lib.kubernetes.containers
import data.driftless.lib.kubernetes.name

deny contains msg if {
	some entry in containers
	image := entry.container.image
	not contains(image, "@")
	tag := image_tag(image)
	tag == "latest"
	msg := sprintf("%s: container %s uses the :latest tag (%s)", [name, entry.container.name, image])
}

deny contains msg if {
	some entry in containers
	image := entry.container.image
	not contains(image, "@")
	not image_tag(image)
	msg := sprintf("%s: container %s image %s has no tag (it means :latest)", [name, entry.container.name, image])
}

# The tag: what follows the last ':' after the last '/' (a registry port is not a tag).
image_tag(image) := tag if {
	last := array.reverse(split(image, "/"))[0]
	contains(last, ":")
	tag := split(last, ":")[1]
}
