# Workloads, Services and Namespaces carry the labels that say what they are and who owns them.
# The required labels are data (data.json beside this file: data.required_labels.labels).
package driftless.required_labels

import data.driftless.lib.kubernetes.name
import data.driftless.lib.kubernetes.workload_kinds

checked_kinds := workload_kinds | {"Pod", "CronJob", "Service", "Namespace"}

deny contains msg if {
	input.kind in checked_kinds
	some label in data.required_labels.labels
	not input.metadata.labels[label]
	msg := sprintf("%s: label %s is required", [name, label])
}
