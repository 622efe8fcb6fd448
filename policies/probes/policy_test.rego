package driftless.probes_test

import data.driftless.probes

deploy(c) := {"kind": "Deployment", "metadata": {"name": "d", "namespace": "n"}, "spec": {"template": {"spec": {"containers": [c]}}}}

test_probe_present if count(probes.warn) == 0 with input as deploy({"name": "c", "readinessProbe": {"httpGet": {"path": "/"}}})

test_probe_missing_warns if probes.warn == {"Deployment n/d: container c has no readinessProbe"} with input as deploy({"name": "c"})

test_jobs_ignored if count(probes.warn) == 0 with input as {"kind": "Job", "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}
