package driftless.required_labels_test

import data.driftless.required_labels

test_both_present_allowed if {
	count(required_labels.deny) == 0 with input as {"kind": "Service", "metadata": {"name": "s", "labels": {"app.kubernetes.io/name": "s", "team": "shop"}}}
}

test_missing_team_denied if {
	required_labels.deny == {"Service s: label team is required"} with input as {"kind": "Service", "metadata": {"name": "s", "labels": {"app.kubernetes.io/name": "s"}}}
}

test_other_kinds_ignored if {
	count(required_labels.deny) == 0 with input as {"kind": "ConfigMap", "metadata": {"name": "c"}}
}

test_labels_come_from_data if {
	count(required_labels.deny) == 0 with input as {"kind": "Service", "metadata": {"name": "s", "labels": {"x": "1"}}}
		with data.required_labels.labels as ["x"]
}
