#!/usr/bin/env python3
"""Write the kustomize benchmark input of issue 5: an overlay of N Deployments + N Services.

    make-overlay.py N DIR

DIR/base holds the objects (50 documents per file); DIR/overlay sets namePrefix, namespace,
labels with selectors, images, a JSON 6902 patch on every Deployment and a configMapGenerator
that every Deployment references. Render DIR/overlay with `driftless render` or
`kubectl kustomize`. See docs/benchmarks.md.
"""
import os
import sys

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-{i}
  labels:
    app: web-{i}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web-{i}
  template:
    metadata:
      labels:
        app: web-{i}
    spec:
      containers:
      - name: web
        image: registry.example.com/web:1.{i}
        ports:
        - containerPort: 8080
        envFrom:
        - configMapRef:
            name: settings
        resources:
          requests:
            cpu: 100m
            memory: 64Mi
"""

SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: web-{i}
spec:
  selector:
    app: web-{i}
  ports:
  - name: http
    port: 80
    targetPort: 8080
"""

OVERLAY = """resources:
- ../base
namePrefix: prod-
namespace: production
labels:
- pairs:
    team: shop
    env: prod
  includeSelectors: true
images:
- name: registry.example.com/web
  newName: mirror.example.com/web
  newTag: "2.0"
configMapGenerator:
- name: settings
  literals:
  - LOG_LEVEL=info
  - REGION=eu-west-1
patches:
- target:
    kind: Deployment
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/env
      value:
      - name: ENVIRONMENT
        value: production
    - op: replace
      path: /spec/replicas
      value: 3
"""


def main():
    n, root = int(sys.argv[1]), sys.argv[2]
    base = os.path.join(root, "base")
    overlay = os.path.join(root, "overlay")
    os.makedirs(base, exist_ok=True)
    os.makedirs(overlay, exist_ok=True)
    docs = []
    for i in range(n):
        docs.append(DEPLOYMENT.format(i=i))
        docs.append(SERVICE.format(i=i))
    files = []
    for start in range(0, len(docs), 50):
        name = f"objects-{start // 50:05}.yaml"
        with open(os.path.join(base, name), "w") as f:
            f.write("---\n".join(docs[start:start + 50]))
        files.append(name)
    with open(os.path.join(base, "kustomization.yaml"), "w") as f:
        f.write("resources:\n" + "".join(f"- {name}\n" for name in files))
    with open(os.path.join(overlay, "kustomization.yaml"), "w") as f:
        f.write(OVERLAY)


if __name__ == "__main__":
    main()
