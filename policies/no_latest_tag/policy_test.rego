package driftless.no_latest_tag_test

import data.driftless.no_latest_tag

pod(image) := {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": image}]}}

test_latest_denied if count(no_latest_tag.deny) == 1 with input as pod("nginx:latest")

test_untagged_denied if count(no_latest_tag.deny) == 1 with input as pod("nginx")

test_registry_port_is_not_a_tag if count(no_latest_tag.deny) == 1 with input as pod("registry.local:5000/nginx")

test_pinned_allowed if count(no_latest_tag.deny) == 0 with input as pod("registry.local:5000/nginx:1.27")

test_digest_allowed if count(no_latest_tag.deny) == 0 with input as pod("nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000")
